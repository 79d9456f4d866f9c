//! `alertledger events export|import|tail`: one tenant's audit bundle out
//! of the database and into another one (`events_import`), and the live
//! feed followed over HTTP.

use alertledger_seal::bundle::{EVENTS_FILE, LEAVES_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE};
use alertledger_sealed_log::export::export;
use anyhow::Context;

use crate::cli::{EventsArgs, EventsCommand, ExportArgs, GlobalArgs, OutputFormat, TailArgs};
use crate::client::sse::{self, Next, SseFrame};
use crate::client::{output, table, ApiClient, ClientError};
use crate::database::ProvisionedDatabase;
use crate::security::configured_signing_key;

pub async fn run(global: &GlobalArgs, args: EventsArgs) -> anyhow::Result<()> {
    match args.command {
        EventsCommand::Export(args) => export_bundle(global, args).await,
        EventsCommand::Import(args) => super::events_import::run(args).await,
        EventsCommand::Tail(args) => Ok(tail(args).await?),
    }
}

/// `events tail`: every event of the feed as it arrives, one line each
/// (`--output json`: the event's JSON as the stream carries it).
async fn tail(args: TailArgs) -> Result<(), ClientError> {
    let client = ApiClient::new(&args.client)?;
    let mut query = Vec::new();
    if let Some(tenant) = args.tenant {
        query.push(("tenant", tenant.to_string()));
    }
    if let Some(types) = args.types {
        query.push(("types", types));
    }
    if client.output == OutputFormat::Table {
        output::write(&format!(
            "{:>10}  {:<20}  {:<30}  {:<36}  AGGREGATE\n",
            "POSITION", "AT", "EVENT", "TENANT"
        ))?;
    }
    let mut printed = 0_u64;
    sse::follow(&client, &query, args.after, |frame| {
        print_event(client.output, frame)?;
        printed += 1;
        Ok(match args.max_events {
            Some(max) if printed >= max => Next::Stop,
            _ => Next::More,
        })
    })
    .await
}

fn print_event(format: OutputFormat, frame: &SseFrame) -> Result<(), ClientError> {
    match format {
        OutputFormat::Json => output::write(&format!("{}\n", frame.data)),
        OutputFormat::Table => {
            let event: serde_json::Value = serde_json::from_str(&frame.data).unwrap_or_default();
            let position = frame
                .id
                .clone()
                .unwrap_or_else(|| table::cell(&event, "position"));
            output::write(&format!(
                "{:>10}  {:<20}  {:<30}  {:<36}  {}/{}\n",
                position,
                table::cell(&event, "at"),
                frame.event,
                table::cell(&event, "tenant_id"),
                table::cell(&event, "aggregate_type"),
                table::cell(&event, "aggregate_id"),
            ))
        }
    }
}

#[allow(clippy::print_stdout)]
async fn export_bundle(global: &GlobalArgs, args: ExportArgs) -> anyhow::Result<()> {
    let tenant =
        uuid::Uuid::parse_str(args.tenant.trim()).context("--tenant must be a tenant id (UUID)")?;
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let parts = async {
        let pool = database.connect_tool().await?;
        let parts = export(&pool, tenant, args.from, args.to).await;
        pool.close().await;
        anyhow::Ok(parts?)
    }
    .await;
    database.shut_down().await;
    let parts = parts?;
    if let Some(signer) = configured_signing_key(global)? {
        if signer.public_key() != parts.public_key {
            tracing::warn!(
                checkpoint_key = %parts.checkpoint.key_id,
                configured_key = %signer.public_key().key_id(),
                "the checkpoint was signed by another key than ALERTLEDGER_SIGNING_KEY's (rotated?)"
            );
        }
    }
    let files = parts.to_files().context("cannot encode the bundle")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (name, text) in [
        (MANIFEST_FILE, &files.manifest),
        (EVENTS_FILE, &files.events),
        (LEAVES_FILE, &files.leaves),
        (PUBLIC_KEY_FILE, &files.public_key),
    ] {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "exported {} events of tenant {tenant} (leaves {}..{}) with proofs against the checkpoint of tree size {} to {}",
        parts.events.len(),
        parts.first_leaf,
        parts.end_leaf,
        parts.checkpoint.checkpoint.tree_size,
        args.out.display()
    );
    println!(
        "check it offline with: alertledger audit verify-bundle {} --public-key FILE \
         (FILE: the service's key, saved from GET /api/v1/audit/public-key)",
        args.out.display()
    );
    Ok(())
}
