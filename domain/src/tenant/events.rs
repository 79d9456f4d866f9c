//! What happened to a tenant. Variant names are stored and permanent.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::values::{
    Actor, ApiKeyHash, ApiKeyId, ApiKeyLabel, AssetName, AwsRoleConfig, CorrelationPolicy,
    FlappingPolicy, InstanceId, RateLimit, SeverityMap, SnsTopicArn, TenantId, TenantName,
    TenantSlug, WebhookSecretId,
};

/// A fact about a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TenantEvent {
    /// The tenant was created.
    TenantRegistered {
        tenant_id: TenantId,
        name: TenantName,
        slug: TenantSlug,
        at: DateTime<Utc>,
    },
    /// An API key was issued; only its hash is recorded.
    ApiKeyIssued {
        tenant_id: TenantId,
        key_id: ApiKeyId,
        key_hash: ApiKeyHash,
        label: Option<ApiKeyLabel>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An API key was revoked.
    ApiKeyRevoked {
        tenant_id: TenantId,
        key_id: ApiKeyId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A webhook signing secret was added.
    WebhookSecretAdded {
        tenant_id: TenantId,
        secret_id: WebhookSecretId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A webhook signing secret was revoked.
    WebhookSecretRevoked {
        tenant_id: TenantId,
        secret_id: WebhookSecretId,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// Webhook signing was turned on or off.
    SigningRequirementChanged {
        tenant_id: TenantId,
        required: bool,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The correlation policy was replaced.
    CorrelationPolicyChanged {
        tenant_id: TenantId,
        policy: CorrelationPolicy,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The flapping policy was replaced (issue 19).
    FlappingPolicyChanged {
        tenant_id: TenantId,
        policy: FlappingPolicy,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The rate limit was replaced.
    RateLimitChanged {
        tenant_id: TenantId,
        limit: RateLimit,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An `msp_admin` set the highest rate limit the tenant's own admins may
    /// set (`requests_per_minute` and `burst` each at most the ceiling's).
    RateLimitCeilingSet {
        tenant_id: TenantId,
        ceiling: RateLimit,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An asset's settings were created or replaced.
    AssetUpserted {
        tenant_id: TenantId,
        asset: AssetName,
        critical: bool,
        instance_ids: Vec<InstanceId>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The service generated the tenant's AWS external id (AWS's guidance
    /// against the confused deputy: the third party, not the customer, picks
    /// it, unique per customer).
    AwsExternalIdIssued {
        tenant_id: TenantId,
        external_id: String,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The AWS role was set.
    AwsRoleConfigured {
        tenant_id: TenantId,
        config: AwsRoleConfig,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An SNS topic asked to subscribe; waiting for an operator to confirm.
    SnsSubscriptionRequested {
        tenant_id: TenantId,
        topic_arn: String,
        subscribe_url: String,
        message_id: String,
        at: DateTime<Utc>,
    },
    /// The SNS topics the tenant accepts notifications from were replaced
    /// (empty: any topic, as before any pin).
    SnsTopicsPinned {
        tenant_id: TenantId,
        topic_arns: Vec<SnsTopicArn>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The tenant's severity words were replaced (an empty map: built-ins only).
    SeverityMapChanged {
        tenant_id: TenantId,
        map: SeverityMap,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// Someone asked for the tenant's waiting alerts to be correlated now
    /// (the correlator acts on it in log order).
    CorrelationRequested {
        tenant_id: TenantId,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

impl TenantEvent {
    /// The tenant the event belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::TenantRegistered { tenant_id, .. }
            | Self::ApiKeyIssued { tenant_id, .. }
            | Self::ApiKeyRevoked { tenant_id, .. }
            | Self::WebhookSecretAdded { tenant_id, .. }
            | Self::WebhookSecretRevoked { tenant_id, .. }
            | Self::SigningRequirementChanged { tenant_id, .. }
            | Self::CorrelationPolicyChanged { tenant_id, .. }
            | Self::FlappingPolicyChanged { tenant_id, .. }
            | Self::RateLimitChanged { tenant_id, .. }
            | Self::RateLimitCeilingSet { tenant_id, .. }
            | Self::AssetUpserted { tenant_id, .. }
            | Self::AwsExternalIdIssued { tenant_id, .. }
            | Self::AwsRoleConfigured { tenant_id, .. }
            | Self::SnsSubscriptionRequested { tenant_id, .. }
            | Self::SnsTopicsPinned { tenant_id, .. }
            | Self::SeverityMapChanged { tenant_id, .. }
            | Self::CorrelationRequested { tenant_id, .. } => *tenant_id,
        }
    }
}

crate::event_types::event_type_names!(TenantEvent {
    TenantRegistered => REGISTERED,
    ApiKeyIssued => API_KEY_ISSUED,
    ApiKeyRevoked => API_KEY_REVOKED,
    WebhookSecretAdded => WEBHOOK_SECRET_ADDED,
    WebhookSecretRevoked => WEBHOOK_SECRET_REVOKED,
    SigningRequirementChanged => SIGNING_REQUIREMENT_CHANGED,
    CorrelationPolicyChanged => CORRELATION_POLICY_CHANGED,
    RateLimitChanged => RATE_LIMIT_CHANGED,
    RateLimitCeilingSet => RATE_LIMIT_CEILING_SET,
    AssetUpserted => ASSET_UPSERTED,
    AwsExternalIdIssued => AWS_EXTERNAL_ID_ISSUED,
    AwsRoleConfigured => AWS_ROLE_CONFIGURED,
    SnsSubscriptionRequested => SNS_SUBSCRIPTION_REQUESTED,
    CorrelationRequested => CORRELATION_REQUESTED,
    SeverityMapChanged => SEVERITY_MAP_CHANGED,
    SnsTopicsPinned => SNS_TOPICS_PINNED,
    FlappingPolicyChanged => FLAPPING_POLICY_CHANGED,
});

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}
