//! `alertledger audit keygen|verify|verify-bundle`.

use std::io::Write;
use std::path::Path;

use alertledger_seal::bundle::{
    verify_bundle, BundleFiles, EVENTS_FILE, LEAVES_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE,
};
use alertledger_sealed_log::checkpoint_files;
use alertledger_sealed_log::verify::{verify, ExternalHead, VerifyOptions, VerifyReport};
use anyhow::{bail, Context};

use crate::cli::{AuditArgs, AuditCommand, AuditVerifyArgs, GlobalArgs};
use crate::database::ProvisionedDatabase;
use crate::security::{configured_signing_key, generate_signer, read_public_key};

pub async fn run(global: &GlobalArgs, args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Keygen { out } => keygen(&out),
        AuditCommand::Verify(args) => verify_log(global, args).await,
        AuditCommand::VerifyBundle {
            dir,
            public_key,
            trust_bundle_key,
        } => verify_bundle_dir(&dir, public_key.as_deref(), trust_bundle_key),
    }
}

#[allow(clippy::print_stdout)]
fn keygen(out: &Path) -> anyhow::Result<()> {
    let signer = generate_signer();
    let pem = signer.to_pem().context("cannot encode the key")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(out).with_context(|| {
        format!(
            "cannot create {} (an existing key is never overwritten)",
            out.display()
        )
    })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    let public = signer.public_key();
    println!(
        "wrote the private key to {} (keep it secret; set ALERTLEDGER_SIGNING_KEY to its path)",
        out.display()
    );
    println!("key id {}", public.key_id());
    print!(
        "{}",
        public.to_pem().context("cannot encode the public key")?
    );
    Ok(())
}

async fn verify_log(global: &GlobalArgs, args: AuditVerifyArgs) -> anyhow::Result<()> {
    let mut trusted_keys = args
        .public_keys
        .iter()
        .map(|path| read_public_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(signer) = configured_signing_key(global)? {
        trusted_keys.push(signer.public_key());
    }
    if trusted_keys.is_empty() {
        bail!(
            "no trusted key: pass --public-key FILE (the key published at GET /api/v1/audit/public-key) \
             or set ALERTLEDGER_SIGNING_KEY"
        );
    }
    let tenant = args
        .tenant
        .as_deref()
        .map(|raw| uuid::Uuid::parse_str(raw.trim()).context("--tenant must be a tenant id (UUID)"))
        .transpose()?;
    let external_heads = match &args.checkpoints {
        Some(dir) => checkpoint_files::read_all(dir)
            .with_context(|| format!("cannot read the checkpoint files of {}", dir.display()))?
            .into_iter()
            .map(|file| ExternalHead {
                source: file.path.display().to_string(),
                signed: file.signed,
            })
            .collect(),
        None => Vec::new(),
    };
    if let Some(dir) = &args.checkpoints {
        if external_heads.is_empty() {
            tracing::warn!(directory = %dir.display(), "no checkpoint files found there");
        }
    }
    let database = ProvisionedDatabase::provision(&args.database).await?;
    let result = async {
        let pool = database.connect_tool().await?;
        let started = std::time::Instant::now();
        let report = verify(
            &pool,
            &VerifyOptions {
                tenant,
                trusted_keys,
                external_heads,
                ..VerifyOptions::default()
            },
        )
        .await
        .context("cannot read the sealed log")?;
        pool.close().await;
        print_report(&report, started.elapsed());
        match &report.discrepancy {
            None => Ok(()),
            Some(found) => bail!("audit verification failed at position {}", found.position),
        }
    }
    .await;
    database.shut_down().await;
    result
}

#[allow(clippy::print_stdout)]
fn print_report(report: &VerifyReport, elapsed: std::time::Duration) {
    let scope = match report.tenant {
        Some(tenant) => format!("tenant {tenant}"),
        None => "every tenant".to_owned(),
    };
    match &report.discrepancy {
        None => println!("audit verify: OK ({scope})"),
        Some(found) => println!("audit verify: FAILED ({scope})\nfirst difference: {found}"),
    }
    println!("  leaves checked      {}", report.leaves_checked);
    println!("  events re-hashed    {}", report.events_rehashed);
    println!(
        "  checkpoints checked {} (signature, chain, last position, root)",
        report.checkpoints_checked
    );
    if report.external_heads_checked > 0 {
        println!(
            "  checkpoint files    {} (each matches the tree rebuilt from the events)",
            report.external_heads_checked
        );
    }
    match report.latest_checkpoint {
        Some((size, root)) => println!("  latest checkpoint   tree size {size}, root {root}"),
        None => println!("  latest checkpoint   none yet"),
    }
    if report.discrepancy.is_none() {
        let signed = report.latest_checkpoint.map_or(0, |(size, _)| size);
        println!(
            "  not yet checkpointed {} (sealed after the latest checkpoint: only their sealed leaves vouch for them)",
            report.leaves_checked.saturating_sub(signed)
        );
        println!(
            "  not yet sealed      {} (the sealer's lag)",
            report.unsealed_events
        );
    }
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        report.leaves_checked as f64 / seconds
    } else {
        0.0
    };
    println!("  time                {seconds:.2} s ({rate:.0} leaves/s)");
}

/// Why a bundle is not checked against the key it carries unless asked.
const UNPINNED_REFUSAL: &str = "refusing to trust the bundle's own public key: anyone can \
     re-sign an altered bundle with a key of their own and ship it inside. Pass --public-key FILE \
     (the service's key, saved from GET /api/v1/audit/public-key or kept from `audit keygen`), \
     or --trust-bundle-key to check its consistency only";

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn verify_bundle_dir(
    dir: &Path,
    public_key: Option<&Path>,
    trust_bundle_key: bool,
) -> anyhow::Result<()> {
    if public_key.is_none() && !trust_bundle_key {
        println!("bundle NOT CHECKED: {}", dir.display());
        println!("  {UNPINNED_REFUSAL}");
        bail!("{UNPINNED_REFUSAL}");
    }
    if trust_bundle_key {
        eprintln!(
            "WARNING: checking the bundle against the key it carries (--trust-bundle-key): \
             a pass shows the bundle is self-consistent, NOT that the service signed it. \
             Compare the key id below with GET /api/v1/audit/public-key."
        );
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let files = BundleFiles {
        manifest: read(MANIFEST_FILE)?,
        events: read(EVENTS_FILE)?,
        leaves: read(LEAVES_FILE)?,
        public_key: read(PUBLIC_KEY_FILE)?,
    };
    let pinned = public_key.map(read_public_key).transpose()?;
    match verify_bundle(&files, pinned.as_ref()) {
        Ok(report) => {
            println!("bundle OK: {}", dir.display());
            println!("  tenant              {}", report.tenant_id);
            println!(
                "  events              {} (every event of the tenant in leaves {}..{}, none left out)",
                report.events, report.first_leaf, report.end_leaf
            );
            if let (Some(first), Some(last)) = (report.first_position, report.last_position) {
                println!("  positions           {first} to {last}");
            }
            println!(
                "  checkpoint          tree size {}, root {}",
                report.tree_size, report.root_hash
            );
            println!("  signed by key       {}", report.key_id);
            if pinned.is_none() {
                println!(
                    "  note                UNPINNED: checked against the bundle's own key \
                     (--trust-bundle-key); compare its id with GET /api/v1/audit/public-key"
                );
            }
            Ok(())
        }
        Err(error) => {
            println!("bundle FAILED: {}", dir.display());
            println!("  {error}");
            bail!("the bundle does not verify: {error}")
        }
    }
}
