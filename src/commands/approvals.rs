//! `alertledger approvals list|approve|reject`, over HTTP.

use serde_json::json;

use crate::cli::{ApprovalsArgs, ApprovalsCommand};
use crate::client::output;
use crate::client::table::{self, column, Column};
use crate::client::{ApiClient, ClientError};

const LIST: &[Column] = &[
    column("ID", "id"),
    column("STATUS", "status"),
    column("RISK", "risk"),
    column("RUNBOOK", "runbook_id"),
    column("INCIDENT", "incident_id"),
    column("REQUESTED BY", "requested_by"),
    column("EXPIRES", "expires_at"),
    column("DECIDED BY", "decided_by"),
];

pub async fn run(args: ApprovalsArgs) -> Result<(), ClientError> {
    let client = ApiClient::new(&args.client)?;
    let format = client.output;
    match args.command {
        ApprovalsCommand::List { status, page } => {
            let mut query = super::page_query(&page);
            super::push(&mut query, "status", status);
            let answer = client.get("api/v1/approvals", &query).await?;
            output::list(format, &answer, LIST)
        }
        ApprovalsCommand::Approve { id, reason } => decide(&client, id, "approve", reason).await,
        ApprovalsCommand::Reject { id, reason } => decide(&client, id, "reject", reason).await,
    }
}

async fn decide(
    client: &ApiClient,
    id: uuid::Uuid,
    decision: &str,
    reason: Option<String>,
) -> Result<(), ClientError> {
    let body = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let answer = client
        .post(&format!("api/v1/approvals/{id}/{decision}"), body)
        .await?;
    let status = table::cell(&answer, "status");
    output::done(client.output, &answer, &format!("approval {id} {status}"))
}
