//! The command line. Every flag can also come from an environment variable
//! (`ALERTLEDGER_<FLAG>`, plus `DATABASE_URL`), as API.md fixes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alertledger_api::edge::{CorsOrigins, TrustedProxies};
use alertledger_platform::config::Environment;
use alertledger_platform::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "alertledger",
    version,
    about = "Event-sourced alert operations for managed service providers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Run the service with a demo tenant, users and a steady synthetic alert stream.
    Demo(DemoArgs),
    /// Apply database migrations and exit (run with the owner's DATABASE_URL);
    /// with --service-role, also create or update the service's login role.
    Migrate(MigrateArgs),
    /// Issue tokens for people and dashboards.
    Token(TokenArgs),
    /// Administer tenants directly in the database.
    Tenant(TenantArgs),
    /// Inspect and rebuild projections (the read models and workers' positions).
    Projections(ProjectionsArgs),
    /// The tamper-evident seal: signing keys, verification, bundles.
    Audit(AuditArgs),
    /// The event log: export or import an audit bundle (database), or
    /// follow the live feed over HTTP (`tail`).
    Events(EventsArgs),
    /// Incidents over HTTP: list, show, ack, assign, comment, resolve, reopen.
    Incidents(IncidentsArgs),
    /// Alerts over HTTP: list, show, ack.
    Alerts(AlertsArgs),
    /// Runbook approvals over HTTP: list, approve, reject.
    Approvals(ApprovalsArgs),
    /// Runbooks over HTTP: list, execute.
    Runbooks(RunbooksArgs),
}

/// How an operator command reaches the API (never the database).
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The alertledger to talk to (its base URL).
    #[arg(
        long,
        env = "ALERTLEDGER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// A bearer JWT (`alertledger token issue`, or `POST /api/v1/auth/login`).
    #[arg(long, env = "ALERTLEDGER_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// `table` (aligned columns of the useful fields) or `json` (the API's
    /// body as it is).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// A PEM CA certificate to trust besides the system's (a self-signed
    /// ALERTLEDGER_TLS_CERT).
    #[arg(long, env = "ALERTLEDGER_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

/// Filters and paging shared by the list commands.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// Only this tenant (default: every tenant the token may read).
    #[arg(long)]
    pub tenant: Option<uuid::Uuid>,
    /// Page size (1 to 500; the server's default is 50).
    #[arg(long)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// Incidents, newest first (or by priority).
    List {
        /// new, acknowledged, in_progress, escalated or resolved.
        #[arg(long)]
        status: Option<String>,
        /// critical, high, medium or low.
        #[arg(long)]
        severity: Option<String>,
        /// newest (default) or priority.
        #[arg(long)]
        sort: Option<String>,
        /// Only incidents assigned to this user id, or `me` (the token's user).
        #[arg(long)]
        assignee: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One incident with its alerts and timeline.
    Show { id: uuid::Uuid },
    /// Acknowledge: someone is looking at it.
    Ack { id: uuid::Uuid },
    /// Hand it to a person.
    Assign { id: uuid::Uuid, assignee: String },
    /// Add a comment to its timeline.
    Comment { id: uuid::Uuid, text: String },
    /// Resolve it.
    Resolve {
        id: uuid::Uuid,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reopen a resolved incident.
    Reopen {
        id: uuid::Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Escalate it.
    Escalate { id: uuid::Uuid, reason: String },
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Alerts, newest first.
    List {
        /// firing, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        /// critical, high, medium or low.
        #[arg(long)]
        severity: Option<String>,
        /// An asset name.
        #[arg(long)]
        asset: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One alert.
    Show { id: uuid::Uuid },
    /// Acknowledge it.
    Ack {
        id: uuid::Uuid,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Approval requests.
    List {
        /// pending, granted, rejected or expired (default: every status).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Approve: the runbook runs (nobody approves their own request).
    Approve {
        id: uuid::Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject: the runbook does not run.
    Reject {
        id: uuid::Uuid,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct RunbooksArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: RunbooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunbooksCommand {
    /// Runbooks.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Run a runbook for an incident (or ask for approval when its risk needs one).
    Execute {
        id: uuid::Uuid,
        /// The incident it remediates.
        #[arg(long)]
        incident: uuid::Uuid,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Create an Ed25519 signing key for checkpoints (PKCS#8 PEM, mode 0600);
    /// prints its public key. Point ALERTLEDGER_SIGNING_KEY at the file.
    Keygen {
        /// Where to write the private key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Recompute every sealed leaf from the stored events, rebuild the tree and
    /// check every checkpoint; prints OK or the first position that differs
    /// (exit status 1).
    Verify(AuditVerifyArgs),
    /// Check an exported bundle offline (no database).
    VerifyBundle {
        /// The bundle directory.
        dir: PathBuf,
        /// Require the bundle to be signed by this key (SPKI PEM file, e.g.
        /// saved from GET /api/v1/audit/public-key). Without it (or
        /// --trust-bundle-key) the bundle is refused: anyone can re-sign a
        /// forged bundle with a key of their own and ship that key inside.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Check the bundle against the key it carries (prints a warning: this
        /// proves the bundle is consistent, not that the service signed it).
        #[arg(long, conflicts_with = "public_key")]
        trust_bundle_key: bool,
    },
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Re-hash only this tenant's events (positions of all are still checked).
    #[arg(long)]
    pub tenant: Option<String>,
    /// A trusted checkpoint key (SPKI PEM file); repeat for rotated keys. The
    /// key of ALERTLEDGER_SIGNING_KEY is trusted too.
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// A directory of checkpoint files (what `serve` wrote to
    /// ALERTLEDGER_CHECKPOINT_DIR): each file's signed tree head must match
    /// the tree rebuilt from the events; one that does not is named.
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Write one tenant's events with their proofs as an audit bundle
    /// (docs/audit-bundle.md), checkable with `audit verify-bundle`.
    Export(ExportArgs),
    /// Load a bundle written by `export` into this installation, after
    /// verifying it (docs/audit-bundle.md, "Importing a bundle").
    Import(ImportArgs),
    /// Follow the live feed over HTTP, resuming after a disconnect.
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The bundle directory.
    pub dir: PathBuf,
    /// The exporting service's checkpoint key (SPKI PEM): the bundle must be
    /// signed by it.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Check the bundle against the key it carries instead (consistency only:
    /// anyone can sign a forged bundle with a key of their own).
    #[arg(long, conflicts_with = "public_key")]
    pub trust_bundle_key: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Start after this position (default: from now on).
    #[arg(long)]
    pub after: Option<i64>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<uuid::Uuid>,
    /// Comma-separated event types or feed kinds (e.g. AlertReceived,new_alert).
    #[arg(long)]
    pub types: Option<String>,
    /// Stop after this many events (default: follow until interrupted).
    #[arg(long)]
    pub max_events: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The tenant's id.
    #[arg(long)]
    pub tenant: String,
    /// First event: a log position or an RFC 3339 time (default: the start).
    #[arg(long)]
    pub from: Option<alertledger_sealed_log::export::RangeBound>,
    /// Last event: a log position or an RFC 3339 time (default: the latest checkpoint).
    #[arg(long)]
    pub to: Option<alertledger_sealed_log::export::RangeBound>,
    /// The bundle directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ProjectionsArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: ProjectionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Position, lag and last error of every projector and worker.
    Status,
    /// Rebuild read models from the log into shadow tables and swap them in
    /// atomically (all of them, or NAME); with --until, build history as it
    /// stood then into a schema of its own instead.
    Rebuild {
        /// One projection (default: every rebuildable one).
        name: Option<String>,
        /// A log position or an RFC 3339 time: build history up to it.
        #[arg(long)]
        until: Option<alertledger_eventstore::consumer::rebuild::Until>,
        /// Schema for --until results (default: history_<position or time>).
        #[arg(long, requires = "until")]
        into: Option<String>,
    },
    /// Let consumer NAME pass over the one event at --position that it cannot
    /// apply. Recorded as an audited event (who, why); `status` lists it and
    /// rebuilds skip it too. Nothing else is ever skipped.
    Quarantine {
        /// The consumer (a projection or worker, as `status` names it).
        name: String,
        /// Log position of the event.
        #[arg(long)]
        position: i64,
        /// Why it is skipped (kept in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: TenantCommand,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Register a tenant; prints its id.
    Create {
        #[arg(long)]
        name: String,
        /// Unique short name: lowercase letters, digits and dashes.
        #[arg(long)]
        slug: String,
    },
    /// Issue an API key for webhooks; prints it once.
    ApiKey {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// Add a webhook signing secret; prints it once (needs ALERTLEDGER_MASTER_KEY).
    Secret {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
}

/// Settings every command shares.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file, under the environment and flags (keys: the
    /// variables in lower case without ALERTLEDGER_; docs/configuration.md).
    #[arg(long, env = "ALERTLEDGER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// `development` (invents missing secrets, loudly) or `production` (refuses to).
    #[arg(long = "env", env = "ALERTLEDGER_ENV", default_value = "development", value_parser = Environment::parse, global = true)]
    pub environment: Environment,
    /// Log lines as `pretty` text or `json` (default: json in production).
    #[arg(long, env = "ALERTLEDGER_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormatArg>,
    /// HS256 secret for JWTs (at least 32 bytes).
    #[arg(
        long,
        env = "ALERTLEDGER_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// PEM public key file for RS256/EdDSA JWTs (instead of a secret).
    #[arg(long, env = "ALERTLEDGER_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,
    /// Base64 of 32 bytes: encrypts webhook signing secrets at rest.
    #[arg(
        long,
        env = "ALERTLEDGER_MASTER_KEY",
        hide_env_values = true,
        global = true
    )]
    pub master_key: Option<String>,
    /// Ed25519 private key file (PKCS#8 PEM) that signs audit checkpoints
    /// (`alertledger audit keygen` makes one).
    #[arg(long, env = "ALERTLEDGER_SIGNING_KEY", global = true)]
    pub signing_key: Option<PathBuf>,
    /// Expected `iss` of tokens.
    #[arg(
        long,
        env = "ALERTLEDGER_JWT_ISSUER",
        default_value = "alertledger",
        global = true
    )]
    pub jwt_issuer: String,
    /// Longest token lifetime accepted (`exp - iat`): seconds, or 15m, 12h, 7d.
    /// Unset: no limit beyond `exp`.
    #[arg(long, env = "ALERTLEDGER_JWT_MAX_LIFETIME", value_parser = alertledger_api::auth::jwt::parse_lifetime, global = true)]
    pub jwt_max_lifetime: Option<std::time::Duration>,
    /// Expected `aud` of tokens.
    #[arg(
        long,
        env = "ALERTLEDGER_JWT_AUDIENCE",
        default_value = "alertledger",
        global = true
    )]
    pub jwt_audience: String,
}

impl GlobalArgs {
    pub fn log_format(&self) -> LogFormat {
        match self.log_format {
            Some(LogFormatArg::Json) => LogFormat::Json,
            Some(LogFormatArg::Pretty) => LogFormat::Pretty,
            None if self.environment.is_production() => LogFormat::Json,
            None => LogFormat::Pretty,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Create (or update) this login role for `serve`: a member of the group
    /// role `alertledger_service`, which owns nothing and may only append to
    /// the event log and the seal (API.md "Database roles").
    #[arg(long, env = "ALERTLEDGER_SERVICE_ROLE")]
    pub service_role: Option<String>,
    /// The service role's password (unset: the role's password is left as it is).
    #[arg(
        long,
        alias = "service-password",
        env = "ALERTLEDGER_SERVICE_ROLE_PASSWORD",
        hide_env_values = true,
        requires = "service_role"
    )]
    pub service_role_password: Option<String>,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL: for `serve`, the service's own role (see `migrate
    /// --service-role`); for `migrate`, the owner's. Unset: PostgreSQL on
    /// localhost:5432, else an embedded one (both roles set up automatically).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The owner's URL: `serve` applies migrations with it before connecting
    /// as DATABASE_URL; `migrate` and `projections rebuild` use it instead of
    /// DATABASE_URL.
    #[arg(long, env = "ALERTLEDGER_OWNER_DATABASE_URL", hide_env_values = true)]
    pub owner_database_url: Option<String>,
    /// Always run an embedded PostgreSQL, even if DATABASE_URL is set or a server answers.
    #[arg(long, env = "ALERTLEDGER_EMBEDDED_DB")]
    pub embedded_db: bool,
    /// Where the embedded PostgreSQL keeps its data.
    #[arg(long, env = "ALERTLEDGER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Directory of the PostgreSQL server binaries (initdb, postgres) for embedded mode.
    #[arg(long, env = "ALERTLEDGER_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Database name used on a server found on localhost or started embedded.
    #[arg(long, env = "ALERTLEDGER_DATABASE_NAME", default_value = "alertledger")]
    pub database_name: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, env = "ALERTLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Let notification channels use plain `http://` URLs to loopback hosts
    /// (a local relay, tests); otherwise every channel URL must be https.
    #[arg(
        long,
        env = "ALERTLEDGER_NOTIFY_ALLOW_LOOPBACK_HTTP",
        default_value_t = false
    )]
    pub notify_allow_loopback_http: bool,
    /// Storm coalescing of notifications: per incident and channel, at most
    /// one message per this many seconds; what comes in between is sent as
    /// the digest of the next message (PagerDuty channels are not coalesced).
    #[arg(
        long,
        env = "ALERTLEDGER_NOTIFY_COALESCE_SECONDS",
        default_value_t = 60
    )]
    pub notify_coalesce_seconds: u64,
    /// The service's public address (e.g. https://alertledger.example.com),
    /// for "open incident" links in notifications; unset: no link.
    #[arg(long, env = "ALERTLEDGER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Bearer token `GET /metrics` requires (unset: /metrics is open).
    #[arg(long, env = "ALERTLEDGER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Lifetime of the access JWTs `POST /api/v1/auth/login` and `/refresh`
    /// hand out, e.g. 15m (revoked ones are refused sooner, see docs/users.md).
    #[arg(long, env = "ALERTLEDGER_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_ttl)]
    pub access_token_ttl: Duration,
    /// How long a sign-in session (its rotating refresh tokens) lasts, e.g. 7d;
    /// refreshing never extends it.
    #[arg(long, env = "ALERTLEDGER_SESSION_TTL", default_value = "7d", value_parser = parse_ttl)]
    pub session_ttl: Duration,
    /// PEM file with the AWS SNS signing certificate(s): CloudWatch deliveries
    /// must then carry a valid SNS signature (the SigningCertURL is never fetched).
    #[arg(long, env = "ALERTLEDGER_SNS_SIGNING_CERT")]
    pub sns_signing_cert: Option<PathBuf>,
    /// Most alerts one webhook delivery may carry (more: 413 naming the limit).
    #[arg(long, env = "ALERTLEDGER_MAX_ALERTS_PER_DELIVERY", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_alerts_per_delivery: u32,
    /// Seconds between heartbeats on idle live-feed connections (SSE comments,
    /// WebSocket pings).
    #[arg(long, env = "ALERTLEDGER_FEED_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub feed_heartbeat_secs: u64,
    /// Log batches a live-feed client may fall behind before it is told to
    /// resync and dropped.
    #[arg(long, env = "ALERTLEDGER_FEED_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub feed_buffer: u64,
    /// Events per database read while a live-feed client catches up after a
    /// resume (each resuming client holds up to three such reads in memory).
    #[arg(long, env = "ALERTLEDGER_FEED_HISTORY_BATCH", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub feed_history_batch: u64,
    /// Bytes of events (payload and metadata) per database read while a
    /// live-feed client catches up, whatever their count (at least one event
    /// per read): bounds a resuming client's memory to about three times this.
    #[arg(long, env = "ALERTLEDGER_FEED_HISTORY_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub feed_history_bytes: u64,
    /// Live streams (SSE and WebSocket together) one user (token `sub`) may
    /// hold open at once in this process; one more is a 429.
    #[arg(long, env = "ALERTLEDGER_FEED_STREAMS_PER_USER", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub feed_streams_per_user: u64,
    /// Live streams that may follow one tenant at once in this process
    /// (streams over every tenant share one such count); one more is a 429.
    #[arg(long, env = "ALERTLEDGER_FEED_STREAMS_PER_TENANT", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub feed_streams_per_tenant: u64,
    /// Browser origins allowed to call the API and open the event stream,
    /// comma-separated (e.g. https://ops.example.com); unset: CORS off.
    #[arg(long, env = "ALERTLEDGER_CORS_ORIGINS")]
    pub cors_origins: Option<CorsOrigins>,
    /// Proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For
    /// names the client; unset: the TCP peer is the client.
    #[arg(long, env = "ALERTLEDGER_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<TrustedProxies>,
    /// Directory that receives a copy of every signed audit checkpoint (one
    /// JSON file each, docs/audit-bundle.md), outside the database's reach;
    /// `audit verify --checkpoints DIR` checks the log against them.
    #[arg(long, env = "ALERTLEDGER_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// PEM certificate chain for native TLS (with --tls-key); reloaded when
    /// the file changes.
    #[arg(long, env = "ALERTLEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for native TLS (with --tls-cert).
    #[arg(long, env = "ALERTLEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the TLS files for a new certificate.
    #[arg(long, env = "ALERTLEDGER_TLS_RELOAD_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub tls_reload_secs: u64,
    /// Seconds a client may take from a request's first byte to the end of
    /// its headers (slow-loris); the connection is closed beyond.
    #[arg(long, env = "ALERTLEDGER_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,
    /// Seconds a request body may take to arrive in full after the headers.
    #[arg(long, env = "ALERTLEDGER_BODY_READ_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_read_timeout_secs: u64,
    /// Seconds a connection may wait for its next request (keep-alive, or a
    /// new connection's first) before it is closed.
    #[arg(long, env = "ALERTLEDGER_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Seconds a TLS client may take to finish its handshake.
    #[arg(long, env = "ALERTLEDGER_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tls_handshake_timeout_secs: u64,
    /// Connections served at once (live feeds included); further clients
    /// wait in the kernel's accept queue until one closes.
    #[arg(long, env = "ALERTLEDGER_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Failed authentications (401) a client address may have per minute,
    /// sustained; beyond, its requests are refused 429 (0: no limit).
    #[arg(
        long,
        env = "ALERTLEDGER_AUTH_FAILURES_PER_MINUTE",
        default_value_t = 60
    )]
    pub auth_failures_per_minute: u32,
    /// Failed authentications a client address may have at once.
    #[arg(long, env = "ALERTLEDGER_AUTH_FAILURE_BURST", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failure_burst: u32,
    /// PEM private key (Ed25519 or RSA) that signs sign-ins' access tokens
    /// when ALERTLEDGER_JWT_PUBLIC_KEY (its public half) verifies tokens;
    /// without it such a process only verifies, and sign-in answers 503.
    #[arg(long, env = "ALERTLEDGER_JWT_PRIVATE_KEY")]
    pub jwt_private_key: Option<PathBuf>,
    #[command(flatten)]
    pub remediation: RemediationArgs,
    #[command(flatten)]
    pub oidc: OidcArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Single sign-on with an OpenID Connect provider (docs/single-sign-on.md).
/// Off unless `ALERTLEDGER_OIDC_ISSUER` is set.
#[derive(Debug, Clone, Args)]
pub struct OidcArgs {
    /// The identity provider's issuer URL, exactly as its tokens' `iss`
    /// (e.g. https://login.microsoftonline.com/<tenant id>/v2.0).
    #[arg(long, env = "ALERTLEDGER_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// This service's client (application) id at the provider.
    #[arg(long, env = "ALERTLEDGER_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret (also ALERTLEDGER_OIDC_CLIENT_SECRET_FILE).
    #[arg(long, env = "ALERTLEDGER_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Where the provider sends the browser back: this service's
    /// /api/v1/auth/oidc/callback as browsers reach it.
    #[arg(long, env = "ALERTLEDGER_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// Scopes asked for at sign-in, space- or comma-separated (openid is
    /// always added).
    #[arg(
        long,
        env = "ALERTLEDGER_OIDC_SCOPES",
        default_value = "openid email profile"
    )]
    pub oidc_scopes: String,
    /// `aud` values accepted on the provider's access tokens sent to the API
    /// (comma-separated; default: the client id).
    #[arg(long, env = "ALERTLEDGER_OIDC_AUDIENCES")]
    pub oidc_audiences: Option<String>,
    /// The claim holding roles (a dotted path reaches into objects).
    #[arg(long, env = "ALERTLEDGER_OIDC_ROLE_CLAIM", default_value = "roles")]
    pub oidc_role_claim: String,
    /// `claim value=role,...` (roles: msp_admin, tenant_admin, technician,
    /// viewer). Unset: the claim's values must be those role names.
    #[arg(long, env = "ALERTLEDGER_OIDC_ROLE_MAP")]
    pub oidc_role_map: Option<String>,
    /// The claim holding tenants (e.g. `groups`, or Entra ID's `tid`).
    #[arg(
        long,
        env = "ALERTLEDGER_OIDC_TENANTS_CLAIM",
        default_value = "tenants"
    )]
    pub oidc_tenants_claim: String,
    /// `claim value=tenant id or slug,...`; a value not listed is taken as a
    /// tenant id or slug itself.
    #[arg(long, env = "ALERTLEDGER_OIDC_TENANT_MAP")]
    pub oidc_tenant_map: Option<String>,
    /// The claim with the person's email address.
    #[arg(long, env = "ALERTLEDGER_OIDC_EMAIL_CLAIM", default_value = "email")]
    pub oidc_email_claim: String,
    /// The claim with the person's display name.
    #[arg(long, env = "ALERTLEDGER_OIDC_NAME_CLAIM", default_value = "name")]
    pub oidc_name_claim: String,
}

impl OidcArgs {
    /// The settings, or `None` when no issuer is configured; a partial
    /// configuration is a start-up error naming what is missing.
    pub fn settings(&self) -> anyhow::Result<Option<alertledger_api::oidc::OidcSettings>> {
        use alertledger_api::oidc::{settings, ClientSecret, OidcSettings};
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let Some(issuer) = set(&self.oidc_issuer) else {
            return Ok(None);
        };
        let required = |value: &Option<String>, name: &str| {
            set(value).ok_or_else(|| {
                anyhow::anyhow!("ALERTLEDGER_OIDC_ISSUER is set, so {name} must be set too")
            })
        };
        let client_id = required(&self.oidc_client_id, "ALERTLEDGER_OIDC_CLIENT_ID")?;
        let secret = required(&self.oidc_client_secret, "ALERTLEDGER_OIDC_CLIENT_SECRET")?;
        let redirect = required(&self.oidc_redirect_url, "ALERTLEDGER_OIDC_REDIRECT_URL")?;
        let mut oidc =
            OidcSettings::new(&issuer, &client_id, ClientSecret::new(secret), &redirect)?;
        let list = |raw: &str| -> Vec<String> {
            raw.split([' ', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        oidc.scopes = list(&self.oidc_scopes);
        if let Some(audiences) = set(&self.oidc_audiences) {
            oidc.audiences = list(&audiences);
        }
        oidc.mapping.role_claim = self.oidc_role_claim.trim().to_owned();
        if let Some(map) = set(&self.oidc_role_map) {
            oidc.mapping.roles = settings::parse_role_map(&map)?;
        }
        oidc.mapping.tenants_claim = self.oidc_tenants_claim.trim().to_owned();
        if let Some(map) = set(&self.oidc_tenant_map) {
            oidc.mapping.tenants = settings::parse_pairs("ALERTLEDGER_OIDC_TENANT_MAP", &map)?;
        }
        oidc.mapping.email_claim = self.oidc_email_claim.trim().to_owned();
        oidc.mapping.name_claim = self.oidc_name_claim.trim().to_owned();
        Ok(Some(oidc))
    }
}

/// Runbooks, approvals and the SSM executor.
#[derive(Debug, Clone, Args)]
pub struct RemediationArgs {
    /// Send every AWS call (SSM, STS) to this endpoint (a local double such as moto).
    #[arg(long, env = "ALERTLEDGER_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// How long an approval request stays decidable (e.g. 1h, 30m).
    #[arg(long, env = "ALERTLEDGER_APPROVAL_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub approval_ttl: Duration,
    /// How long a runbook execution may take before it counts as timed out.
    #[arg(long, env = "ALERTLEDGER_EXECUTION_TIMEOUT", default_value = "10m", value_parser = parse_ttl)]
    pub execution_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Synthetic alerts per minute.
    #[arg(long, env = "ALERTLEDGER_DEMO_ALERTS_PER_MINUTE", default_value_t = 30)]
    pub alerts_per_minute: u32,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed token (alone on the last line of stdout).
    Issue(IssueTokenArgs),
}

#[derive(Debug, Args)]
pub struct IssueTokenArgs {
    /// User id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// msp_admin, tenant_admin, technician or viewer.
    #[arg(long)]
    pub role: String,
    /// A tenant the holder may act on (repeat for several).
    #[arg(long = "tenant")]
    pub tenants: Vec<String>,
    /// Lifetime, e.g. 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// Sign with this PEM private key (Ed25519 or RSA) instead of the HS256 secret.
    #[arg(long, env = "ALERTLEDGER_JWT_PRIVATE_KEY")]
    pub private_key: Option<PathBuf>,
}

/// `90s`, `30m`, `1h`, `7d` (or plain seconds).
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {raw:?}: expected e.g. 30m, 1h, 7d"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3_600,
        "d" => number * 86_400,
        _ => {
            return Err(format!(
                "invalid duration unit in {raw:?}: use s, m, h or d"
            ))
        }
    };
    if seconds == 0 {
        return Err("a token needs a lifetime above zero".to_owned());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_the_usual_units() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("0h").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
