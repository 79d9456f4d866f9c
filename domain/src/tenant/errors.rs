//! Why a tenant command was refused.

use crate::values::{ApiKeyId, WebhookSecretId};

/// A tenant rule that a command would break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("the tenant is not registered")]
    NotRegistered,
    #[error("the tenant is already registered")]
    AlreadyRegistered,
    #[error("API key {key_id} already exists")]
    ApiKeyIdTaken { key_id: ApiKeyId },
    #[error("an API key with this hash already exists")]
    ApiKeyHashTaken,
    #[error("API key {key_id} does not exist")]
    UnknownApiKey { key_id: ApiKeyId },
    #[error("API key {key_id} is already revoked")]
    ApiKeyAlreadyRevoked { key_id: ApiKeyId },
    #[error("webhook secret {secret_id} already exists")]
    WebhookSecretIdTaken { secret_id: WebhookSecretId },
    #[error("webhook secret {secret_id} does not exist")]
    UnknownWebhookSecret { secret_id: WebhookSecretId },
    #[error("webhook secret {secret_id} is already revoked")]
    WebhookSecretAlreadyRevoked { secret_id: WebhookSecretId },
    #[error("at most {max} webhook secrets may be active; revoke one first")]
    TooManyActiveSecrets { max: usize },
    #[error("signing cannot be required without an active webhook secret")]
    NoActiveSecret,
    #[error("the last active webhook secret cannot be revoked while signing is required")]
    LastActiveSecret,
    #[error("an asset may list at most {max} instances")]
    TooManyInstances { max: usize },
    #[error("the tenant's AWS external id is already issued; it never changes")]
    AwsExternalIdAlreadyIssued,
    #[error("an AWS external id must be 16..=1224 of letters, digits and _+=,.@:/-")]
    InvalidAwsExternalId,
    #[error("the AWS role's external id must be the one the service issued to the tenant")]
    AwsExternalIdNotIssued,
    #[error("{field} may be at most {max}, the tenant's rate-limit ceiling; an msp_admin can raise the ceiling")]
    AboveRateLimitCeiling { field: &'static str, max: u32 },
    #[error("only an msp_admin may set a tenant's rate-limit ceiling")]
    RateLimitCeilingNeedsMspAdmin,
    #[error("an SNS subscription needs an arn:aws topic and an https subscribe URL (at most 2048 characters each)")]
    InvalidSnsSubscription,
    #[error("a tenant may pin at most {max} SNS topics")]
    TooManySnsTopics { max: usize },
}
