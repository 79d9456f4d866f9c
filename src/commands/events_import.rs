//! `alertledger events import DIR`: a bundle written by `events export`
//! (another installation's) into this one's database, after verifying it
//! exactly as `audit verify-bundle` does. The rules are
//! `alertledger_sealed_log::import`'s; docs/audit-bundle.md tells operators.

use alertledger_seal::bundle::{
    BundleFiles, EVENTS_FILE, LEAVES_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE,
};
use alertledger_sealed_log::import::import;
use anyhow::{bail, Context};

use crate::cli::ImportArgs;
use crate::database::ProvisionedDatabase;
use crate::security::read_public_key;

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    if args.public_key.is_none() && !args.trust_bundle_key {
        bail!(
            "refusing to import an unpinned bundle: pass --public-key FILE (the exporting \
             service's key, from its GET /api/v1/audit/public-key), or --trust-bundle-key to \
             accept the key the bundle carries"
        );
    }
    if args.trust_bundle_key {
        eprintln!(
            "WARNING: checking the bundle against the key it carries (--trust-bundle-key): \
             this shows it is self-consistent, NOT that the exporting service signed it."
        );
    }
    let read = |name: &str| {
        let path = args.dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let files = BundleFiles {
        manifest: read(MANIFEST_FILE)?,
        events: read(EVENTS_FILE)?,
        leaves: read(LEAVES_FILE)?,
        public_key: read(PUBLIC_KEY_FILE)?,
    };
    let pinned = args
        .public_key
        .as_deref()
        .map(read_public_key)
        .transpose()?;
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        let pool = database.connect_tool().await?;
        let started = std::time::Instant::now();
        let report = import(&pool, &files, pinned.as_ref()).await;
        pool.close().await;
        let report =
            report.with_context(|| format!("nothing imported from {}", args.dir.display()))?;
        println!(
            "imported bundle {} (tenant {}, checkpoint tree size {}, key {})",
            args.dir.display(),
            report.tenant_id,
            report.source_tree_size,
            report.source_key_id
        );
        println!("  events in bundle    {}", report.events);
        println!("  written             {}", report.written);
        println!(
            "  already present     {} (same id and content: skipped)",
            report.present
        );
        if let (Some(first), Some(last)) = (report.first_position, report.last_position) {
            println!("  positions here      {first} to {last} (in bundle order)");
        }
        println!(
            "  time                {:.2} s",
            started.elapsed().as_secs_f64()
        );
        anyhow::Ok(())
    }
    .await;
    database.shut_down().await;
    result
}
