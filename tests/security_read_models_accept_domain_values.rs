//! H1 (issue 16): every read model can write every value the domain
//! accepts. Property test: domain-valid events at the edges (times at
//! 1970-01-01 and at receipt + 24 h, text at its documented maximum length,
//! unicode, empty and full label sets, extreme rate limits) go into the log
//! the way the service writes them, and every consumer the service runs
//! (`startup::consumers`: the workers' process managers and every
//! `projections::all()` read model) applies them into PostgreSQL without
//! stopping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alertledger::startup::consumers;
use alertledger_domain::alert::{Alert, AlertCommand, AlertEvent};
use alertledger_domain::incident::{Incident, IncidentCommand};
use alertledger_domain::tenant::{Tenant, TenantCommand};
use alertledger_domain::values::{
    Actor, AlertId, AlertMessage, AlertSignature, AlertStatus, AssetName, DeliveryKey, Fingerprint,
    Labels, NormalizationWarning, Note, RateLimit, Role, Severity, TenantId, TenantName,
    TenantSlug, ToolSource, UserId, WebhookSource,
};
use alertledger_domain::DomainServices;
use alertledger_eventstore::consumer::{wait_until_applied, ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_eventstore::store::{AggregateStore, EventMetadata};
use alertledger_schema::TestDatabase;
use alertledger_workers::remediation::DEFAULT_APPROVAL_TTL;
use chrono::{TimeZone, Utc};
use cqrs_es::DomainEvent;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Characters that have broken storage layers before: multi-byte, astral,
/// combining, right-to-left, zero-width, quotes, SQL and LIKE specials.
const PALETTE: &[char] = &[
    'a',
    'Z',
    '0',
    '-',
    '_',
    '.',
    'é',
    'ß',
    '日',
    '本',
    '🚨',
    '𝔘',
    '\u{0301}',
    'ש',
    '\u{200D}',
    '\u{FEFF}',
    '\'',
    '"',
    '\\',
    '%',
    '/',
    '{',
    '}',
    '[',
    ':',
    ',',
    '\u{FFFD}',
    '\u{10FFFF}',
];

/// Text of `min..=max` characters from the palette (plus newlines and tabs
/// when `multiline`), biased to the bounds, that `accepts` takes.
fn text(
    min: usize,
    max: usize,
    multiline: bool,
    accepts: fn(&str) -> bool,
) -> impl Strategy<Value = String> {
    let mut palette: Vec<char> = PALETTE.to_vec();
    if multiline {
        palette.extend(['\n', '\t', ' ']);
    }
    let length = prop_oneof![Just(min.max(1)), Just(max), min.max(1)..=max];
    (length, any::<u64>())
        .prop_map(move |(length, seed)| {
            // A cheap deterministic fill from the seed: proptest shrinks the
            // length and the seed, and long strings stay fast to generate.
            let mut state = seed | 1;
            (0..length)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    palette[(state % palette.len() as u64) as usize]
                })
                .collect::<String>()
        })
        .prop_filter("the domain accepts it", move |raw| accepts(raw))
}

fn labels() -> impl Strategy<Value = Labels> {
    let key = text(1, 128, false, |_| true);
    let value = text(1, 1024, true, |_| true);
    prop_oneof![
        Just(BTreeMap::new()),
        proptest::collection::btree_map(key, value, 1..=64),
    ]
    .prop_filter_map("the domain accepts the labels", |entries| {
        Labels::new(entries).ok()
    })
}

/// One tenant's edge values.
#[derive(Debug, Clone)]
struct Case {
    tenant_name: String,
    rate_limit: (u32, u32),
    delivery_key: String,
    asset: String,
    signature: String,
    message: String,
    fingerprint: String,
    labels: Labels,
    /// Seconds after 1970-01-01, or `None` for receipt + 24 h.
    occurred_at: Option<i64>,
    severity: Severity,
    note: String,
}

fn case() -> impl Strategy<Value = Case> {
    let names = (
        text(1, 200, false, |raw| TenantName::parse(raw).is_ok()),
        text(1, 255, false, |raw| DeliveryKey::parse(raw).is_ok()),
        text(1, 255, false, |raw| AssetName::parse(raw).is_ok()),
        text(1, 255, false, |raw| AlertSignature::parse(raw).is_ok()),
    );
    let bodies = (
        text(0, 10_000, true, |raw| AlertMessage::parse(raw).is_ok()),
        text(1, 128, false, |raw| Fingerprint::parse(raw).is_ok()),
        labels(),
        text(1, 10_000, true, |raw| Note::parse(raw).is_ok()),
    );
    let numbers = (
        prop_oneof![
            Just((1, 1)),
            Just((1_000_000, 1_000_000)),
            (1u32..=1_000_000, 1u32..=1_000_000)
        ],
        prop_oneof![
            Just(Some(0)),
            Just(Some(1)),
            Just(None),
            (0i64..4_000_000_000).prop_map(Some)
        ],
        prop_oneof![
            Just(Severity::Critical),
            Just(Severity::High),
            Just(Severity::Medium),
            Just(Severity::Low)
        ],
    );
    (names, bodies, numbers).prop_map(
        |(
            (tenant_name, delivery_key, asset, signature),
            (message, fingerprint, labels, note),
            (rate_limit, occurred_at, severity),
        )| Case {
            tenant_name,
            rate_limit,
            delivery_key,
            asset,
            signature,
            message,
            fingerprint,
            labels,
            occurred_at,
            severity,
            note,
        },
    )
}

struct World {
    db: TestDatabase,
    tenants: AggregateStore<Tenant>,
    alerts: AggregateStore<Alert>,
    incidents: AggregateStore<Incident>,
    runners: Vec<ConsumerRunner>,
}

fn actor() -> Actor {
    Actor::new(
        UserId::parse("u-edge").unwrap(),
        "Edge Ñame 🚨",
        Role::MspAdmin,
    )
}

impl World {
    async fn new() -> Self {
        let db = TestDatabase::create().await;
        let pool = db.pool().clone();
        let services = DomainServices::system();
        let signal = LogSignal::local();
        let runners = consumers(services.clone(), DEFAULT_APPROVAL_TTL)
            .into_iter()
            .map(|consumer| {
                ConsumerRunner::new(
                    pool.clone(),
                    signal.clone(),
                    consumer,
                    RunnerSettings::default(),
                )
            })
            .collect();
        Self {
            tenants: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            alerts: AggregateStore::new(pool.clone(), services.clone(), signal.clone()),
            incidents: AggregateStore::new(pool, services, signal),
            runners,
            db,
        }
    }

    /// Writes the case's events as the service would, then runs every
    /// consumer until it applied all of them; any refusal fails the case.
    async fn run(&self, case: Case, n: usize) -> Result<(), TestCaseError> {
        let tenant = TenantId::new_v7();
        let id = tenant.to_string();
        let by = || EventMetadata::by("cli:edge");
        self.tenants
            .execute(
                &id,
                TenantCommand::RegisterTenant {
                    tenant_id: tenant,
                    name: TenantName::parse(&case.tenant_name).unwrap(),
                    slug: TenantSlug::parse(&format!("edge-{n}")).unwrap(),
                },
                by(),
            )
            .await
            .unwrap();
        let (rpm, burst) = case.rate_limit;
        self.tenants
            .execute(
                &id,
                TenantCommand::ChangeRateLimit {
                    limit: RateLimit::new(rpm, burst).unwrap(),
                    actor: actor(),
                },
                by(),
            )
            .await
            .unwrap();

        let received = Utc::now();
        let occurred_at = match case.occurred_at {
            Some(seconds) => Utc.timestamp_opt(seconds, 0).unwrap(),
            None => received + chrono::Duration::hours(24),
        };
        let delivery_key = DeliveryKey::parse(&case.delivery_key).unwrap();
        let alert_id = AlertId::for_delivery(&tenant, &delivery_key);
        let event = AlertEvent::AlertReceived {
            tenant_id: tenant,
            alert_id,
            delivery_key,
            source: WebhookSource::Generic,
            asset: AssetName::parse(&case.asset).unwrap(),
            signature: AlertSignature::parse(&case.signature).unwrap(),
            severity: case.severity,
            message: AlertMessage::parse(&case.message).unwrap(),
            tool_source: ToolSource::parse("edge-tool").unwrap(),
            status: AlertStatus::Firing,
            labels: case.labels.clone(),
            occurred_at,
            fingerprint: Fingerprint::parse(&case.fingerprint).unwrap(),
            asset_known: false,
            // The longest text the case has, in the warnings' JSON column too.
            normalization_warnings: vec![NormalizationWarning::new("labels", case.message.clone())],
            at: received,
        };
        let row = ReceiptRow {
            aggregate_id: alert_id.to_string(),
            event_type: event.event_type(),
            event_version: event.event_version(),
            payload: serde_json::to_string(&event).unwrap(),
            metadata: EventMetadata {
                delivery_key: Some(case.delivery_key.clone()),
                ..EventMetadata::by("api_key:edge")
            }
            .to_json_text(),
        };
        append_receipts(self.db.pool(), "Alert", &[row])
            .await
            .unwrap();
        let note = Note::parse(&case.note).unwrap();
        self.alerts
            .execute(
                &alert_id.to_string(),
                AlertCommand::AcknowledgeAlert {
                    actor: actor(),
                    note: Some(note.clone()),
                },
                by(),
            )
            .await
            .unwrap();
        self.apply_all().await?;

        // The correlator opened an incident from the alert's asset and
        // signature: comment on it with the long note, and apply again.
        let incident: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT incident_id FROM alerts WHERE alert_id = $1")
                .bind(uuid::Uuid::parse_str(&alert_id.to_string()).unwrap())
                .fetch_one(self.db.pool())
                .await
                .unwrap();
        let incident = incident.expect("the correlator put the alert in an incident");
        self.incidents
            .execute(
                &incident.to_string(),
                IncidentCommand::CommentOnIncident {
                    text: note,
                    actor: actor(),
                },
                by(),
            )
            .await
            .map_err(|error| TestCaseError::fail(format!("comment: {error}")))?;
        self.apply_all().await
    }

    /// Catches every consumer up with the whole log.
    async fn apply_all(&self) -> Result<(), TestCaseError> {
        let last: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(self.db.pool())
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        for runner in &self.runners {
            loop {
                runner.catch_up().await.map_err(|error| {
                    TestCaseError::fail(format!(
                        "{} refused a domain value: {error}",
                        runner.name()
                    ))
                })?;
                let applied =
                    wait_until_applied(self.db.pool(), runner.name(), last, Duration::ZERO)
                        .await
                        .unwrap();
                if applied {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(TestCaseError::fail(format!(
                        "{} never reached position {last}",
                        runner.name()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }
}

#[test]
fn every_read_model_applies_every_value_the_domain_accepts() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(World::new());
    // Modest: each case writes and applies a handful of events through eight
    // consumers. No shrinking: a refused event stops its consumer, so every
    // later case would fail too; the case reported is the one refused.
    let mut runner = TestRunner::new(Config {
        cases: 24,
        max_shrink_iters: 0,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&case(), |case| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(world.run(case, n))
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
