//! The tenant's state and rules.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{TenantCommand, TenantError, TenantEvent};
use crate::services::DomainServices;
use crate::values::{
    ApiKeyHash, ApiKeyId, AssetName, AwsRoleConfig, CorrelationPolicy, FlappingPolicy, InstanceId,
    RateLimit, Role, SeverityMap, SnsTopicArn, TenantId, TenantName, TenantSlug, WebhookSecretId,
    MAX_PINNED_SNS_TOPICS,
};

/// Two secrets may be active at once so a tool can rotate without downtime.
pub const MAX_ACTIVE_WEBHOOK_SECRETS: usize = 2;

/// SSM `SendCommand` accepts at most 50 instance ids per call.
pub const MAX_INSTANCES_PER_ASSET: usize = 50;

/// One client company and its configuration, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    registration: Option<Registration>,
    api_keys: BTreeMap<ApiKeyId, ApiKeyRecord>,
    /// Every secret ever added, with whether it is still active.
    webhook_secrets: BTreeMap<WebhookSecretId, bool>,
    signing_required: bool,
    correlation_policy: CorrelationPolicy,
    /// When an alert key counts as flapping (issue 19).
    #[serde(default)]
    flapping_policy: FlappingPolicy,
    rate_limit: RateLimit,
    /// Set by an `msp_admin`; `None`: the default rate limit is the ceiling.
    #[serde(default)]
    rate_limit_ceiling: Option<RateLimit>,
    assets: BTreeMap<AssetName, AssetSettings>,
    aws_role: Option<AwsRoleConfig>,
    /// The external id the service issued (tenants configured before it did
    /// keep the one in their `aws_role`).
    #[serde(default)]
    aws_external_id: Option<String>,
    /// SNS subscription requests recorded, by message id (SNS retries them).
    #[serde(default)]
    sns_subscription_messages: BTreeSet<String>,
    /// The tenant's own severity words (empty: the built-in words only).
    #[serde(default)]
    severity_map: SeverityMap,
    /// The SNS topics notifications are accepted from (empty: any).
    #[serde(default)]
    sns_topics: BTreeSet<SnsTopicArn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Registration {
    tenant_id: TenantId,
    name: TenantName,
    slug: TenantSlug,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ApiKeyRecord {
    hash: ApiKeyHash,
    active: bool,
}

/// What the tenant told us about one asset: whether it is critical (raises
/// priority) and which instances runbooks target for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetSettings {
    critical: bool,
    instance_ids: Vec<InstanceId>,
}

impl AssetSettings {
    /// Whether incidents on this asset get the critical-asset bonus.
    pub fn critical(&self) -> bool {
        self.critical
    }

    /// The instances runbooks for this asset run on.
    pub fn instance_ids(&self) -> &[InstanceId] {
        &self.instance_ids
    }
}

impl Tenant {
    /// The tenant's display name, once registered.
    pub fn name(&self) -> Option<&TenantName> {
        self.registration.as_ref().map(|r| &r.name)
    }

    /// The tenant's slug, once registered.
    pub fn slug(&self) -> Option<&TenantSlug> {
        self.registration.as_ref().map(|r| &r.slug)
    }

    /// Every registered asset with its settings, by name.
    pub fn assets(&self) -> impl Iterator<Item = (&AssetName, &AssetSettings)> {
        self.assets.iter()
    }

    /// The tenant's id, once registered.
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.registration.as_ref().map(|r| r.tenant_id)
    }

    /// The hashes of the API keys that are currently accepted.
    pub fn active_api_keys(&self) -> impl Iterator<Item = (ApiKeyId, &ApiKeyHash)> {
        self.api_keys
            .iter()
            .filter(|(_, record)| record.active)
            .map(|(id, record)| (*id, &record.hash))
    }

    /// The ids of the webhook secrets that currently verify signatures.
    pub fn active_webhook_secrets(&self) -> impl Iterator<Item = WebhookSecretId> + '_ {
        self.webhook_secrets
            .iter()
            .filter(|(_, active)| **active)
            .map(|(id, _)| *id)
    }

    /// Whether unsigned webhooks are refused.
    pub fn signing_required(&self) -> bool {
        self.signing_required
    }

    /// The policy the correlator applies to new alerts.
    pub fn correlation_policy(&self) -> &CorrelationPolicy {
        &self.correlation_policy
    }

    /// When the correlator marks an alert key as flapping.
    pub fn flapping_policy(&self) -> &FlappingPolicy {
        &self.flapping_policy
    }

    /// The webhook rate limit.
    pub fn rate_limit(&self) -> RateLimit {
        self.rate_limit
    }

    /// The highest rate limit the tenant's own admins may set: the one an
    /// `msp_admin` set, else the default limit (a new tenant's admins can
    /// lower their limit but not raise it until an `msp_admin` allows).
    pub fn rate_limit_ceiling(&self) -> RateLimit {
        self.rate_limit_ceiling.unwrap_or_default()
    }

    /// The tenant's own severity words.
    pub fn severity_map(&self) -> &SeverityMap {
        &self.severity_map
    }

    /// The SNS topics notifications are accepted from (empty: any topic).
    pub fn sns_topics(&self) -> &BTreeSet<SnsTopicArn> {
        &self.sns_topics
    }

    /// The settings of one asset, if the tenant described it.
    pub fn asset(&self, asset: &AssetName) -> Option<&AssetSettings> {
        self.assets.get(asset)
    }

    /// The AWS role, if configured.
    pub fn aws_role(&self) -> Option<&AwsRoleConfig> {
        self.aws_role.as_ref()
    }

    /// The tenant's AWS external id: the one the service issued, else (a
    /// role configured before the service generated them) the configured one.
    pub fn aws_external_id(&self) -> Option<&str> {
        self.aws_external_id
            .as_deref()
            .or_else(|| self.aws_role.as_ref().map(AwsRoleConfig::external_id))
    }

    fn active_secret_count(&self) -> usize {
        self.webhook_secrets
            .values()
            .filter(|active| **active)
            .count()
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "Tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let tenant_id = match (&command, self.tenant_id()) {
            (TenantCommand::RegisterTenant { .. }, Some(_)) => {
                return Err(TenantError::AlreadyRegistered)
            }
            (TenantCommand::RegisterTenant { tenant_id, .. }, None) => *tenant_id,
            (_, Some(tenant_id)) => tenant_id,
            (_, None) => return Err(TenantError::NotRegistered),
        };
        let event = match command {
            TenantCommand::RegisterTenant { name, slug, .. } => TenantEvent::TenantRegistered {
                tenant_id,
                name,
                slug,
                at,
            },
            TenantCommand::IssueApiKey {
                key_id,
                hash,
                label,
                actor,
            } => {
                if self.api_keys.contains_key(&key_id) {
                    return Err(TenantError::ApiKeyIdTaken { key_id });
                }
                if self.api_keys.values().any(|record| record.hash == hash) {
                    return Err(TenantError::ApiKeyHashTaken);
                }
                TenantEvent::ApiKeyIssued {
                    tenant_id,
                    key_id,
                    key_hash: hash,
                    label,
                    actor,
                    at,
                }
            }
            TenantCommand::RevokeApiKey { key_id, actor } => {
                match self.api_keys.get(&key_id) {
                    None => return Err(TenantError::UnknownApiKey { key_id }),
                    Some(record) if !record.active => {
                        return Err(TenantError::ApiKeyAlreadyRevoked { key_id })
                    }
                    Some(_) => {}
                }
                TenantEvent::ApiKeyRevoked {
                    tenant_id,
                    key_id,
                    actor,
                    at,
                }
            }
            TenantCommand::AddWebhookSecret { secret_id, actor } => {
                if self.webhook_secrets.contains_key(&secret_id) {
                    return Err(TenantError::WebhookSecretIdTaken { secret_id });
                }
                if self.active_secret_count() >= MAX_ACTIVE_WEBHOOK_SECRETS {
                    return Err(TenantError::TooManyActiveSecrets {
                        max: MAX_ACTIVE_WEBHOOK_SECRETS,
                    });
                }
                TenantEvent::WebhookSecretAdded {
                    tenant_id,
                    secret_id,
                    actor,
                    at,
                }
            }
            TenantCommand::RevokeWebhookSecret { secret_id, actor } => {
                match self.webhook_secrets.get(&secret_id) {
                    None => return Err(TenantError::UnknownWebhookSecret { secret_id }),
                    Some(false) => {
                        return Err(TenantError::WebhookSecretAlreadyRevoked { secret_id })
                    }
                    Some(true) => {}
                }
                // Revoking the last secret while signing is on would refuse every webhook.
                if self.signing_required && self.active_secret_count() == 1 {
                    return Err(TenantError::LastActiveSecret);
                }
                TenantEvent::WebhookSecretRevoked {
                    tenant_id,
                    secret_id,
                    actor,
                    at,
                }
            }
            TenantCommand::SetSigningRequired { required, actor } => {
                // Setting what is already set records nothing (an idempotent PUT).
                if required == self.signing_required {
                    return Ok(());
                }
                if required && self.active_secret_count() == 0 {
                    return Err(TenantError::NoActiveSecret);
                }
                TenantEvent::SigningRequirementChanged {
                    tenant_id,
                    required,
                    actor,
                    at,
                }
            }
            TenantCommand::ChangeCorrelationPolicy { policy, actor } => {
                if policy == self.correlation_policy {
                    return Ok(());
                }
                TenantEvent::CorrelationPolicyChanged {
                    tenant_id,
                    policy,
                    actor,
                    at,
                }
            }
            TenantCommand::ChangeFlappingPolicy { policy, actor } => {
                if policy == self.flapping_policy {
                    return Ok(());
                }
                TenantEvent::FlappingPolicyChanged {
                    tenant_id,
                    policy,
                    actor,
                    at,
                }
            }
            TenantCommand::ChangeRateLimit { limit, actor } => {
                if limit == self.rate_limit {
                    return Ok(());
                }
                if actor.role() != Role::MspAdmin {
                    let ceiling = self.rate_limit_ceiling();
                    if limit.requests_per_minute() > ceiling.requests_per_minute() {
                        return Err(TenantError::AboveRateLimitCeiling {
                            field: "requests_per_minute",
                            max: ceiling.requests_per_minute(),
                        });
                    }
                    if limit.burst() > ceiling.burst() {
                        return Err(TenantError::AboveRateLimitCeiling {
                            field: "burst",
                            max: ceiling.burst(),
                        });
                    }
                }
                TenantEvent::RateLimitChanged {
                    tenant_id,
                    limit,
                    actor,
                    at,
                }
            }
            TenantCommand::SetRateLimitCeiling { ceiling, actor } => {
                if actor.role() != Role::MspAdmin {
                    return Err(TenantError::RateLimitCeilingNeedsMspAdmin);
                }
                if self.rate_limit_ceiling == Some(ceiling) {
                    return Ok(());
                }
                TenantEvent::RateLimitCeilingSet {
                    tenant_id,
                    ceiling,
                    actor,
                    at,
                }
            }
            TenantCommand::ChangeSeverityMap { map, actor } => {
                if map == self.severity_map {
                    return Ok(());
                }
                TenantEvent::SeverityMapChanged {
                    tenant_id,
                    map,
                    actor,
                    at,
                }
            }
            TenantCommand::UpsertAsset {
                asset,
                critical,
                instance_ids,
                actor,
            } => {
                let mut unique: Vec<InstanceId> = Vec::with_capacity(instance_ids.len());
                for id in instance_ids {
                    if !unique.contains(&id) {
                        unique.push(id);
                    }
                }
                if unique.len() > MAX_INSTANCES_PER_ASSET {
                    return Err(TenantError::TooManyInstances {
                        max: MAX_INSTANCES_PER_ASSET,
                    });
                }
                let settings = AssetSettings {
                    critical,
                    instance_ids: unique,
                };
                if self.assets.get(&asset) == Some(&settings) {
                    return Ok(());
                }
                TenantEvent::AssetUpserted {
                    tenant_id,
                    asset,
                    critical: settings.critical,
                    instance_ids: settings.instance_ids,
                    actor,
                    at,
                }
            }
            TenantCommand::IssueAwsExternalId { external_id, actor } => {
                if self.aws_external_id().is_some() {
                    return Err(TenantError::AwsExternalIdAlreadyIssued);
                }
                let valid = (16..=1224).contains(&external_id.len())
                    && external_id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
                if !valid {
                    return Err(TenantError::InvalidAwsExternalId);
                }
                TenantEvent::AwsExternalIdIssued {
                    tenant_id,
                    external_id,
                    actor,
                    at,
                }
            }
            TenantCommand::ConfigureAwsRole { config, actor } => {
                if self.aws_role.as_ref() == Some(&config) {
                    return Ok(());
                }
                // The tenant never chooses its external id.
                if self.aws_external_id() != Some(config.external_id()) {
                    return Err(TenantError::AwsExternalIdNotIssued);
                }
                TenantEvent::AwsRoleConfigured {
                    tenant_id,
                    config,
                    actor,
                    at,
                }
            }
            TenantCommand::RecordSnsSubscription {
                topic_arn,
                subscribe_url,
                message_id,
            } => {
                let plausible = topic_arn.starts_with("arn:aws")
                    && subscribe_url.starts_with("https://")
                    && !message_id.is_empty()
                    && [&topic_arn, &subscribe_url, &message_id]
                        .iter()
                        .all(|v| v.len() <= 2048);
                if !plausible {
                    return Err(TenantError::InvalidSnsSubscription);
                }
                if self.sns_subscription_messages.contains(&message_id) {
                    return Ok(());
                }
                TenantEvent::SnsSubscriptionRequested {
                    tenant_id,
                    topic_arn,
                    subscribe_url,
                    message_id,
                    at,
                }
            }
            TenantCommand::PinSnsTopics { topic_arns, actor } => {
                if topic_arns.len() > MAX_PINNED_SNS_TOPICS {
                    return Err(TenantError::TooManySnsTopics {
                        max: MAX_PINNED_SNS_TOPICS,
                    });
                }
                if topic_arns == self.sns_topics {
                    return Ok(());
                }
                TenantEvent::SnsTopicsPinned {
                    tenant_id,
                    topic_arns: topic_arns.into_iter().collect(),
                    actor,
                    at,
                }
            }
            TenantCommand::RequestCorrelation { actor } => TenantEvent::CorrelationRequested {
                tenant_id,
                actor,
                at,
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TenantEvent::TenantRegistered {
                tenant_id,
                name,
                slug,
                ..
            } => {
                self.registration = Some(Registration {
                    tenant_id,
                    name,
                    slug,
                });
            }
            TenantEvent::ApiKeyIssued {
                key_id, key_hash, ..
            } => {
                self.api_keys.insert(
                    key_id,
                    ApiKeyRecord {
                        hash: key_hash,
                        active: true,
                    },
                );
            }
            TenantEvent::ApiKeyRevoked { key_id, .. } => {
                if let Some(record) = self.api_keys.get_mut(&key_id) {
                    record.active = false;
                }
            }
            TenantEvent::WebhookSecretAdded { secret_id, .. } => {
                self.webhook_secrets.insert(secret_id, true);
            }
            TenantEvent::WebhookSecretRevoked { secret_id, .. } => {
                self.webhook_secrets.insert(secret_id, false);
            }
            TenantEvent::SigningRequirementChanged { required, .. } => {
                self.signing_required = required;
            }
            TenantEvent::CorrelationPolicyChanged { policy, .. } => {
                self.correlation_policy = policy;
            }
            TenantEvent::FlappingPolicyChanged { policy, .. } => {
                self.flapping_policy = policy;
            }
            TenantEvent::RateLimitChanged { limit, .. } => self.rate_limit = limit,
            TenantEvent::RateLimitCeilingSet { ceiling, .. } => {
                self.rate_limit_ceiling = Some(ceiling);
            }
            TenantEvent::AssetUpserted {
                asset,
                critical,
                instance_ids,
                ..
            } => {
                self.assets.insert(
                    asset,
                    AssetSettings {
                        critical,
                        instance_ids,
                    },
                );
            }
            TenantEvent::AwsExternalIdIssued { external_id, .. } => {
                self.aws_external_id = Some(external_id);
            }
            TenantEvent::AwsRoleConfigured { config, .. } => self.aws_role = Some(config),
            TenantEvent::SnsSubscriptionRequested { message_id, .. } => {
                self.sns_subscription_messages.insert(message_id);
            }
            TenantEvent::SeverityMapChanged { map, .. } => self.severity_map = map,
            TenantEvent::SnsTopicsPinned { topic_arns, .. } => {
                self.sns_topics = topic_arns.into_iter().collect();
            }
            TenantEvent::CorrelationRequested { .. } => {}
        }
    }
}
