//! What `projections status`, `/readyz` and `/metrics` report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertledger_eventstore::consumer::status::statuses;
use alertledger_eventstore::consumer::{ConsumerRunner, RunnerSettings};
use alertledger_eventstore::log::LogSignal;
use alertledger_eventstore::receipts::{append_receipts, ReceiptRow};
use alertledger_projections::audit::AuditProjection;
use alertledger_schema::TestDatabase;
use serde_json::json;
use uuid::Uuid;

fn receipt(tenant: Uuid, n: usize) -> ReceiptRow {
    let alert_id = Uuid::new_v5(&tenant, n.to_string().as_bytes());
    ReceiptRow {
        aggregate_id: alert_id.to_string(),
        event_type: "AlertReceived".into(),
        event_version: "1.0".into(),
        payload: json!({"AlertReceived": {
            "tenant_id": tenant, "alert_id": alert_id, "delivery_key": format!("d-{n}"),
            "source": "generic", "asset": "web01", "signature": "HighCPU", "severity": "high",
            "message": "m", "tool_source": "zabbix", "status": "firing", "labels": {},
            "occurred_at": "2026-11-01T00:00:00Z", "fingerprint": "f", "asset_known": false,
            "at": "2026-11-01T00:00:00Z"}})
        .to_string(),
        metadata: "{}".into(),
    }
}

#[tokio::test]
async fn status_shows_the_backlog_then_the_last_position_applied() {
    let db = TestDatabase::create().await;
    let tenant = Uuid::now_v7();
    let rows: Vec<ReceiptRow> = (0..5).map(|n| receipt(tenant, n)).collect();
    let stored = append_receipts(db.pool(), "Alert", &rows).await.unwrap();
    let last = stored.iter().map(|outcome| outcome.position).max().unwrap();

    // Wait until the receipts are readable (the horizon is cluster-wide).
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let status = statuses(db.pool(), &["audit"]).await.unwrap().remove(0);
        if status.lag_events == 5 {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "backlog never visible: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(before.position, 0);
    assert_eq!(before.events_applied, 0);
    assert!(before.lag_seconds >= 0.0);

    let runner = ConsumerRunner::new(
        db.pool().clone(),
        LogSignal::local(),
        Arc::new(AuditProjection),
        RunnerSettings::default(),
    );
    assert_eq!(runner.catch_up().await.unwrap(), 5);
    let after = statuses(db.pool(), &["audit"]).await.unwrap().remove(0);
    assert_eq!(after.position, last);
    assert_eq!(after.events_applied, 5);
    assert_eq!(after.lag_events, 0);
    assert_eq!(after.lag_seconds, 0.0);
    assert_eq!(after.last_error, None);
}
