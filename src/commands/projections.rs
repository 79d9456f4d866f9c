//! `alertledger projections status|rebuild|quarantine`.

use std::sync::Arc;

use alertledger_domain::quarantine::{quarantine_id, ConsumerQuarantine, QuarantineCommand};
use alertledger_domain::values::{Actor, Note, Role, TenantId, UserId};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::quarantine;
use alertledger_eventstore::consumer::rebuild::{
    build_history_all, rebuild_all_live, HistoryOptions, Until,
};
use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::LogConsumer;
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
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
            ProjectionsCommand::Quarantine {
                name,
                position,
                reason,
            } => {
                let operator = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
                quarantine(&pool, &name, position, &reason, &operator)
                    .await
                    .map(|done| print_quarantined(&done))
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
        let error = match (&status.last_error, status.failed_position) {
            (Some(error), Some(at)) => format!("STALLED at position {at}: {error}"),
            (Some(error), None) => format!("STALLED: {error}"),
            (None, _) => "-".to_owned(),
        };
        println!(
            "{:<18} {:>10} {:>12} {:>10} {:>9.3}  {error}",
            status.name,
            status.position,
            status.events_applied,
            status.lag_events,
            status.lag_seconds,
        );
    }
    let quarantined = quarantine::all(pool).await?;
    println!();
    if quarantined.is_empty() {
        println!("quarantined events: none");
    } else {
        println!("quarantined events:");
        println!(
            "{:<18} {:>10}  {:<40} {:<24} {:<20} {:<25} reason",
            "consumer", "position", "event", "type", "by", "at"
        );
        for q in quarantined {
            println!(
                "{:<18} {:>10}  {:<40} {:<24} {:<20} {:<25} {}",
                q.consumer,
                q.position,
                q.event_id,
                q.event_type,
                q.actor,
                q.recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                q.reason.escape_debug()
            );
        }
    }
    Ok(())
}

/// What a quarantine recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineDone {
    pub consumer: String,
    pub position: i64,
    pub event_id: String,
    pub event_type: String,
}

#[allow(clippy::print_stdout)]
fn print_quarantined(done: &QuarantineDone) {
    println!(
        "{} will pass over the event at position {} ({} {}); recorded in the audit trail",
        done.consumer, done.position, done.event_type, done.event_id
    );
}

/// Records that consumer `name` passes over the event at `position` (an
/// audited `ConsumerEventQuarantined` event by `cli:<operator>`). Refuses an
/// unknown consumer, a position with no event, an event of a type the
/// consumer never reads, an empty reason, and a second quarantine of the
/// same event for the same consumer.
pub async fn quarantine(
    pool: &PgPool,
    name: &str,
    position: i64,
    reason: &str,
    operator: &str,
) -> anyhow::Result<QuarantineDone> {
    let all = consumers(DomainServices::system(), DEFAULT_APPROVAL_TTL);
    let consumer = all
        .iter()
        .find(|consumer| consumer.name() == name)
        .with_context(|| format!("no projection or worker is named {name:?}"))?;
    let reason = Note::parse(reason).context("--reason")?;
    let row: Option<(String, String, i64, String, uuid::Uuid)> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, tenant_id
           FROM events WHERE position = $1",
    )
    .bind(position)
    .fetch_optional(pool)
    .await?;
    let (aggregate_type, aggregate_id, sequence, event_type, tenant) =
        row.with_context(|| format!("no event has position {position}"))?;
    if let Some(types) = consumer.event_types() {
        anyhow::ensure!(
            types.contains(&event_type.as_str()),
            "{name} does not read {event_type} events: there is nothing to quarantine"
        );
    }
    let user = format!("cli:{operator}");
    let actor = Actor::new(UserId::parse(&user)?, operator, Role::MspAdmin);
    let event_id = format!("{aggregate_type}/{aggregate_id}#{sequence}");
    let store: AggregateStore<ConsumerQuarantine> = AggregateStore::new(
        pool.clone(),
        DomainServices::system(),
        LogSignal::start(pool.clone()),
    );
    store
        .execute(
            &quarantine_id(name, position),
            QuarantineCommand::QuarantineEvent {
                tenant_id: TenantId::from_uuid(tenant),
                consumer: name.to_owned(),
                position,
                event_id: event_id.clone(),
                event_type: event_type.clone(),
                reason,
                actor,
            },
            EventMetadata::by(user),
        )
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    tracing::warn!(
        consumer = name,
        position,
        %event_type,
        "event quarantined: the consumer passes over it"
    );
    Ok(QuarantineDone {
        consumer: name.to_owned(),
        position,
        event_id,
        event_type,
    })
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
