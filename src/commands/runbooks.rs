//! `alertledger runbooks list|execute`, over HTTP.

use serde_json::json;

use crate::cli::{RunbooksArgs, RunbooksCommand};
use crate::client::output;
use crate::client::table::{self, column, Column};
use crate::client::{ApiClient, ClientError};

const LIST: &[Column] = &[
    column("ID", "id"),
    column("NAME", "name"),
    column("SIGNATURE", "signature"),
    column("RISK", "risk"),
    column("AUTO", "auto_execute"),
    column("RETIRED", "retired"),
    column("DOCUMENT", "document"),
    column("TENANT", "tenant_id"),
];

pub async fn run(args: RunbooksArgs) -> Result<(), ClientError> {
    let client = ApiClient::new(&args.client)?;
    let format = client.output;
    match args.command {
        RunbooksCommand::List { page } => {
            let query = super::page_query(&page);
            let answer = client.get("api/v1/runbooks", &query).await?;
            output::list(format, &answer, LIST)
        }
        RunbooksCommand::Execute { id, incident } => {
            let answer = client
                .post(
                    &format!("api/v1/runbooks/{id}/execute"),
                    json!({ "incident_id": incident }),
                )
                .await?;
            // 202 with an execution, or with an approval request when the
            // runbook's risk needs one first.
            let sentence = match answer.get("approval_id").and_then(|v| v.as_str()) {
                Some(approval) if answer.get("execution_id").is_none_or(|v| v.is_null()) => {
                    format!(
                    "runbook {id} needs an approval first: approval {approval} ({}, expires {})",
                    table::cell(&answer, "status"),
                    table::cell(&answer, "expires_at")
                )
                }
                _ => format!(
                    "runbook {id} requested for incident {incident}: execution {} ({})",
                    table::cell(&answer, "execution_id"),
                    table::cell(&answer, "status")
                ),
            };
            output::done(format, &answer, &sentence)
        }
    }
}
