//! `alertledger alerts list|show|ack`, over HTTP.

use serde_json::json;

use crate::cli::{AlertsArgs, AlertsCommand};
use crate::client::output;
use crate::client::table::{self, column, Column};
use crate::client::{ApiClient, ClientError};

const LIST: &[Column] = &[
    column("ID", "id"),
    column("STATUS", "status"),
    column("SEVERITY", "severity"),
    column("ASSET", "asset"),
    column("SIGNATURE", "signature"),
    column("SOURCE", "tool_source"),
    column("INCIDENT", "incident_id"),
    column("RECEIVED", "received_at"),
    column("MESSAGE", "message"),
];

const DETAIL: &[Column] = &[
    column("id", "id"),
    column("tenant", "tenant_id"),
    column("status", "status"),
    column("severity", "severity"),
    column("asset", "asset"),
    column("signature", "signature"),
    column("source", "source"),
    column("tool", "tool_source"),
    column("message", "message"),
    column("incident", "incident_id"),
    column("occurred", "occurred_at"),
    column("received", "received_at"),
    column("acknowledged", "acknowledged_at"),
    column("acknowledged by", "acknowledged_by"),
    column("resolved", "resolved_at"),
    column("suppressed by", "suppressed_by"),
    column("warnings", "normalization_warnings"),
];

pub async fn run(args: AlertsArgs) -> Result<(), ClientError> {
    let client = ApiClient::new(&args.client)?;
    let format = client.output;
    match args.command {
        AlertsCommand::List {
            status,
            severity,
            asset,
            page,
        } => {
            let mut query = super::page_query(&page);
            super::push(&mut query, "status", status);
            super::push(&mut query, "severity", severity);
            super::push(&mut query, "asset", asset);
            let answer = client.get("api/v1/alerts", &query).await?;
            output::list(format, &answer, LIST)
        }
        AlertsCommand::Show { id } => {
            let answer = client.get(&format!("api/v1/alerts/{id}"), &[]).await?;
            output::record(format, &answer, DETAIL, None)
        }
        AlertsCommand::Ack { id, note } => {
            let body = match note {
                Some(note) => json!({ "note": note }),
                None => json!({}),
            };
            let answer = client
                .post(&format!("api/v1/alerts/{id}/acknowledge"), body)
                .await?;
            let at = table::cell(&answer, "acknowledged_at");
            output::done(
                format,
                &answer,
                &format!("alert {id} acknowledged (at {at})"),
            )
        }
    }
}
