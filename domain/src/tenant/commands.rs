//! What can be asked of a tenant.

use std::collections::BTreeSet;

use crate::values::{
    Actor, ApiKeyHash, ApiKeyId, ApiKeyLabel, AssetName, AwsRoleConfig, CorrelationPolicy,
    FlappingPolicy, InstanceId, RateLimit, SeverityMap, SnsTopicArn, TenantId, TenantName,
    TenantSlug, WebhookSecretId,
};

/// A request to change a tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    /// Create the tenant (the aggregate id is the tenant id).
    RegisterTenant {
        tenant_id: TenantId,
        name: TenantName,
        slug: TenantSlug,
    },
    /// Record a new API key by its hash; the plaintext was shown to the caller once.
    IssueApiKey {
        key_id: ApiKeyId,
        hash: ApiKeyHash,
        label: Option<ApiKeyLabel>,
        actor: Actor,
    },
    /// Stop accepting an API key.
    RevokeApiKey { key_id: ApiKeyId, actor: Actor },
    /// Record a new webhook signing secret (stored encrypted elsewhere; only its id here).
    AddWebhookSecret {
        secret_id: WebhookSecretId,
        actor: Actor,
    },
    /// Stop accepting signatures made with a secret.
    RevokeWebhookSecret {
        secret_id: WebhookSecretId,
        actor: Actor,
    },
    /// Turn webhook signature checking on or off.
    SetSigningRequired { required: bool, actor: Actor },
    /// Replace the correlation policy (affects future alerts only).
    ChangeCorrelationPolicy {
        policy: CorrelationPolicy,
        actor: Actor,
    },
    /// Replace the webhook rate limit (an actor other than an `msp_admin`
    /// only within the tenant's rate-limit ceiling).
    ChangeRateLimit { limit: RateLimit, actor: Actor },
    /// Replace the flapping policy (affects later decisions only).
    ChangeFlappingPolicy {
        policy: FlappingPolicy,
        actor: Actor,
    },
    /// Set the highest rate limit the tenant's own admins may set
    /// (`msp_admin` only).
    SetRateLimitCeiling { ceiling: RateLimit, actor: Actor },
    /// Replace the tenant's severity words.
    ChangeSeverityMap { map: SeverityMap, actor: Actor },
    /// Create or replace an asset's settings.
    UpsertAsset {
        asset: AssetName,
        critical: bool,
        instance_ids: Vec<InstanceId>,
        actor: Actor,
    },
    /// Record the external id the service generated for this tenant's AWS
    /// role (once: it never changes, and the tenant never chooses it).
    IssueAwsExternalId { external_id: String, actor: Actor },
    /// Set the IAM role runbooks run under; its external id must be the one
    /// issued to the tenant (or, for a role configured before the service
    /// generated them, the one already configured).
    ConfigureAwsRole { config: AwsRoleConfig, actor: Actor },
    /// An AWS SNS topic asked to deliver to this tenant's webhook; an operator
    /// confirms it by visiting `subscribe_url` (never fetched by us).
    RecordSnsSubscription {
        topic_arn: String,
        subscribe_url: String,
        message_id: String,
    },
    /// Accept SNS notifications only from these topics (empty: from any).
    PinSnsTopics {
        topic_arns: BTreeSet<SnsTopicArn>,
        actor: Actor,
    },
    /// Correlate the tenant's waiting alerts now (for policies without
    /// `auto_correlate`, or alerts short of `min_alerts`).
    RequestCorrelation { actor: Actor },
}
