#![allow(clippy::unwrap_used)]

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    Actor, ApiKeyHash, ApiKeyId, AssetName, AwsRoleConfig, CorrelationPolicy, InstanceId,
    RateLimit, Role, SnsTopicArn, TenantName, TenantSlug, WebhookSecretId, MAX_PINNED_SNS_TOPICS,
};

type Given = TestFramework<Tenant>;

fn given(events: Vec<TenantEvent>) -> cqrs_es::test::AggregateTestExecutor<Tenant> {
    Given::with(services()).given(events)
}

fn admin() -> Actor {
    actor("admin-1", Role::TenantAdmin)
}

fn registered() -> TenantEvent {
    TenantEvent::TenantRegistered {
        tenant_id: tenant_id(),
        name: TenantName::parse("Acme Corp").unwrap(),
        slug: TenantSlug::parse("acme").unwrap(),
        at: now(),
    }
}

fn key_id(n: u128) -> ApiKeyId {
    ApiKeyId::from_uuid(Uuid::from_u128(n))
}

fn hash(c: char) -> ApiKeyHash {
    ApiKeyHash::parse(&c.to_string().repeat(64)).unwrap()
}

fn secret_id(n: u128) -> WebhookSecretId {
    WebhookSecretId::from_uuid(Uuid::from_u128(n))
}

fn key_issued(n: u128, c: char) -> TenantEvent {
    TenantEvent::ApiKeyIssued {
        tenant_id: tenant_id(),
        key_id: key_id(n),
        key_hash: hash(c),
        label: None,
        actor: admin(),
        at: now(),
    }
}

fn key_revoked(n: u128) -> TenantEvent {
    TenantEvent::ApiKeyRevoked {
        tenant_id: tenant_id(),
        key_id: key_id(n),
        actor: admin(),
        at: now(),
    }
}

fn secret_added(n: u128) -> TenantEvent {
    TenantEvent::WebhookSecretAdded {
        tenant_id: tenant_id(),
        secret_id: secret_id(n),
        actor: admin(),
        at: now(),
    }
}

fn secret_revoked(n: u128) -> TenantEvent {
    TenantEvent::WebhookSecretRevoked {
        tenant_id: tenant_id(),
        secret_id: secret_id(n),
        actor: admin(),
        at: now(),
    }
}

fn signing(required: bool) -> TenantEvent {
    TenantEvent::SigningRequirementChanged {
        tenant_id: tenant_id(),
        required,
        actor: admin(),
        at: now(),
    }
}

fn register() -> TenantCommand {
    TenantCommand::RegisterTenant {
        tenant_id: tenant_id(),
        name: TenantName::parse("Acme Corp").unwrap(),
        slug: TenantSlug::parse("acme").unwrap(),
    }
}

fn policy(window: u32) -> CorrelationPolicy {
    CorrelationPolicy::new(window, Default::default(), true, 1, false).unwrap()
}

fn instance(n: u32) -> InstanceId {
    InstanceId::parse(&format!("i-{n:017x}")).unwrap()
}

fn aws_config() -> AwsRoleConfig {
    AwsRoleConfig::new(
        "arn:aws:iam::123456789012:role/AlertLedger",
        "ext-42",
        "eu-west-1",
    )
    .unwrap()
}

#[test]
fn registering_a_new_tenant_records_it() {
    given(vec![])
        .when(register())
        .then_expect_events(vec![registered()]);
}

#[test]
fn registering_a_tenant_twice_is_rejected() {
    given(vec![registered()])
        .when(register())
        .then_expect_error(TenantError::AlreadyRegistered);
}

#[test]
fn every_other_command_before_registration_is_rejected() {
    let commands = vec![
        TenantCommand::IssueApiKey {
            key_id: key_id(1),
            hash: hash('a'),
            label: None,
            actor: admin(),
        },
        TenantCommand::RevokeApiKey {
            key_id: key_id(1),
            actor: admin(),
        },
        TenantCommand::AddWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        },
        TenantCommand::RevokeWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        },
        TenantCommand::SetSigningRequired {
            required: true,
            actor: admin(),
        },
        TenantCommand::ChangeCorrelationPolicy {
            policy: policy(30),
            actor: admin(),
        },
        TenantCommand::ChangeRateLimit {
            limit: RateLimit::new(1, 1).unwrap(),
            actor: admin(),
        },
        TenantCommand::UpsertAsset {
            asset: AssetName::parse("web01").unwrap(),
            critical: true,
            instance_ids: vec![],
            actor: admin(),
        },
        TenantCommand::ConfigureAwsRole {
            config: aws_config(),
            actor: admin(),
        },
    ];
    for command in commands {
        given(vec![])
            .when(command)
            .then_expect_error(TenantError::NotRegistered);
    }
}

#[test]
fn issuing_an_api_key_records_only_its_hash() {
    let label = crate::values::ApiKeyLabel::parse("prometheus prod").unwrap();
    given(vec![registered()])
        .when(TenantCommand::IssueApiKey {
            key_id: key_id(1),
            hash: hash('a'),
            label: Some(label.clone()),
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::ApiKeyIssued {
            tenant_id: tenant_id(),
            key_id: key_id(1),
            key_hash: hash('a'),
            label: Some(label),
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn issuing_a_key_with_a_taken_id_is_rejected() {
    given(vec![registered(), key_issued(1, 'a')])
        .when(TenantCommand::IssueApiKey {
            key_id: key_id(1),
            hash: hash('b'),
            label: None,
            actor: admin(),
        })
        .then_expect_error(TenantError::ApiKeyIdTaken { key_id: key_id(1) });
}

#[test]
fn issuing_a_key_with_a_known_hash_is_rejected() {
    given(vec![registered(), key_issued(1, 'a'), key_revoked(1)])
        .when(TenantCommand::IssueApiKey {
            key_id: key_id(2),
            hash: hash('a'),
            label: None,
            actor: admin(),
        })
        .then_expect_error(TenantError::ApiKeyHashTaken);
}

#[test]
fn revoking_an_active_key_records_it() {
    given(vec![registered(), key_issued(1, 'a')])
        .when(TenantCommand::RevokeApiKey {
            key_id: key_id(1),
            actor: admin(),
        })
        .then_expect_events(vec![key_revoked(1)]);
}

#[test]
fn revoking_an_unknown_key_is_rejected() {
    given(vec![registered()])
        .when(TenantCommand::RevokeApiKey {
            key_id: key_id(9),
            actor: admin(),
        })
        .then_expect_error(TenantError::UnknownApiKey { key_id: key_id(9) });
}

#[test]
fn revoking_a_revoked_key_is_rejected() {
    given(vec![registered(), key_issued(1, 'a'), key_revoked(1)])
        .when(TenantCommand::RevokeApiKey {
            key_id: key_id(1),
            actor: admin(),
        })
        .then_expect_error(TenantError::ApiKeyAlreadyRevoked { key_id: key_id(1) });
}

#[test]
fn adding_a_webhook_secret_records_only_its_id() {
    given(vec![registered()])
        .when(TenantCommand::AddWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        })
        .then_expect_events(vec![secret_added(1)]);
}

#[test]
fn a_second_active_secret_is_allowed_for_rotation() {
    given(vec![registered(), secret_added(1)])
        .when(TenantCommand::AddWebhookSecret {
            secret_id: secret_id(2),
            actor: admin(),
        })
        .then_expect_events(vec![secret_added(2)]);
}

#[test]
fn a_third_active_secret_is_rejected() {
    given(vec![registered(), secret_added(1), secret_added(2)])
        .when(TenantCommand::AddWebhookSecret {
            secret_id: secret_id(3),
            actor: admin(),
        })
        .then_expect_error(TenantError::TooManyActiveSecrets { max: 2 });
}

#[test]
fn a_secret_can_be_added_once_one_of_two_is_revoked() {
    given(vec![
        registered(),
        secret_added(1),
        secret_added(2),
        secret_revoked(1),
    ])
    .when(TenantCommand::AddWebhookSecret {
        secret_id: secret_id(3),
        actor: admin(),
    })
    .then_expect_events(vec![secret_added(3)]);
}

#[test]
fn adding_a_secret_with_a_taken_id_is_rejected() {
    given(vec![registered(), secret_added(1), secret_revoked(1)])
        .when(TenantCommand::AddWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        })
        .then_expect_error(TenantError::WebhookSecretIdTaken {
            secret_id: secret_id(1),
        });
}

#[test]
fn revoking_an_active_secret_records_it() {
    given(vec![registered(), secret_added(1)])
        .when(TenantCommand::RevokeWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        })
        .then_expect_events(vec![secret_revoked(1)]);
}

#[test]
fn revoking_an_unknown_secret_is_rejected() {
    given(vec![registered()])
        .when(TenantCommand::RevokeWebhookSecret {
            secret_id: secret_id(9),
            actor: admin(),
        })
        .then_expect_error(TenantError::UnknownWebhookSecret {
            secret_id: secret_id(9),
        });
}

#[test]
fn revoking_a_revoked_secret_is_rejected() {
    given(vec![registered(), secret_added(1), secret_revoked(1)])
        .when(TenantCommand::RevokeWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        })
        .then_expect_error(TenantError::WebhookSecretAlreadyRevoked {
            secret_id: secret_id(1),
        });
}

#[test]
fn revoking_the_last_secret_while_signing_is_required_is_rejected() {
    given(vec![registered(), secret_added(1), signing(true)])
        .when(TenantCommand::RevokeWebhookSecret {
            secret_id: secret_id(1),
            actor: admin(),
        })
        .then_expect_error(TenantError::LastActiveSecret);
}

#[test]
fn revoking_one_of_two_secrets_while_signing_is_required_is_allowed() {
    given(vec![
        registered(),
        secret_added(1),
        secret_added(2),
        signing(true),
    ])
    .when(TenantCommand::RevokeWebhookSecret {
        secret_id: secret_id(1),
        actor: admin(),
    })
    .then_expect_events(vec![secret_revoked(1)]);
}

#[test]
fn requiring_signing_with_an_active_secret_records_it() {
    given(vec![registered(), secret_added(1)])
        .when(TenantCommand::SetSigningRequired {
            required: true,
            actor: admin(),
        })
        .then_expect_events(vec![signing(true)]);
}

#[test]
fn requiring_signing_without_an_active_secret_is_rejected() {
    given(vec![registered(), secret_added(1), secret_revoked(1)])
        .when(TenantCommand::SetSigningRequired {
            required: true,
            actor: admin(),
        })
        .then_expect_error(TenantError::NoActiveSecret);
}

#[test]
fn turning_signing_off_records_it() {
    given(vec![registered(), secret_added(1), signing(true)])
        .when(TenantCommand::SetSigningRequired {
            required: false,
            actor: admin(),
        })
        .then_expect_events(vec![signing(false)]);
}

#[test]
fn setting_the_signing_requirement_it_already_has_records_nothing() {
    given(vec![registered()])
        .when(TenantCommand::SetSigningRequired {
            required: false,
            actor: admin(),
        })
        .then_expect_events(vec![]);
    given(vec![registered(), secret_added(1), signing(true)])
        .when(TenantCommand::SetSigningRequired {
            required: true,
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_correlation_policy_records_it() {
    given(vec![registered()])
        .when(TenantCommand::ChangeCorrelationPolicy {
            policy: policy(30),
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::CorrelationPolicyChanged {
            tenant_id: tenant_id(),
            policy: policy(30),
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn setting_the_current_correlation_policy_records_nothing() {
    given(vec![registered()])
        .when(TenantCommand::ChangeCorrelationPolicy {
            policy: CorrelationPolicy::default(),
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_rate_limit_records_it() {
    let limit = RateLimit::new(60, 100).unwrap();
    given(vec![registered()])
        .when(TenantCommand::ChangeRateLimit {
            limit,
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::RateLimitChanged {
            tenant_id: tenant_id(),
            limit,
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn setting_the_current_rate_limit_records_nothing() {
    given(vec![registered()])
        .when(TenantCommand::ChangeRateLimit {
            limit: RateLimit::default(),
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

fn msp() -> Actor {
    actor("msp-1", Role::MspAdmin)
}

#[test]
fn a_tenant_admin_cannot_raise_the_limit_above_the_default_ceiling() {
    let ceiling = RateLimit::default();
    given(vec![registered()])
        .when(TenantCommand::ChangeRateLimit {
            limit: RateLimit::new(ceiling.requests_per_minute() + 1, 10).unwrap(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AboveRateLimitCeiling {
            field: "requests_per_minute",
            max: ceiling.requests_per_minute(),
        });
    given(vec![registered()])
        .when(TenantCommand::ChangeRateLimit {
            limit: RateLimit::new(10, ceiling.burst() + 1).unwrap(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AboveRateLimitCeiling {
            field: "burst",
            max: ceiling.burst(),
        });
}

#[test]
fn an_msp_admin_sets_the_ceiling_and_is_not_bound_by_it() {
    let ceiling = RateLimit::new(5000, 2000).unwrap();
    given(vec![registered()])
        .when(TenantCommand::SetRateLimitCeiling {
            ceiling,
            actor: msp(),
        })
        .then_expect_events(vec![TenantEvent::RateLimitCeilingSet {
            tenant_id: tenant_id(),
            ceiling,
            actor: msp(),
            at: now(),
        }]);
    let set = TenantEvent::RateLimitCeilingSet {
        tenant_id: tenant_id(),
        ceiling,
        actor: msp(),
        at: now(),
    };
    // Up to the ceiling: allowed.
    given(vec![registered(), set.clone()])
        .when(TenantCommand::ChangeRateLimit {
            limit: ceiling,
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::RateLimitChanged {
            tenant_id: tenant_id(),
            limit: ceiling,
            actor: admin(),
            at: now(),
        }]);
    let above = RateLimit::new(5001, 2000).unwrap();
    given(vec![registered(), set.clone()])
        .when(TenantCommand::ChangeRateLimit {
            limit: above,
            actor: admin(),
        })
        .then_expect_error(TenantError::AboveRateLimitCeiling {
            field: "requests_per_minute",
            max: 5000,
        });
    given(vec![registered(), set.clone()])
        .when(TenantCommand::ChangeRateLimit {
            limit: above,
            actor: msp(),
        })
        .then_expect_events(vec![TenantEvent::RateLimitChanged {
            tenant_id: tenant_id(),
            limit: above,
            actor: msp(),
            at: now(),
        }]);
    // The same ceiling again records nothing.
    given(vec![registered(), set])
        .when(TenantCommand::SetRateLimitCeiling {
            ceiling,
            actor: msp(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn only_an_msp_admin_sets_the_ceiling() {
    given(vec![registered()])
        .when(TenantCommand::SetRateLimitCeiling {
            ceiling: RateLimit::new(10, 10).unwrap(),
            actor: admin(),
        })
        .then_expect_error(TenantError::RateLimitCeilingNeedsMspAdmin);
}

#[test]
fn upserting_an_asset_records_it_without_duplicate_instances() {
    let asset = AssetName::parse("web01").unwrap();
    given(vec![registered()])
        .when(TenantCommand::UpsertAsset {
            asset: asset.clone(),
            critical: true,
            instance_ids: vec![instance(1), instance(2), instance(1)],
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::AssetUpserted {
            tenant_id: tenant_id(),
            asset,
            critical: true,
            instance_ids: vec![instance(1), instance(2)],
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn upserting_an_asset_without_changes_records_nothing() {
    let asset = AssetName::parse("web01").unwrap();
    let upserted = TenantEvent::AssetUpserted {
        tenant_id: tenant_id(),
        asset: asset.clone(),
        critical: true,
        instance_ids: vec![instance(1)],
        actor: admin(),
        at: now(),
    };
    given(vec![registered(), upserted])
        .when(TenantCommand::UpsertAsset {
            asset,
            critical: true,
            instance_ids: vec![instance(1)],
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn upserting_an_asset_with_more_than_fifty_instances_is_rejected() {
    given(vec![registered()])
        .when(TenantCommand::UpsertAsset {
            asset: AssetName::parse("web01").unwrap(),
            critical: false,
            instance_ids: (0..51).map(instance).collect(),
            actor: admin(),
        })
        .then_expect_error(TenantError::TooManyInstances { max: 50 });
}

fn external_id_issued(external_id: &str) -> TenantEvent {
    TenantEvent::AwsExternalIdIssued {
        tenant_id: tenant_id(),
        external_id: external_id.to_owned(),
        actor: admin(),
        at: now(),
    }
}

#[test]
fn the_service_issues_the_external_id_once_and_the_role_must_use_it() {
    let generated = "Zp3x_Q9-kT2mW8rY1bN5vC7dF0gH4jL6";
    given(vec![registered()])
        .when(TenantCommand::IssueAwsExternalId {
            external_id: generated.to_owned(),
            actor: admin(),
        })
        .then_expect_events(vec![external_id_issued(generated)]);
    given(vec![registered(), external_id_issued(generated)])
        .when(TenantCommand::IssueAwsExternalId {
            external_id: "another-one-of-32-characters-xyz".to_owned(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AwsExternalIdAlreadyIssued);
    given(vec![registered()])
        .when(TenantCommand::IssueAwsExternalId {
            external_id: "short".to_owned(),
            actor: admin(),
        })
        .then_expect_error(TenantError::InvalidAwsExternalId);
    // A role with an external id of the tenant's choosing is refused...
    given(vec![registered()])
        .when(TenantCommand::ConfigureAwsRole {
            config: aws_config(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AwsExternalIdNotIssued);
    given(vec![registered(), external_id_issued(generated)])
        .when(TenantCommand::ConfigureAwsRole {
            config: aws_config(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AwsExternalIdNotIssued);
    // ...and one with the issued id accepted.
    let config = AwsRoleConfig::new(
        "arn:aws:iam::123456789012:role/AlertLedger",
        generated,
        "eu-west-1",
    )
    .unwrap();
    given(vec![registered(), external_id_issued(generated)])
        .when(TenantCommand::ConfigureAwsRole {
            config: config.clone(),
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::AwsRoleConfigured {
            tenant_id: tenant_id(),
            config,
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn a_role_configured_before_external_ids_were_issued_keeps_its_id() {
    let legacy = TenantEvent::AwsRoleConfigured {
        tenant_id: tenant_id(),
        config: aws_config(),
        actor: admin(),
        at: now(),
    };
    let moved = AwsRoleConfig::new(
        "arn:aws:iam::123456789012:role/Other",
        aws_config().external_id(),
        "eu-west-1",
    )
    .unwrap();
    given(vec![registered(), legacy.clone()])
        .when(TenantCommand::ConfigureAwsRole {
            config: moved.clone(),
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::AwsRoleConfigured {
            tenant_id: tenant_id(),
            config: moved,
            actor: admin(),
            at: now(),
        }]);
    given(vec![registered(), legacy])
        .when(TenantCommand::IssueAwsExternalId {
            external_id: "Zp3x_Q9-kT2mW8rY1bN5vC7dF0gH4jL6".to_owned(),
            actor: admin(),
        })
        .then_expect_error(TenantError::AwsExternalIdAlreadyIssued);
}

#[test]
fn configuring_the_aws_role_records_it() {
    given(vec![registered(), external_id_issued("ext-42")])
        .when(TenantCommand::ConfigureAwsRole {
            config: aws_config(),
            actor: admin(),
        })
        .then_expect_events(vec![TenantEvent::AwsRoleConfigured {
            tenant_id: tenant_id(),
            config: aws_config(),
            actor: admin(),
            at: now(),
        }]);
}

#[test]
fn configuring_the_current_aws_role_records_nothing() {
    let configured = TenantEvent::AwsRoleConfigured {
        tenant_id: tenant_id(),
        config: aws_config(),
        actor: admin(),
        at: now(),
    };
    given(vec![registered(), configured])
        .when(TenantCommand::ConfigureAwsRole {
            config: aws_config(),
            actor: admin(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn the_folded_state_shows_the_current_configuration() {
    let mut tenant = Tenant::default();
    let asset = AssetName::parse("web01").unwrap();
    for event in [
        registered(),
        key_issued(1, 'a'),
        key_issued(2, 'b'),
        key_revoked(1),
        secret_added(1),
        signing(true),
        TenantEvent::AssetUpserted {
            tenant_id: tenant_id(),
            asset: asset.clone(),
            critical: true,
            instance_ids: vec![instance(1)],
            actor: admin(),
            at: now(),
        },
    ] {
        tenant.apply(event);
    }
    assert_eq!(tenant.tenant_id(), Some(tenant_id()));
    let keys: Vec<ApiKeyId> = tenant.active_api_keys().map(|(id, _)| id).collect();
    assert_eq!(keys, vec![key_id(2)]);
    assert_eq!(
        tenant.active_webhook_secrets().collect::<Vec<_>>(),
        vec![secret_id(1)]
    );
    assert!(tenant.signing_required());
    let settings = tenant.asset(&asset).unwrap();
    assert!(settings.critical());
    assert_eq!(settings.instance_ids(), &[instance(1)]);
    assert_eq!(tenant.rate_limit(), RateLimit::default());
    assert_eq!(tenant.correlation_policy(), &CorrelationPolicy::default());
    assert!(tenant.aws_role().is_none());
}

#[test]
fn tenant_events_serialize_externally_tagged_with_their_tenant() {
    let event = key_issued(1, 'a');
    assert_eq!(event.event_type(), "ApiKeyIssued");
    assert_eq!(event.event_version(), "1.0");
    let json = serde_json::to_value(&event).unwrap();
    let body = &json["ApiKeyIssued"];
    assert_eq!(json.as_object().unwrap().len(), 1);
    assert_eq!(body["tenant_id"], tenant_id().to_string());
    assert_eq!(body["key_hash"], "a".repeat(64));
    assert_eq!(body["at"], "2026-03-14T09:26:53Z");
    assert_eq!(serde_json::from_value::<TenantEvent>(json).unwrap(), event);
}

#[test]
fn the_tenant_state_round_trips_through_json() {
    let mut tenant = Tenant::default();
    for event in [registered(), key_issued(1, 'a'), secret_added(1)] {
        tenant.apply(event);
    }
    tenant.apply(TenantEvent::AssetUpserted {
        tenant_id: tenant_id(),
        asset: AssetName::parse("web01").unwrap(),
        critical: false,
        instance_ids: vec![instance(1)],
        actor: admin(),
        at: now(),
    });
    let json = serde_json::to_string(&tenant).unwrap();
    assert_eq!(serde_json::from_str::<Tenant>(&json).unwrap(), tenant);
}

fn sns_request(message_id: &str) -> TenantCommand {
    TenantCommand::RecordSnsSubscription {
        topic_arn: "arn:aws:sns:eu-west-1:123456789012:alarms".into(),
        subscribe_url: "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
            .into(),
        message_id: message_id.into(),
    }
}

fn sns_requested(message_id: &str) -> TenantEvent {
    TenantEvent::SnsSubscriptionRequested {
        tenant_id: tenant_id(),
        topic_arn: "arn:aws:sns:eu-west-1:123456789012:alarms".into(),
        subscribe_url: "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t"
            .into(),
        message_id: message_id.into(),
        at: now(),
    }
}

#[test]
fn an_sns_subscription_request_is_recorded_for_an_operator() {
    given(vec![registered()])
        .when(sns_request("m-1"))
        .then_expect_events(vec![sns_requested("m-1")]);
}

#[test]
fn a_retried_sns_subscription_request_is_recorded_once() {
    given(vec![registered(), sns_requested("m-1")])
        .when(sns_request("m-1"))
        .then_expect_events(vec![]);
}

#[test]
fn an_sns_subscription_request_without_an_https_url_is_rejected() {
    let command = TenantCommand::RecordSnsSubscription {
        topic_arn: "arn:aws:sns:eu-west-1:123456789012:alarms".into(),
        subscribe_url: "http://evil.example/confirm".into(),
        message_id: "m-2".into(),
    };
    given(vec![registered()])
        .when(command)
        .then_expect_error(TenantError::InvalidSnsSubscription);
}

#[test]
fn an_sns_subscription_request_for_an_unregistered_tenant_is_rejected() {
    given(vec![])
        .when(sns_request("m-1"))
        .then_expect_error(TenantError::NotRegistered);
}

fn topics(names: &[&str]) -> Vec<SnsTopicArn> {
    names
        .iter()
        .map(|name| {
            SnsTopicArn::parse(&format!("arn:aws:sns:eu-west-1:123456789012:{name}")).unwrap()
        })
        .collect()
}

fn pin(names: &[&str]) -> TenantCommand {
    TenantCommand::PinSnsTopics {
        topic_arns: topics(names).into_iter().collect(),
        actor: admin(),
    }
}

fn pinned(names: &[&str]) -> TenantEvent {
    TenantEvent::SnsTopicsPinned {
        tenant_id: tenant_id(),
        topic_arns: topics(names),
        actor: admin(),
        at: now(),
    }
}

#[test]
fn sns_topics_are_pinned_by_an_actor_and_sorted() {
    given(vec![registered()])
        .when(pin(&["b-alarms", "a-alarms"]))
        .then_expect_events(vec![pinned(&["a-alarms", "b-alarms"])]);
}

#[test]
fn pinning_the_same_topics_again_changes_nothing() {
    given(vec![registered(), pinned(&["alarms"])])
        .when(pin(&["alarms"]))
        .then_expect_events(vec![]);
    given(vec![registered(), pinned(&["alarms"])])
        .when(pin(&[]))
        .then_expect_events(vec![pinned(&[])]);
}

#[test]
fn at_most_so_many_topics_may_be_pinned() {
    let names: Vec<String> = (0..=MAX_PINNED_SNS_TOPICS)
        .map(|i| format!("t{i}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    given(vec![registered()])
        .when(pin(&names))
        .then_expect_error(TenantError::TooManySnsTopics {
            max: MAX_PINNED_SNS_TOPICS,
        });
}
