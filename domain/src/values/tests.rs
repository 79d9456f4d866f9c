#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::Duration;
use uuid::Uuid;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
    .unwrap()
}

fn tenant(n: u128) -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(n))
}

#[test]
fn a_value_error_names_the_field_and_the_problem() {
    let error = AssetName::parse("").unwrap_err();
    assert_eq!(error.field(), "asset_name");
    assert_eq!(error.problem(), "must not be empty");
    assert_eq!(error.to_string(), "invalid asset_name: must not be empty");
}

#[test]
fn ids_parse_uuids_and_serialize_as_plain_strings() {
    let id = IncidentId::parse("0190a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b").unwrap();
    assert_eq!(id.to_string(), "0190a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b");
    let json = serde_json::to_string(&id).unwrap();
    assert_eq!(json, "\"0190a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b\"");
    assert_eq!(serde_json::from_str::<IncidentId>(&json).unwrap(), id);
}

#[test]
fn ids_reject_text_that_is_not_a_uuid() {
    let error = TenantId::parse("acme").unwrap_err();
    assert_eq!(error.field(), "tenant_id");
    assert!(serde_json::from_str::<AlertId>("\"not-a-uuid\"").is_err());
}

#[test]
fn minted_ids_are_version_7() {
    assert_eq!(ExecutionId::new_v7().as_uuid().get_version_num(), 7);
}

#[test]
fn the_same_delivery_of_the_same_tenant_always_gets_the_same_alert_id() {
    let key = DeliveryKey::parse("delivery-1").unwrap();
    assert_eq!(
        AlertId::for_delivery(&tenant(1), &key),
        AlertId::for_delivery(&tenant(1), &key)
    );
}

#[test]
fn the_same_delivery_key_of_another_tenant_gets_another_alert_id() {
    let key = DeliveryKey::parse("delivery-1").unwrap();
    assert_ne!(
        AlertId::for_delivery(&tenant(1), &key),
        AlertId::for_delivery(&tenant(2), &key)
    );
}

#[test]
fn another_delivery_key_gets_another_alert_id() {
    let a = DeliveryKey::parse("delivery-1").unwrap();
    let b = DeliveryKey::parse("delivery-2").unwrap();
    assert_ne!(
        AlertId::for_delivery(&tenant(1), &a),
        AlertId::for_delivery(&tenant(1), &b)
    );
}

#[test]
fn delivery_alert_ids_are_uuid_v5_and_stable_across_versions() {
    let key = DeliveryKey::parse("delivery-1").unwrap();
    let id = AlertId::for_delivery(&tenant(1), &key);
    assert_eq!(id.as_uuid().get_version_num(), 5);
    let mut name = tenant(1).as_bytes().to_vec();
    name.push(b'\n');
    name.extend_from_slice(b"delivery-1");
    assert_eq!(
        *id.as_uuid(),
        Uuid::new_v5(&ALERT_DELIVERY_NAMESPACE, &name)
    );
    // Pinned: a change here means every stored delivery would get a new id.
    assert_eq!(id.to_string(), PINNED_DELIVERY_ALERT_ID);
}

const PINNED_DELIVERY_ALERT_ID: &str = "62e28bf1-d1e0-5906-b875-8e34be0af6c7";

#[test]
fn severity_parses_case_insensitively_and_serializes_lowercase() {
    assert_eq!(Severity::parse(" CRITICAL ").unwrap(), Severity::Critical);
    assert_eq!(Severity::parse("High").unwrap(), Severity::High);
    assert_eq!(
        serde_json::to_string(&Severity::Medium).unwrap(),
        "\"medium\""
    );
    assert_eq!(
        serde_json::from_str::<Severity>("\"Low\"").unwrap(),
        Severity::Low
    );
}

#[test]
fn an_unknown_severity_is_rejected_naming_the_accepted_values() {
    let error = Severity::parse("warning").unwrap_err();
    assert_eq!(error.field(), "severity");
    assert_eq!(
        error.problem(),
        "must be one of critical, high, medium, low"
    );
    assert!(serde_json::from_str::<Severity>("\"warning\"").is_err());
}

#[test]
fn severity_gives_the_base_priority() {
    let bases: Vec<u8> = Severity::ALL.iter().map(Severity::base_priority).collect();
    assert_eq!(bases, vec![90, 60, 30, 10]);
}

#[test]
fn only_medium_and_high_risk_need_approval() {
    assert!(!Risk::Low.requires_approval());
    assert!(Risk::Medium.requires_approval());
    assert!(Risk::High.requires_approval());
}

#[test]
fn roles_may_approve_according_to_risk() {
    use Risk::*;
    use Role::*;
    let table = [
        (MspAdmin, [true, true, true]),
        (TenantAdmin, [true, true, false]),
        (Technician, [true, false, false]),
        (Viewer, [false, false, false]),
    ];
    for (role, expected) in table {
        let actual = [Low, Medium, High].map(|risk| role.may_approve(risk));
        assert_eq!(actual, expected, "{role}");
    }
}

#[test]
fn roles_parse_from_their_jwt_spelling() {
    assert_eq!(Role::parse("msp_admin").unwrap(), Role::MspAdmin);
    assert_eq!(Role::TenantAdmin.to_string(), "tenant_admin");
    assert!(Role::parse("admin").is_err());
    assert!(!Role::Viewer.may_operate());
    assert!(Role::Technician.may_operate());
    assert!(!Role::Technician.may_configure());
    assert!(Role::TenantAdmin.may_configure());
}

#[test]
fn webhook_sources_and_alert_statuses_parse() {
    assert_eq!(
        WebhookSource::parse("alertmanager").unwrap(),
        WebhookSource::Alertmanager
    );
    assert!(WebhookSource::parse("nagios").is_err());
    assert_eq!(
        AlertStatus::parse("RESOLVED").unwrap(),
        AlertStatus::Resolved
    );
    assert!(AlertStatus::parse("ok").is_err());
}

#[test]
fn invocation_statuses_use_the_ssm_spelling_and_know_which_are_terminal() {
    assert_eq!(
        serde_json::to_string(&InvocationStatus::InProgress).unwrap(),
        "\"InProgress\""
    );
    assert_eq!(
        InvocationStatus::parse("TimedOut").unwrap(),
        InvocationStatus::TimedOut
    );
    let terminal: Vec<&str> = InvocationStatus::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.as_str())
        .collect();
    assert_eq!(terminal, vec!["Success", "Cancelled", "TimedOut", "Failed"]);
}

#[test]
fn asset_names_are_trimmed() {
    assert_eq!(AssetName::parse("  web01 ").unwrap().as_str(), "web01");
}

#[test]
fn asset_names_must_not_be_blank_too_long_or_contain_control_characters() {
    assert!(AssetName::parse("   ").is_err());
    assert!(AssetName::parse(&"a".repeat(256)).is_err());
    assert!(AssetName::parse(&"a".repeat(255)).is_ok());
    assert!(AssetName::parse("web\n01").is_err());
}

#[test]
fn length_limits_count_characters_not_bytes() {
    assert!(AlertSignature::parse(&"é".repeat(255)).is_ok());
}

#[test]
fn text_values_round_trip_through_serde_and_reject_invalid_input() {
    let name = AssetName::parse("db-primary").unwrap();
    let json = serde_json::to_string(&name).unwrap();
    assert_eq!(json, "\"db-primary\"");
    assert_eq!(serde_json::from_str::<AssetName>(&json).unwrap(), name);
    assert!(serde_json::from_str::<AssetName>("\"\"").is_err());
    assert!(serde_json::from_str::<AlertSignature>("\"\\u0007\"").is_err());
}

#[test]
fn delivery_keys_are_kept_exactly() {
    assert_eq!(DeliveryKey::parse(" k 1 ").unwrap().as_str(), " k 1 ");
    assert!(DeliveryKey::parse("").is_err());
    assert!(DeliveryKey::parse(&"k".repeat(256)).is_err());
    assert!(DeliveryKey::parse("k\t1").is_err());
}

#[test]
fn tool_sources_are_lowercased_and_restricted() {
    assert_eq!(
        ToolSource::parse(" Prometheus ").unwrap().as_str(),
        "prometheus"
    );
    assert_eq!(
        ToolSource::parse("cloud_watch-2").unwrap().as_str(),
        "cloud_watch-2"
    );
    assert!(ToolSource::parse("prom etheus").is_err());
    assert!(ToolSource::parse("").is_err());
    assert!(ToolSource::parse(&"a".repeat(65)).is_err());
}

#[test]
fn tenant_slugs_are_dns_labels() {
    assert_eq!(
        TenantSlug::parse("acme-corp-2").unwrap().as_str(),
        "acme-corp-2"
    );
    for bad in ["", "Acme", "-acme", "acme-", "acme corp", "acme_corp"] {
        assert!(TenantSlug::parse(bad).is_err(), "{bad:?}");
    }
    assert!(TenantSlug::parse(&"a".repeat(63)).is_ok());
    assert!(TenantSlug::parse(&"a".repeat(64)).is_err());
}

#[test]
fn tenant_names_fingerprints_user_ids_and_labels_have_limits() {
    assert!(TenantName::parse("Acme Corp").is_ok());
    assert!(TenantName::parse(&"a".repeat(201)).is_err());
    assert!(Fingerprint::parse("3f9a1c").is_ok());
    assert!(Fingerprint::parse(&"f".repeat(129)).is_err());
    assert!(UserId::parse("auth0|42").is_ok());
    assert!(UserId::parse("").is_err());
    assert!(ApiKeyLabel::parse("prometheus prod").is_ok());
    assert!(ApiKeyLabel::parse(" ").is_err());
}

#[test]
fn notes_allow_several_lines_but_not_empty_or_huge_text() {
    assert_eq!(
        Note::parse(" rebooted\n\tand checked ").unwrap().as_str(),
        "rebooted\n\tand checked"
    );
    assert!(Note::parse("  ").is_err());
    assert!(Note::parse(&"x".repeat(10_001)).is_err());
    assert!(Note::parse(&"x".repeat(10_000)).is_ok());
}

#[test]
fn alert_messages_may_be_empty() {
    assert_eq!(AlertMessage::parse("").unwrap().as_str(), "");
    assert!(AlertMessage::parse(&"x".repeat(10_001)).is_err());
}

#[test]
fn api_key_hashes_are_64_lowercase_hex_characters() {
    let hash = "a".repeat(64);
    assert_eq!(ApiKeyHash::parse(&hash).unwrap().as_str(), hash);
    assert!(ApiKeyHash::parse(&"A".repeat(64)).is_err());
    assert!(ApiKeyHash::parse(&"a".repeat(63)).is_err());
    assert!(ApiKeyHash::parse(&"g".repeat(64)).is_err());
}

#[test]
fn labels_within_limits_are_kept_in_key_order() {
    let labels = labels(&[("team", "ops"), ("env", "prod")]);
    let keys: Vec<&str> = labels.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["env", "team"]);
    assert_eq!(labels.get("team"), Some("ops"));
    assert_eq!(
        serde_json::to_string(&labels).unwrap(),
        r#"{"env":"prod","team":"ops"}"#
    );
}

#[test]
fn labels_beyond_the_limits_are_rejected() {
    let many: BTreeMap<String, String> =
        (0..65).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(Labels::new(many).is_err());
    let empty_key = BTreeMap::from([(String::new(), "v".to_owned())]);
    assert!(Labels::new(empty_key).is_err());
    let long_key = BTreeMap::from([("k".repeat(129), "v".to_owned())]);
    assert!(Labels::new(long_key).is_err());
    let long_value = BTreeMap::from([("k".to_owned(), "v".repeat(1025))]);
    assert!(Labels::new(long_value).is_err());
    assert!(serde_json::from_str::<Labels>(r#"{"": "v"}"#).is_err());
}

#[test]
fn aggregation_key_templates_parse_known_parts() {
    let template = AggregationKeyTemplate::parse("asset | signature|label:team").unwrap();
    assert_eq!(template.as_str(), "asset|signature|label:team");
    assert_eq!(
        serde_json::to_string(&template).unwrap(),
        "\"asset|signature|label:team\""
    );
}

#[test]
fn aggregation_key_templates_reject_unknown_and_empty_parts() {
    for bad in ["", "asset||signature", "host", "asset|label:", "label"] {
        let error = AggregationKeyTemplate::parse(bad).unwrap_err();
        assert_eq!(error.field(), "aggregation_key", "{bad:?}");
    }
    assert!(serde_json::from_str::<AggregationKeyTemplate>("\"asset|host\"").is_err());
}

#[test]
fn aggregation_key_templates_render_the_alert_fields() {
    let asset = AssetName::parse("web01").unwrap();
    let signature = AlertSignature::parse("HighCPU").unwrap();
    let tool = ToolSource::parse("prometheus").unwrap();
    let labels = labels(&[("team", "ops")]);
    let render = |template: &str| {
        AggregationKeyTemplate::parse(template).unwrap().render(
            &asset,
            &signature,
            &tool,
            Severity::High,
            &labels,
        )
    };
    assert_eq!(render("asset|signature"), "web01|HighCPU");
    assert_eq!(
        render("source|severity|label:team|label:missing"),
        "prometheus|high|ops|"
    );
    assert_eq!(
        AggregationKeyTemplate::default().render(&asset, &signature, &tool, Severity::Low, &labels),
        "web01|HighCPU"
    );
}

#[test]
fn the_default_correlation_policy_is_fifteen_minutes_by_asset_and_signature() {
    let policy = CorrelationPolicy::default();
    assert_eq!(policy.time_window_minutes(), 15);
    assert_eq!(policy.aggregation_key().as_str(), "asset|signature");
    assert!(policy.auto_correlate());
    assert_eq!(policy.min_alerts(), 1);
    assert!(!policy.auto_resolve());
}

#[test]
fn correlation_policies_check_the_window_and_minimum() {
    let key = AggregationKeyTemplate::default;
    assert!(CorrelationPolicy::new(1, key(), true, 1, false).is_ok());
    assert!(CorrelationPolicy::new(10_080, key(), true, 1, false).is_ok());
    assert_eq!(
        CorrelationPolicy::new(0, key(), true, 1, false)
            .unwrap_err()
            .field(),
        "time_window_minutes"
    );
    assert!(CorrelationPolicy::new(10_081, key(), true, 1, false).is_err());
    assert_eq!(
        CorrelationPolicy::new(15, key(), true, 0, false)
            .unwrap_err()
            .field(),
        "min_alerts"
    );
}

#[test]
fn correlation_policies_round_trip_and_default_missing_fields() {
    let policy = CorrelationPolicy::new(
        30,
        AggregationKeyTemplate::parse("asset").unwrap(),
        false,
        3,
        true,
    )
    .unwrap();
    let json = serde_json::to_value(&policy).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "time_window_minutes": 30, "aggregation_key": "asset",
            "auto_correlate": false, "min_alerts": 3, "auto_resolve": true
        })
    );
    assert_eq!(
        serde_json::from_value::<CorrelationPolicy>(json).unwrap(),
        policy
    );
    let api_body = r#"{"time_window_minutes": 15, "aggregation_key": "asset|signature", "auto_correlate": true, "min_alerts": 1}"#;
    assert_eq!(
        serde_json::from_str::<CorrelationPolicy>(api_body).unwrap(),
        CorrelationPolicy::default()
    );
    assert!(serde_json::from_str::<CorrelationPolicy>(r#"{"time_window_minutes": 0}"#).is_err());
}

#[test]
fn rate_limits_default_to_600_per_minute_with_a_burst_of_1000() {
    let limit = RateLimit::default();
    assert_eq!((limit.requests_per_minute(), limit.burst()), (600, 1000));
    assert!(RateLimit::new(0, 10).is_err());
    assert!(RateLimit::new(10, 1_000_001).is_err());
    let json = serde_json::to_string(&RateLimit::new(60, 5).unwrap()).unwrap();
    assert_eq!(json, r#"{"requests_per_minute":60,"burst":5}"#);
    assert!(serde_json::from_str::<RateLimit>(r#"{"requests_per_minute":0,"burst":5}"#).is_err());
}

#[test]
fn aws_role_configs_check_arn_external_id_and_region() {
    let arn = "arn:aws:iam::123456789012:role/AlertLedger";
    let config = AwsRoleConfig::new(arn, "ext-42", "eu-west-1").unwrap();
    assert_eq!(config.role_arn(), arn);
    assert_eq!(config.external_id(), "ext-42");
    assert_eq!(config.region(), "eu-west-1");
    assert_eq!(
        AwsRoleConfig::new("arn:aws:s3:::bucket", "ext-42", "eu-west-1")
            .unwrap_err()
            .field(),
        "role_arn"
    );
    assert_eq!(
        AwsRoleConfig::new(arn, "x", "eu-west-1")
            .unwrap_err()
            .field(),
        "external_id"
    );
    assert_eq!(
        AwsRoleConfig::new(arn, "ext-42", "EU_WEST")
            .unwrap_err()
            .field(),
        "region"
    );
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        serde_json::from_str::<AwsRoleConfig>(&json).unwrap(),
        config
    );
    let bad = r#"{"role_arn":"nope","external_id":"ext-42","region":"eu-west-1"}"#;
    assert!(serde_json::from_str::<AwsRoleConfig>(bad).is_err());
}

#[test]
fn instance_ids_accept_ec2_and_managed_instances() {
    assert!(InstanceId::parse("i-0123456789abcdef0").is_ok());
    assert!(InstanceId::parse("mi-0123456789abcdef0").is_ok());
    assert_eq!(
        InstanceId::parse("I-ABCDEF12").unwrap().as_str(),
        "i-abcdef12"
    );
    for bad in [
        "",
        "i-",
        "i-123",
        "x-0123456789",
        "i-0123456789abcdefg",
        "i-0123456789abcdef01",
    ] {
        assert!(InstanceId::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ssm_command_ids_are_short_tokens() {
    assert!(SsmCommandId::parse("6f1c2a4e-8b0d-4c2f-9e3a-1b2c3d4e5f60").is_ok());
    assert!(SsmCommandId::parse("").is_err());
    assert!(SsmCommandId::parse("a b").is_err());
}

#[test]
fn priority_scores_stay_within_0_and_200() {
    assert_eq!(PriorityScore::new(200).unwrap().value(), 200);
    assert!(PriorityScore::new(201).is_err());
    assert!(PriorityScore::new(-1).is_err());
    assert_eq!(PriorityScore::clamped(-5).value(), 0);
    assert_eq!(PriorityScore::clamped(500).value(), 200);
    assert_eq!(
        serde_json::to_string(&PriorityScore::clamped(42)).unwrap(),
        "42"
    );
    assert!(serde_json::from_str::<PriorityScore>("201").is_err());
}

#[test]
fn the_priority_score_follows_the_product_rule() {
    let fresh = Duration::zero();
    assert_eq!(
        PriorityScore::compute(Severity::Critical, false, 0, 1, fresh).value(),
        90
    );
    // 60 + 20 critical asset + 2×3 duplicates + 10 two tools − 2 hours
    assert_eq!(
        PriorityScore::compute(Severity::High, true, 3, 2, Duration::hours(2)).value(),
        94
    );
    // Duplicate bonus caps at +20 and age penalty at −10.
    assert_eq!(
        PriorityScore::compute(Severity::Low, false, 50, 1, Duration::hours(48)).value(),
        20
    );
}

#[test]
fn actors_serialize_their_id_name_and_role() {
    let actor = Actor::new(UserId::parse("u-1").unwrap(), "Ada", Role::Technician);
    assert_eq!(
        serde_json::to_value(&actor).unwrap(),
        serde_json::json!({"user_id": "u-1", "name": "Ada", "role": "technician"})
    );
}

#[test]
fn correlation_reasons_serialize_their_decision_with_a_kind() {
    let to = IncidentId::from_uuid(Uuid::from_u128(7));
    let reason = CorrelationReason {
        key: "web01|HighCPU".to_owned(),
        window_minutes: 15,
        decision: CorrelationDecision::Attached { to },
        explanation: "open incident with the same key".to_owned(),
    };
    let json = serde_json::to_value(&reason).unwrap();
    assert_eq!(
        json["decision"],
        serde_json::json!({"kind": "attached", "to": to.to_string()})
    );
    assert_eq!(
        serde_json::from_value::<CorrelationReason>(json).unwrap(),
        reason
    );
}

#[test]
fn sns_topic_arns_check_every_part() {
    for ok in [
        "arn:aws:sns:eu-west-1:123456789012:alarms",
        "arn:aws-cn:sns:cn-north-1:123456789012:alarms_2",
        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:Alarms-Prod",
        "arn:aws:sns:us-east-1:123456789012:alarms.fifo",
    ] {
        assert_eq!(SnsTopicArn::parse(ok).unwrap().as_str(), ok);
    }
    for bad in [
        "",
        "alarms",
        "arn:aws:sqs:eu-west-1:123456789012:alarms",
        "arn:gcp:sns:eu-west-1:123456789012:alarms",
        "arn:aws:sns:EU-WEST-1:123456789012:alarms",
        "arn:aws:sns:eu-west-1:12345:alarms",
        "arn:aws:sns:eu-west-1:123456789012:",
        "arn:aws:sns:eu-west-1:123456789012:.fifo",
        "arn:aws:sns:eu-west-1:123456789012:al arms",
        "arn:aws:sns:eu-west-1:123456789012:alarms:extra",
        " arn:aws:sns:eu-west-1:123456789012:alarms",
    ] {
        let error = SnsTopicArn::parse(bad).unwrap_err();
        assert_eq!(error.field(), "topic_arn", "{bad:?}");
    }
    let long = format!("arn:aws:sns:eu-west-1:123456789012:{}", "a".repeat(257));
    assert!(SnsTopicArn::parse(&long).is_err());
}
