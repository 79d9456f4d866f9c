#![allow(clippy::unwrap_used)]

use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{NotificationChannelId, Role, TenantId};

fn given(
    events: Vec<NotificationSetupEvent>,
) -> cqrs_es::test::AggregateTestExecutor<NotificationSetup> {
    TestFramework::<NotificationSetup>::with(services()).given(events)
}

fn channel(n: u128) -> NotificationChannelId {
    NotificationChannelId::from_uuid(Uuid::from_u128(n))
}

fn slack() -> ChannelSettings {
    ChannelSettings::Slack {
        url_host: "hooks.slack.com".to_owned(),
    }
}

fn added(n: u128) -> NotificationSetupEvent {
    NotificationSetupEvent::NotificationChannelAdded {
        tenant_id: tenant_id(),
        channel_id: channel(n),
        name: ChannelName::parse("ops").unwrap(),
        settings: slack(),
        actor: actor("admin-1", Role::TenantAdmin),
        at: now(),
    }
}

fn add(n: u128, tenant: TenantId) -> NotificationSetupCommand {
    NotificationSetupCommand::AddChannel {
        tenant_id: tenant,
        channel_id: channel(n),
        name: ChannelName::parse(" ops ").unwrap(),
        settings: slack(),
        actor: actor("admin-1", Role::TenantAdmin),
    }
}

#[test]
fn adding_a_channel_records_its_settings_and_actor() {
    given(vec![])
        .when(add(1, tenant_id()))
        .then_expect_events(vec![added(1)]);
}

#[test]
fn a_channel_id_is_never_reused_even_after_removal() {
    let removed = NotificationSetupEvent::NotificationChannelRemoved {
        tenant_id: tenant_id(),
        channel_id: channel(1),
        actor: actor("admin-1", Role::TenantAdmin),
        at: now(),
    };
    given(vec![added(1)])
        .when(add(1, tenant_id()))
        .then_expect_error(NotificationSetupError::ChannelIdTaken {
            channel_id: channel(1),
        });
    // Removal forgets the channel, so its id is free in the fold; the API
    // mints v7 ids, which never repeat.
    given(vec![added(1), removed])
        .when(NotificationSetupCommand::RemoveChannel {
            channel_id: channel(1),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_error(NotificationSetupError::UnknownChannel {
            channel_id: channel(1),
        });
}

#[test]
fn removing_an_unknown_channel_is_refused() {
    given(vec![added(1)])
        .when(NotificationSetupCommand::RemoveChannel {
            channel_id: channel(2),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_error(NotificationSetupError::UnknownChannel {
            channel_id: channel(2),
        });
}

#[test]
fn another_tenants_channel_cannot_join_this_set_up() {
    let other = TenantId::from_uuid(Uuid::from_u128(99));
    given(vec![added(1)])
        .when(add(2, other))
        .then_expect_error(NotificationSetupError::WrongTenant);
}

#[test]
fn channel_types_read_only_the_api_spelling() {
    assert_eq!(
        ChannelType::parse("pagerduty").unwrap(),
        ChannelType::Pagerduty
    );
    assert_eq!(ChannelType::parse("sms").unwrap_err().field(), "type");
    assert_eq!(slack().channel_type(), ChannelType::Slack);
    assert_eq!(
        serde_json::to_value(slack()).unwrap(),
        serde_json::json!({"type": "slack", "url_host": "hooks.slack.com"})
    );
}

fn rule_naming(channels: &[NotificationChannelId]) -> RuleSpec {
    let channels: Vec<String> = channels.iter().map(ToString::to_string).collect();
    RuleSpec::new(
        "critical to ops",
        &["incident_opened".to_owned()],
        Some("high"),
        &["asset=~\"srv-.*\"".to_owned()],
        Some(&channels),
        None,
    )
    .unwrap()
}

#[test]
fn a_rule_may_only_name_the_tenants_channels() {
    let rule_id = crate::values::NotificationRuleId::from_uuid(Uuid::from_u128(7));
    given(vec![added(1)])
        .when(NotificationSetupCommand::AddRule {
            tenant_id: tenant_id(),
            rule_id,
            rule: rule_naming(&[channel(1), channel(2)]),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_error(NotificationSetupError::RuleNamesUnknownChannel { index: 1 });
    given(vec![added(1)])
        .when(NotificationSetupCommand::AddRule {
            tenant_id: tenant_id(),
            rule_id,
            rule: rule_naming(&[channel(1)]),
            actor: actor("admin-1", Role::TenantAdmin),
        })
        .then_expect_events(vec![NotificationSetupEvent::NotificationRuleAdded {
            tenant_id: tenant_id(),
            rule_id,
            rule: rule_naming(&[channel(1)]),
            actor: actor("admin-1", Role::TenantAdmin),
            at: now(),
        }]);
}

#[test]
fn rule_errors_name_the_field() {
    let field = |events: &[&str],
                 min: Option<&str>,
                 matchers: &[&str],
                 channels: Option<&[&str]>,
                 policy: Option<&str>| {
        let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
        let matchers: Vec<String> = matchers.iter().map(|m| (*m).to_owned()).collect();
        let channels: Option<Vec<String>> =
            channels.map(|c| c.iter().map(|c| (*c).to_owned()).collect());
        RuleSpec::new("r", &events, min, &matchers, channels.as_deref(), policy)
            .unwrap_err()
            .field
    };
    let id = Uuid::from_u128(1).to_string();
    let ok: &[&str] = &[id.as_str()];
    assert_eq!(
        field(&["incident_opened", "nope"], None, &[], Some(ok), None),
        "events[1]"
    );
    assert_eq!(
        field(&["incident_opened"], Some("urgent"), &[], Some(ok), None),
        "min_severity"
    );
    assert_eq!(
        field(&["incident_opened"], None, &["a=~\"(\""], Some(ok), None),
        "matchers[0]"
    );
    assert_eq!(
        field(&["incident_opened"], None, &[], Some(&["x"]), None),
        "channels[0]"
    );
    assert_eq!(
        field(&["incident_opened"], None, &[], Some(ok), Some(&id)),
        "escalation_policy"
    );
    assert_eq!(
        field(&["incident_opened"], None, &[], None, None),
        "channels"
    );
}

#[test]
fn a_tenant_sets_its_coalescing_interval_and_can_go_back_to_the_process_setting() {
    let admin = actor("admin-1", Role::TenantAdmin);
    let set = NotificationSetupEvent::NotificationSettingsChanged {
        tenant_id: tenant_id(),
        coalesce_seconds: Some(30),
        actor: admin.clone(),
        at: now(),
    };
    given(vec![])
        .when(NotificationSetupCommand::ChangeSettings {
            tenant_id: tenant_id(),
            coalesce_seconds: Some(CoalesceSeconds::try_from(30).unwrap()),
            actor: admin.clone(),
        })
        .then_expect_events(vec![set.clone()]);
    given(vec![set.clone()])
        .when(NotificationSetupCommand::ChangeSettings {
            tenant_id: tenant_id(),
            coalesce_seconds: None,
            actor: admin.clone(),
        })
        .then_expect_events(vec![NotificationSetupEvent::NotificationSettingsChanged {
            tenant_id: tenant_id(),
            coalesce_seconds: None,
            actor: admin.clone(),
            at: now(),
        }]);
    given(vec![set.clone()])
        .when(NotificationSetupCommand::ChangeSettings {
            tenant_id: TenantId::from_uuid(Uuid::from_u128(99)),
            coalesce_seconds: None,
            actor: admin,
        })
        .then_expect_error(NotificationSetupError::WrongTenant);
    let mut setup = NotificationSetup::default();
    cqrs_es::Aggregate::apply(&mut setup, set);
    assert_eq!(setup.coalesce_seconds(), Some(30));
}
