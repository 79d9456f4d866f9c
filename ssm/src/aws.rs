//! [`SsmService`] on aws-sdk-ssm, with per-tenant STS role credentials.

use std::collections::HashMap;
use std::sync::Mutex;

use alertledger_domain::values::{InstanceId, InvocationStatus, SsmCommandId, TenantId};
use async_trait::async_trait;
use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey};
use aws_sdk_ssm::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::service::{
    CommandRequest, InvocationReport, PatchState, SsmError, SsmService, TenantAccount,
};

/// The STS session name, so a tenant's CloudTrail shows who ran what.
const SESSION_NAME: &str = "alertledger-executor";
/// The base configuration's region when nothing names one; tenants' clients
/// always set their own.
pub const FALLBACK_REGION: &str = "us-east-1";
/// Pages of ListCommands looked through when reconciling (50 commands each).
const MAX_LIST_PAGES: usize = 20;

/// aws-sdk-ssm with one client per tenant, each on the tenant's assumed role.
pub struct AwsSsm {
    /// Base configuration: the service's own credentials (instance or task
    /// role, or environment) that may assume tenant roles, and the endpoint
    /// override if any.
    base: SdkConfig,
    /// Each tenant's client with the role it was built for; rebuilt when the
    /// tenant changes its role. The SDK's identity cache inside each client
    /// keeps the assumed-role credentials until shortly before they expire.
    clients: Mutex<HashMap<TenantId, (TenantAccount, Client)>>,
}

impl AwsSsm {
    /// Loads the base configuration the standard way (credentials from the
    /// environment, profile, or instance or task role, looked up when first
    /// needed), with every call sent to `endpoint_url` when given.
    ///
    /// The region is never asked of instance metadata: every client runs in
    /// its tenant's configured region, and the SDK's default chain would probe
    /// IMDS at start (a second's wait and a long warning off EC2). The base
    /// region comes from `AWS_REGION`/`AWS_DEFAULT_REGION` or the profile, else
    /// [`FALLBACK_REGION`].
    pub async fn from_environment(endpoint_url: Option<&str>) -> Self {
        let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
            .or_else(Region::from_static(FALLBACK_REGION));
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        Self::new(loader.load().await)
    }

    /// Uses `base` as loaded by the caller (tests pass static credentials).
    pub fn new(base: SdkConfig) -> Self {
        Self {
            base,
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self, account: &TenantAccount) -> Client {
        if let Some(client) = self.cached(account) {
            return client;
        }
        let region = Region::new(account.role.region().to_owned());
        let credentials = AssumeRoleProvider::builder(account.role.role_arn())
            .external_id(account.role.external_id())
            .session_name(SESSION_NAME)
            .region(region.clone())
            .configure(&self.base)
            .build()
            .await;
        let config = aws_sdk_ssm::config::Builder::from(&self.base)
            .region(region)
            .credentials_provider(credentials)
            .build();
        let client = Client::from_conf(config);
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(account.tenant_id, (account.clone(), client.clone()));
        client
    }

    fn cached(&self, account: &TenantAccount) -> Option<Client> {
        let clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .get(&account.tenant_id)
            .filter(|(built_for, _)| built_for == account)
            .map(|(_, client)| client.clone())
    }
}

#[async_trait]
impl SsmService for AwsSsm {
    async fn send_command(
        &self,
        account: &TenantAccount,
        request: &CommandRequest,
    ) -> Result<SsmCommandId, SsmError> {
        let client = self.client(account).await;
        let mut call = client
            .send_command()
            .document_name(&request.document)
            .comment(&request.comment)
            .set_instance_ids(Some(
                request
                    .instance_ids
                    .iter()
                    .map(|id| id.as_str().to_owned())
                    .collect(),
            ));
        for (name, values) in &request.parameters {
            call = call.parameters(name, values.clone());
        }
        let output = call.send().await.map_err(classify)?;
        let command_id = output
            .command()
            .and_then(|command| command.command_id())
            .ok_or_else(|| SsmError::Transient {
                message: "SendCommand answered without a command id".to_owned(),
            })?;
        parse_command_id(command_id)
    }

    async fn command_invocation(
        &self,
        account: &TenantAccount,
        command_id: &SsmCommandId,
        instance_id: &InstanceId,
    ) -> Result<InvocationReport, SsmError> {
        let client = self.client(account).await;
        let output = client
            .get_command_invocation()
            .command_id(command_id.as_str())
            .instance_id(instance_id.as_str())
            .send()
            .await
            .map_err(classify)?;
        let status = output
            .status()
            .map(|status| status.as_str())
            .unwrap_or("Pending");
        // SSM reports states we do not model (e.g. "Undeliverable",
        // "Terminated") as failures of the invocation.
        let status = status.parse().unwrap_or(InvocationStatus::Failed);
        // -1 means "no exit code yet".
        let code = output.response_code();
        Ok(InvocationReport {
            status,
            response_code: (code >= 0).then_some(code),
            stdout: output
                .standard_output_content()
                .unwrap_or_default()
                .to_owned(),
            stderr: output
                .standard_error_content()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    async fn find_command(
        &self,
        account: &TenantAccount,
        comment: &str,
        sent_after: DateTime<Utc>,
    ) -> Result<Option<SsmCommandId>, SsmError> {
        let client = self.client(account).await;
        let after = CommandFilter::builder()
            .key(CommandFilterKey::InvokedAfter)
            .value(sent_after.to_rfc3339_opts(SecondsFormat::Secs, true))
            .build()
            .map_err(|error| SsmError::Permanent {
                code: "InvalidFilter".to_owned(),
                message: error.to_string(),
            })?;
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let output = client
                .list_commands()
                .filters(after.clone())
                .max_results(50)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(classify)?;
            let found = output
                .commands()
                .iter()
                .find(|command| command.comment() == Some(comment))
                .and_then(|command| command.command_id());
            if let Some(command_id) = found {
                return parse_command_id(command_id).map(Some);
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn patch_states(
        &self,
        account: &TenantAccount,
        instance_ids: &[InstanceId],
    ) -> Result<Vec<PatchState>, SsmError> {
        let client = self.client(account).await;
        let mut states = Vec::new();
        // The API takes at most 50 instance ids per call.
        for chunk in instance_ids.chunks(50) {
            let mut next_token: Option<String> = None;
            loop {
                let output = client
                    .describe_instance_patch_states()
                    .set_instance_ids(Some(
                        chunk.iter().map(|id| id.as_str().to_owned()).collect(),
                    ))
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(classify)?;
                states.extend(
                    output
                        .instance_patch_states()
                        .iter()
                        .map(|state| PatchState {
                            instance_id: state.instance_id().to_owned(),
                            baseline_id: state.baseline_id().to_owned(),
                            operation: state.operation().as_str().to_owned(),
                            installed: state.installed_count(),
                            missing: state.missing_count(),
                            failed: state.failed_count(),
                            operation_end: DateTime::from_timestamp(
                                state.operation_end_time().secs(),
                                state.operation_end_time().subsec_nanos(),
                            ),
                        }),
                );
                match output.next_token() {
                    Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(states)
    }
}

fn parse_command_id(raw: &str) -> Result<SsmCommandId, SsmError> {
    SsmCommandId::parse(raw).map_err(|error| SsmError::Transient {
        message: format!("SSM returned an unusable command id: {error}"),
    })
}

/// Error codes AWS uses for "slow down".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
];

/// Sorts an SDK error into what the executor should do about it.
fn classify<E, R>(error: SdkError<E, R>) -> SsmError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match &error {
        SdkError::ServiceError(context) => {
            let service_error = context.err();
            let code = service_error.code().unwrap_or("Unknown").to_owned();
            let message = service_error.message().unwrap_or_default().to_owned();
            if THROTTLING_CODES.contains(&code.as_str()) {
                SsmError::Throttled { code }
            } else if code == "InvocationDoesNotExist" {
                SsmError::InvocationNotFound
            } else if code.starts_with("InternalServer") || code == "ServiceUnavailable" {
                SsmError::Transient {
                    message: format!("{code}: {message}"),
                }
            } else {
                SsmError::Permanent { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => SsmError::Permanent {
            code: "RequestConstruction".to_owned(),
            message: error_chain(&error),
        },
        // Timeouts, connection failures, unreadable answers, and failures to
        // obtain credentials (STS unreachable) may pass.
        _ => SsmError::Transient {
            message: error_chain(&error),
        },
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
