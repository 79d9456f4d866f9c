//! `alertledger projections status|rebuild`.

use std::sync::Arc;

use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::rebuild::{
    build_history_all, rebuild_all_live, HistoryOptions, Until,
};
use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::LogConsumer;
use alertledger_workers::remediation::DEFAULT_APPROVAL_TTL;
use anyhow::Context;
use sqlx::PgPool;

use crate::cli::{ProjectionsArgs, ProjectionsCommand};
use crate::database::ProvisionedDatabase;
use crate::startup::consumers;

pub async fn run(args: ProjectionsArgs) -> anyhow::Result<()> {
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        let pool = database.connect_tool().await?;
        let outcome = match args.command {
            ProjectionsCommand::Status => status(&pool).await,
            ProjectionsCommand::Rebuild { name, until, into } => {
                rebuild(&pool, name.as_deref(), until, into).await
            }
        };
        pool.close().await;
        outcome
    }
    .await;
    database.shut_down().await;
    result
}

#[allow(clippy::print_stdout)]
async fn status(pool: &PgPool) -> anyhow::Result<()> {
    let all = consumers(DomainServices::system(), DEFAULT_APPROVAL_TTL);
    let names: Vec<&str> = all.iter().map(|consumer| consumer.name()).collect();
    println!(
        "{:<18} {:>10} {:>12} {:>10} {:>9}  last error",
        "projector", "position", "applied", "lag", "lag (s)"
    );
    for status in statuses(pool, &names).await? {
        println!(
            "{:<18} {:>10} {:>12} {:>10} {:>9.3}  {}",
            status.name,
            status.position,
            status.events_applied,
            status.lag_events,
            status.lag_seconds,
            status.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
async fn rebuild(
    pool: &PgPool,
    name: Option<&str>,
    until: Option<Until>,
    into: Option<String>,
) -> anyhow::Result<()> {
    let all = consumers(DomainServices::system(), DEFAULT_APPROVAL_TTL);
    let chosen: Vec<Arc<dyn LogConsumer>> = match name {
        Some(name) => {
            let found = all
                .into_iter()
                .find(|projection| projection.name() == name)
                .with_context(|| format!("no projection is named {name:?}"))?;
            anyhow::ensure!(
                found.rebuildable(),
                "{name} records decisions as events and cannot be rebuilt"
            );
            vec![found]
        }
        None => all.into_iter().filter(|p| p.rebuildable()).collect(),
    };
    // One pass over the log builds every chosen projection.
    let reports = match until {
        None => rebuild_all_live(pool, chosen, None).await?,
        Some(until) => {
            let schema = into.unwrap_or_else(|| history_schema(until));
            let options = HistoryOptions {
                until: Some(until),
                ..HistoryOptions::default()
            };
            build_history_all(pool, chosen, &schema, &options).await?
        }
    };
    for report in reports {
        let seconds = report.elapsed.as_secs_f64();
        println!(
            "{}: {} events in {:.2} s ({:.0} events/s) into schema {}, up to position {}",
            report.projection,
            report.events,
            seconds,
            report.events as f64 / seconds.max(f64::EPSILON),
            report.schema,
            report.last_position
        );
    }
    Ok(())
}

/// `history_<position>` or `history_<yyyymmddThhmmss>`.
fn history_schema(until: Until) -> String {
    match until {
        Until::Position(position) => format!("history_{position}"),
        Until::Time(time) => format!("history_{}", time.format("%Y%m%dt%H%M%S")),
    }
}
