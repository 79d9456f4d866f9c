//! `alertledger incidents list|show|ack|assign|comment|resolve|reopen|escalate`,
//! over HTTP (API.md "Incidents, alerts, runbooks, approvals, executions").

use serde_json::{json, Value};

use crate::cli::{IncidentsArgs, IncidentsCommand};
use crate::client::output;
use crate::client::table::{self, column, Column};
use crate::client::{ApiClient, ClientError};

const LIST: &[Column] = &[
    column("ID", "id"),
    column("STATUS", "status"),
    column("SEVERITY", "severity"),
    column("PRIORITY", "priority_score"),
    column("ASSET", "asset"),
    column("SIGNATURE", "signature"),
    column("ALERTS", "alert_count"),
    column("ASSIGNEE", "assignee"),
    column("OPENED", "opened_at"),
];

const DETAIL: &[Column] = &[
    column("id", "id"),
    column("tenant", "tenant_id"),
    column("status", "status"),
    column("severity", "severity"),
    column("priority", "priority_score"),
    column("asset", "asset"),
    column("signature", "signature"),
    column("key", "key"),
    column("assignee", "assignee"),
    column("tools", "tool_sources"),
    column("alerts", "alert_ids"),
    column("opened", "opened_at"),
    column("acknowledged", "acknowledged_at"),
    column("resolved", "resolved_at"),
    column("resolution", "/resolution/kind"),
];

const TIMELINE: &[Column] = &[
    column("POSITION", "position"),
    column("AT", "at"),
    column("EVENT", "event_type"),
    column("ACTOR", "actor"),
    column("DETAILS", "summary"),
];

pub async fn run(args: IncidentsArgs) -> Result<(), ClientError> {
    let client = ApiClient::new(&args.client)?;
    let format = client.output;
    match args.command {
        IncidentsCommand::List {
            status,
            severity,
            sort,
            assignee,
            page,
        } => {
            let mut query = super::page_query(&page);
            super::push(&mut query, "status", status);
            super::push(&mut query, "severity", severity);
            super::push(&mut query, "sort", sort);
            super::push(&mut query, "assignee", assignee);
            let answer = client.get("api/v1/incidents", &query).await?;
            output::list(format, &answer, LIST)
        }
        IncidentsCommand::Show { id } => {
            let answer = client.get(&format!("api/v1/incidents/{id}"), &[]).await?;
            let timeline = answer
                .get("timeline")
                .and_then(Value::as_array)
                .map(|entries| format!("timeline\n{}", table::render(TIMELINE, entries)));
            output::record(format, &answer, DETAIL, timeline)
        }
        IncidentsCommand::Ack { id } => {
            command(&client, id, "acknowledge", json!({}), "acknowledged").await
        }
        IncidentsCommand::Assign { id, assignee } => {
            let sentence = format!("assigned to {assignee}");
            command(
                &client,
                id,
                "assign",
                json!({ "assignee": assignee }),
                &sentence,
            )
            .await
        }
        IncidentsCommand::Comment { id, text } => {
            command(&client, id, "comment", json!({ "text": text }), "commented").await
        }
        IncidentsCommand::Resolve { id, note } => {
            command(&client, id, "resolve", optional("note", note), "resolved").await
        }
        IncidentsCommand::Reopen { id, reason } => {
            command(
                &client,
                id,
                "reopen",
                optional("reason", reason),
                "reopened",
            )
            .await
        }
        IncidentsCommand::Escalate { id, reason } => {
            command(
                &client,
                id,
                "escalate",
                json!({ "reason": reason }),
                "escalated",
            )
            .await
        }
    }
}

/// `POST /api/v1/incidents/{id}/{action}`; the sentence names the new status.
async fn command(
    client: &ApiClient,
    id: uuid::Uuid,
    action: &str,
    body: Value,
    what: &str,
) -> Result<(), ClientError> {
    let answer = client
        .post(&format!("api/v1/incidents/{id}/{action}"), body)
        .await?;
    let status = table::cell(&answer, "status");
    output::done(
        client.output,
        &answer,
        &format!("incident {id} {what} (status {status})"),
    )
}

/// `{key: value}` when given, else `{}`.
fn optional(key: &str, value: Option<String>) -> Value {
    match value {
        Some(value) => json!({ key: value }),
        None => json!({}),
    }
}
