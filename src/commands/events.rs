//! `alertledger events export`: one tenant's audit bundle.

use alertledger_seal::bundle::{EVENTS_FILE, LEAVES_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE};
use alertledger_sealed_log::export::export;
use anyhow::Context;

use crate::cli::{EventsArgs, EventsCommand, ExportArgs, GlobalArgs};
use crate::database::ProvisionedDatabase;
use crate::security::configured_signing_key;

pub async fn run(global: &GlobalArgs, args: EventsArgs) -> anyhow::Result<()> {
    match args.command {
        EventsCommand::Export(args) => export_bundle(global, args).await,
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
