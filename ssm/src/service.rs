//! The SSM operations alertledger uses, independent of the SDK.

use std::collections::BTreeMap;

use alertledger_domain::values::{
    AwsRoleConfig, InstanceId, InvocationStatus, SsmCommandId, TenantId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The AWS account a call acts in: the tenant and the role it configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantAccount {
    pub tenant_id: TenantId,
    pub role: AwsRoleConfig,
}

/// One SendCommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    pub document: String,
    /// Every document parameter, `commands` included.
    pub parameters: BTreeMap<String, Vec<String>>,
    pub instance_ids: Vec<InstanceId>,
    /// Names the execution (at most 100 characters, as SSM allows), so the
    /// command can be found again after a crash.
    pub comment: String,
}

/// One instance's invocation as GetCommandInvocation reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationReport {
    pub status: InvocationStatus,
    /// The exit code, once there is one.
    pub response_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// One instance's patch compliance (DescribeInstancePatchStates).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PatchState {
    pub instance_id: String,
    pub baseline_id: String,
    pub operation: String,
    pub installed: i32,
    pub missing: i32,
    pub failed: i32,
    pub operation_end: Option<DateTime<Utc>>,
}

/// Why an SSM call failed, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsmError {
    /// AWS asked us to slow down: retry later with backoff.
    #[error("AWS throttled the call ({code})")]
    Throttled { code: String },
    /// A network problem, timeout or AWS-side 5xx: retry with backoff.
    #[error("transient AWS error: {message}")]
    Transient { message: String },
    /// GetCommandInvocation before SSM registered the invocation (it happens
    /// right after SendCommand): poll again.
    #[error("the invocation does not exist (yet)")]
    InvocationNotFound,
    /// AWS refused the request (access denied, invalid document or
    /// instance...): retrying will not help; the execution fails with `code`.
    #[error("AWS refused the call: {code}: {message}")]
    Permanent { code: String, message: String },
}

impl SsmError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Permanent { .. })
    }
}

/// What alertledger asks of SSM, in a tenant's account.
#[async_trait]
pub trait SsmService: Send + Sync + 'static {
    /// SendCommand; the command id SSM gave it.
    async fn send_command(
        &self,
        account: &TenantAccount,
        request: &CommandRequest,
    ) -> Result<SsmCommandId, SsmError>;

    /// GetCommandInvocation for one instance.
    async fn command_invocation(
        &self,
        account: &TenantAccount,
        command_id: &SsmCommandId,
        instance_id: &InstanceId,
    ) -> Result<InvocationReport, SsmError>;

    /// ListCommands: the command sent at or after `sent_after` whose comment
    /// is exactly `comment`, if SSM has one (restart reconciliation).
    async fn find_command(
        &self,
        account: &TenantAccount,
        comment: &str,
        sent_after: DateTime<Utc>,
    ) -> Result<Option<SsmCommandId>, SsmError>;

    /// DescribeInstancePatchStates for these instances.
    async fn patch_states(
        &self,
        account: &TenantAccount,
        instance_ids: &[InstanceId],
    ) -> Result<Vec<PatchState>, SsmError>;
}
