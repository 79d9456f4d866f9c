//! The `cloudwatch` source: a CloudWatch alarm state change delivered by an
//! AWS SNS HTTP(S) subscription (`Content-Type: text/plain`, a JSON envelope).
//!
//! - `Type: SubscriptionConfirmation` becomes [`SourcePayload::SubscriptionConfirmation`];
//!   the `SubscribeURL` is handed to an operator, never fetched.
//! - `Type: UnsubscribeConfirmation` is 422: it carries no alarm.
//! - `Type: Notification`: `Message` is the alarm as JSON text. Mapping:
//!   - signature: `AlarmName`;
//!   - asset: the value of the first dimension named `InstanceId`,
//!     `DBInstanceIdentifier`, `LoadBalancerName`, `FunctionName` or
//!     `ClusterName`, else of the first dimension, else the alarm name;
//!   - severity: CloudWatch has none, so `ALARM` (and `OK`, so the recovery
//!     matches) is high, or critical when the alarm's name or description says
//!     "critical"; `INSUFFICIENT_DATA` is low;
//!   - status: `OK` → resolved, `ALARM`/`INSUFFICIENT_DATA` → firing;
//!   - message: `AlarmDescription` and `NewStateReason` (whichever are present);
//!   - occurred_at: `StateChangeTime` (`2026-11-22T03:07:32.123+0000`), else
//!     the envelope's `Timestamp`;
//!   - labels: `account`, `region`, `namespace`, `metric`, `state`, and each
//!     dimension by its name;
//!   - fingerprint: `AlarmArn`, else a hash of account, region and alarm name;
//!   - notification key: `sns:` + `MessageId`.
//!
//! Before its content counts, every message passes [`SnsChecks`]: with an
//! SNS signing certificate configured its signature is checked (without one,
//! messages are accepted unsigned, except in production, where they are
//! refused); its `Timestamp` must be within the signed-webhook tolerance; and
//! its `TopicArn` must be one the tenant pinned, if it pinned any.

use std::collections::BTreeMap;

use alertledger_domain::values::{AlertStatus, Severity, ToolSource};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::fields::Fields;
use super::lenient::Lenient;
use super::sns::SnsChecks;
use super::{normalize, RawDelivery, SnsSubscription, SourcePayload};
use crate::error::ApiError;
use crate::ingest::NormalizedAlert;

/// Dimensions that name the resource an alarm watches, in order of preference.
const ASSET_DIMENSIONS: [&str; 5] = [
    "InstanceId",
    "DBInstanceIdentifier",
    "LoadBalancerName",
    "FunctionName",
    "ClusterName",
];

/// Parses an SNS delivery once it passes `checks`.
pub fn parse(
    delivery: &RawDelivery<'_>,
    checks: &SnsChecks<'_>,
) -> Result<SourcePayload, ApiError> {
    let body = super::json_body(delivery.body)?;
    let envelope = Fields::root(&body)?;
    let message_type = envelope.required_str("Type")?;
    let known = matches!(
        message_type,
        "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
    );
    if !known {
        return Err(
            envelope.invalid_message("Type", format!("unknown SNS message type {message_type:?}"))
        );
    }
    checks.check(&envelope, message_type)?;
    match message_type {
        "Notification" => {
            notification(&envelope, delivery).map(|alert| SourcePayload::Alerts(vec![alert]))
        }
        "SubscriptionConfirmation" => {
            Ok(SourcePayload::SubscriptionConfirmation(SnsSubscription {
                message_id: envelope.required_str("MessageId")?.to_owned(),
                topic_arn: envelope.required_str("TopicArn")?.to_owned(),
                subscribe_url: envelope.required_str("SubscribeURL")?.to_owned(),
            }))
        }
        _ => Err(envelope.invalid_message(
            "Type",
            "an UnsubscribeConfirmation carries no alarm; the subscription has been removed",
        )),
    }
}

fn notification(
    envelope: &Fields<'_>,
    delivery: &RawDelivery<'_>,
) -> Result<NormalizedAlert, ApiError> {
    let mut lenient = Lenient::new(delivery);
    let message_id = envelope.required_str("MessageId")?;
    let text = envelope.required_str("Message")?;
    let message: Value = serde_json::from_str(text).map_err(|e| {
        envelope.invalid_message("Message", format!("not a CloudWatch alarm (JSON): {e}"))
    })?;
    if crate::extract::may_hold_nul(text.as_bytes()) {
        crate::extract::refuse_nul_in(&message, "Message")?;
    }
    let Value::Object(alarm) = &message else {
        return Err(envelope.invalid_message("Message", "not a CloudWatch alarm (JSON object)"));
    };
    let alarm = Fields::at(alarm, "Message.".to_owned());

    let name = alarm.required_str("AlarmName")?;
    let signature = normalize::signature(name).map_err(|e| alarm.invalid("AlarmName", &e))?;
    let description = alarm.non_empty_str("AlarmDescription")?;
    let state = alarm.required_str("NewStateValue")?;
    let (status, severity) = match state {
        "ALARM" | "OK" => {
            let says_critical = [Some(name), description]
                .into_iter()
                .flatten()
                .any(|text| text.to_ascii_lowercase().contains("critical"));
            let severity = if says_critical {
                Severity::Critical
            } else {
                Severity::High
            };
            let status = if state == "OK" {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            };
            (status, severity)
        }
        "INSUFFICIENT_DATA" => (AlertStatus::Firing, Severity::Low),
        other => {
            return Err(alarm.invalid_message(
                "NewStateValue",
                format!("unknown alarm state {other:?}; expected ALARM, OK or INSUFFICIENT_DATA"),
            ))
        }
    };

    let trigger = alarm.object("Trigger")?;
    let dimensions = match &trigger {
        Some(trigger) => dimensions(trigger)?,
        None => Vec::new(),
    };
    let asset = ASSET_DIMENSIONS
        .iter()
        .find_map(|wanted| dimensions.iter().find(|(name, _)| name == wanted))
        .or_else(|| dimensions.first())
        .map_or(name, |(_, value)| value.as_str());
    let asset = normalize::asset(asset).map_err(|e| alarm.invalid("Trigger.Dimensions", &e))?;

    let reason = alarm.non_empty_str("NewStateReason")?;
    let text = match (description, reason) {
        (Some(description), Some(reason)) => format!("{description}\n\n{reason}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => envelope
            .non_empty_str("Subject")?
            .unwrap_or(name)
            .to_owned(),
    };
    let message = normalize::message(&text).map_err(|e| alarm.invalid("NewStateReason", &e))?;
    let occurred_at = match alarm.non_empty_str("StateChangeTime")? {
        Some(raw) => lenient.timestamp("Message.StateChangeTime", raw, state_change_time)?,
        None => match envelope.non_empty_str("Timestamp")? {
            Some(raw) => lenient.timestamp("Timestamp", raw, normalize::rfc3339)?,
            None => None,
        },
    }
    .unwrap_or(delivery.received_at);

    let account = alarm.text("AWSAccountId")?;
    let region = alarm.non_empty_str("Region")?;
    let fingerprint = match alarm.non_empty_str("AlarmArn")? {
        Some(arn) => arn.to_owned(),
        None => normalize::short_hash(&[
            account.as_deref().unwrap_or_default(),
            region.unwrap_or_default(),
            name,
        ]),
    };
    let fingerprint =
        normalize::fingerprint(&fingerprint).map_err(|e| alarm.invalid("AlarmArn", &e))?;

    let mut labels: BTreeMap<String, String> = dimensions.into_iter().collect();
    let fixed = [
        ("account", account),
        ("region", region.map(str::to_owned)),
        ("state", Some(state.to_owned())),
    ];
    labels.extend(
        fixed
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))),
    );
    if let Some(trigger) = &trigger {
        for (label, field) in [("namespace", "Namespace"), ("metric", "MetricName")] {
            if let Some(value) = trigger.non_empty_str(field)? {
                labels.insert(label.to_owned(), value.to_owned());
            }
        }
    }
    let labels = normalize::labels(labels, &mut lenient, "Message.Trigger")
        .map_err(|e| alarm.invalid("Trigger", &e))?;

    Ok(NormalizedAlert {
        asset,
        signature,
        severity,
        message,
        tool_source: ToolSource::parse("cloudwatch").map_err(|e| ApiError::internal(&e))?,
        status,
        labels,
        occurred_at: Some(occurred_at),
        fingerprint,
        notification_key: normalize::id_key("sns", message_id)?,
        acknowledged_by_source: false,
        warnings: lenient.into_warnings(),
    })
}

/// `Trigger.Dimensions` as (name, value) pairs, in order.
fn dimensions(trigger: &Fields<'_>) -> Result<Vec<(String, String)>, ApiError> {
    if trigger.get("Dimensions").is_none() {
        return Ok(Vec::new());
    }
    trigger
        .objects("Dimensions")?
        .iter()
        .map(|dimension| {
            // CloudWatch spells these lower-case; accept the API's casing too.
            let pick = |lower: &str, upper: &str| -> Result<String, ApiError> {
                match dimension.optional_str(lower)? {
                    Some(value) => Ok(value.to_owned()),
                    None => dimension.required_str(upper).map(str::to_owned),
                }
            };
            Ok((pick("name", "Name")?, pick("value", "Value")?))
        })
        .collect()
}

/// CloudWatch's `2026-11-22T03:07:32.123+0000` (no colon in the offset), or RFC 3339.
fn state_change_time(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S%.f%z")
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| normalize::rfc3339(raw))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::sns::{self, SnsCertificate};
    use super::*;
    use alertledger_domain::values::SnsTopicArn;
    #[allow(unused_imports)]
    use alertledger_domain::values::{Severity, SeverityMap};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    use axum::http::{HeaderMap, StatusCode};
    use base64::Engine;
    use serde_json::json;
    use std::collections::BTreeSet;

    const CERT: &[u8] = include_bytes!("testdata/sns/test-signing-cert.pem");
    const OTHER_CERT: &[u8] = include_bytes!("testdata/sns/other-cert.pem");
    const TEST_ONLY_KEY: &str = include_str!("testdata/sns/TEST-ONLY-signing-key.pk8.pem");
    const SIGNED_V1: &str = include_str!("testdata/sns/notification-signed-v1.json");

    fn alarm(state: &str) -> Value {
        json!({
            "AlarmName": "web01-cpu-high",
            "AlarmDescription": "CPU above 90% for 5 minutes",
            "AWSAccountId": "123456789012",
            "AlarmConfigurationUpdatedTimestamp": "2026-11-01T10:00:00.000+0000",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [95.2 (22/11/26 03:02:00)] was greater than the threshold (90.0) (minimum 1 datapoint for OK -> ALARM transition).",
            "StateChangeTime": "2026-11-22T03:07:32.123+0000",
            "Region": "EU (Ireland)",
            "AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web01-cpu-high",
            "OldStateValue": "OK",
            "OKActions": [],
            "AlarmActions": ["arn:aws:sns:eu-west-1:123456789012:alertledger"],
            "InsufficientDataActions": [],
            "Trigger": {
                "MetricName": "CPUUtilization",
                "Namespace": "AWS/EC2",
                "StatisticType": "Statistic",
                "Statistic": "AVERAGE",
                "Unit": null,
                "Dimensions": [
                    {"value": "prod", "name": "Environment"},
                    {"value": "i-0abc123def4567890", "name": "InstanceId"}
                ],
                "Period": 300,
                "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 90.0,
                "TreatMissingData": "missing",
                "EvaluateLowSampleCountPercentile": ""
            }
        })
    }

    fn notification(message_id: &str, alarm: &Value) -> Value {
        json!({
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:alertledger",
            "Subject": "ALARM: \"web01-cpu-high\" in EU (Ireland)",
            "Message": alarm.to_string(),
            "Timestamp": "2026-11-22T03:07:32.200Z",
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:alertledger:c9135db0"
        })
    }

    fn confirmation() -> Value {
        json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:alertledger",
            "Message": "You have chosen to subscribe to the topic arn:aws:sns:eu-west-1:123456789012:alertledger.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:alertledger&Token=2336412f37",
            "Timestamp": "2026-11-22T03:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
        })
    }

    /// Signs the envelope as SNS does for SignatureVersion 2 (SHA256withRSA),
    /// with the test-only key.
    fn signed(mut envelope: Value) -> Value {
        envelope["SignatureVersion"] = json!("2");
        let message_type = envelope["Type"].as_str().unwrap().to_owned();
        let canonical =
            sns::string_to_sign(&Fields::root(&envelope).unwrap(), &message_type).unwrap();
        let (_, pkcs8) = x509_cert::der::pem::decode_vec(TEST_ONLY_KEY.as_bytes()).unwrap();
        let key = RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            canonical.as_bytes(),
            &mut signature,
        )
        .unwrap();
        envelope["Signature"] = json!(base64::engine::general_purpose::STANDARD.encode(signature));
        envelope
    }

    /// A notification OpenSSL signed for SignatureVersion 1 (SHA1withRSA,
    /// which aws-lc-rs verifies but will not sign) with the test-only key.
    fn signed_v1() -> Value {
        serde_json::from_str(SIGNED_V1).unwrap()
    }

    fn parse_with(envelope: &Value, cert: Option<&[u8]>) -> Result<SourcePayload, ApiError> {
        parse_checked(envelope, cert, false, &BTreeSet::new())
    }

    /// Parses as delivered a second after SNS published it.
    fn parse_checked(
        envelope: &Value,
        cert: Option<&[u8]>,
        require_signature: bool,
        pinned_topics: &BTreeSet<SnsTopicArn>,
    ) -> Result<SourcePayload, ApiError> {
        let certificate = cert.map(|pem| SnsCertificate::from_pem(pem).unwrap());
        let headers = HeaderMap::new();
        let body = envelope.to_string();
        let published = envelope["Timestamp"]
            .as_str()
            .and_then(|raw| normalize::rfc3339(raw).ok())
            .unwrap_or_else(Utc::now);
        let delivery = RawDelivery {
            body: body.as_bytes(),
            headers: &headers,
            received_at: published + chrono::Duration::seconds(1),
            severity_map: &SeverityMap::default(),
        };
        let checks = SnsChecks {
            certificate: certificate.as_ref(),
            require_signature,
            pinned_topics,
            received_at: delivery.received_at,
        };
        parse(&delivery, &checks)
    }

    fn alert(envelope: &Value) -> NormalizedAlert {
        match parse_with(envelope, None).unwrap() {
            SourcePayload::Alerts(mut alerts) => alerts.remove(0),
            other => panic!("expected an alert, got {other:?}"),
        }
    }

    #[test]
    fn an_alarm_notification_becomes_a_firing_alert() {
        let alert = alert(&notification("msg-1", &alarm("ALARM")));
        assert_eq!(alert.asset.as_str(), "i-0abc123def4567890");
        assert_eq!(alert.signature.as_str(), "web01-cpu-high");
        assert_eq!(alert.severity, Severity::High);
        assert!(alert
            .message
            .as_str()
            .starts_with("CPU above 90% for 5 minutes\n\nThreshold Crossed"));
        assert_eq!(alert.tool_source.as_str(), "cloudwatch");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(
            alert.occurred_at,
            Some(normalize::rfc3339("2026-11-22T03:07:32.123Z").unwrap())
        );
        assert_eq!(
            alert.fingerprint.as_str(),
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:web01-cpu-high"
        );
        assert_eq!(alert.notification_key.as_str(), "sns:msg-1");
        let labels: Vec<(&str, &str)> = alert.labels.iter().collect();
        assert_eq!(
            labels,
            [
                ("Environment", "prod"),
                ("InstanceId", "i-0abc123def4567890"),
                ("account", "123456789012"),
                ("metric", "CPUUtilization"),
                ("namespace", "AWS/EC2"),
                ("region", "EU (Ireland)"),
                ("state", "ALARM"),
            ]
        );
    }

    #[test]
    fn an_ok_notification_resolves_with_the_same_fingerprint_and_a_new_key() {
        let firing = alert(&notification("msg-1", &alarm("ALARM")));
        let resolved = alert(&notification("msg-2", &alarm("OK")));
        assert_eq!(resolved.status, AlertStatus::Resolved);
        assert_eq!(resolved.severity, firing.severity);
        assert_eq!(resolved.fingerprint, firing.fingerprint);
        assert_ne!(resolved.notification_key, firing.notification_key);
    }

    #[test]
    fn severity_is_critical_when_the_alarm_says_so_and_low_without_data() {
        let mut critical = alarm("ALARM");
        critical["AlarmName"] = json!("CRITICAL db01 storage");
        assert_eq!(
            alert(&notification("m", &critical)).severity,
            Severity::Critical
        );
        let unknown = alert(&notification("m", &alarm("INSUFFICIENT_DATA")));
        assert_eq!(
            (unknown.severity, unknown.status),
            (Severity::Low, AlertStatus::Firing)
        );
    }

    #[test]
    fn an_alarm_without_dimensions_is_about_the_alarm_itself() {
        let mut composite = alarm("ALARM");
        composite.as_object_mut().unwrap().remove("Trigger");
        composite.as_object_mut().unwrap().remove("AlarmArn");
        let alert = alert(&notification("m", &composite));
        assert_eq!(alert.asset.as_str(), "web01-cpu-high");
        assert_eq!(alert.fingerprint.as_str().len(), 32);
    }

    #[test]
    fn a_message_that_is_not_an_alarm_is_422_naming_it() {
        let mut envelope = notification("m", &alarm("ALARM"));
        envelope["Message"] = json!("hello");
        let error = parse_with(&envelope, None).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(format!("{error:?}").contains("Message"));
        let mut unknown = alarm("ALARM");
        unknown["NewStateValue"] = json!("ON_FIRE");
        let error = parse_with(&notification("m", &unknown), None).unwrap_err();
        assert!(format!("{error:?}").contains("Message.NewStateValue"));
    }

    #[test]
    fn a_subscription_confirmation_is_handed_over_not_fetched() {
        let payload = parse_with(&confirmation(), None).unwrap();
        assert_eq!(
            payload,
            SourcePayload::SubscriptionConfirmation(SnsSubscription {
                message_id: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b".into(),
                topic_arn: "arn:aws:sns:eu-west-1:123456789012:alertledger".into(),
                subscribe_url: confirmation()["SubscribeURL"].as_str().unwrap().into(),
            })
        );
    }

    #[test]
    fn an_unsubscribe_confirmation_is_422() {
        let mut envelope = confirmation();
        envelope["Type"] = json!("UnsubscribeConfirmation");
        let error = parse_with(&envelope, None).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_body_that_is_not_json_is_400() {
        let headers = HeaderMap::new();
        let delivery = RawDelivery {
            body: b"Type=Notification",
            headers: &headers,
            received_at: Utc::now(),
            severity_map: &SeverityMap::default(),
        };
        let checks = SnsChecks {
            certificate: None,
            require_signature: false,
            pinned_topics: &BTreeSet::new(),
            received_at: delivery.received_at,
        };
        assert_eq!(
            parse(&delivery, &checks).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn a_version_2_signature_by_the_configured_certificate_is_accepted() {
        let envelope = signed(notification("msg-1", &alarm("ALARM")));
        let payload = parse_with(&envelope, Some(CERT)).unwrap();
        assert!(matches!(payload, SourcePayload::Alerts(alerts) if alerts.len() == 1));
        let confirmation = signed(confirmation());
        assert!(matches!(
            parse_with(&confirmation, Some(CERT)).unwrap(),
            SourcePayload::SubscriptionConfirmation(_)
        ));
    }

    #[test]
    fn a_version_1_signature_by_the_configured_certificate_is_accepted() {
        let payload = parse_with(&signed_v1(), Some(CERT)).unwrap();
        let SourcePayload::Alerts(alerts) = payload else {
            panic!("expected an alert");
        };
        assert_eq!(alerts[0].asset.as_str(), "db01");
        assert_eq!(alerts[0].signature.as_str(), "db01-storage-low");
        assert_eq!(
            alerts[0].notification_key.as_str(),
            "sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
        );
    }

    #[test]
    fn a_notification_without_a_subject_is_signed_without_it() {
        let mut envelope = notification("msg-1", &alarm("ALARM"));
        envelope.as_object_mut().unwrap().remove("Subject");
        assert!(parse_with(&signed(envelope), Some(CERT)).is_ok());
    }

    #[test]
    fn a_tampered_message_is_401_for_either_version() {
        let mut envelope = signed(notification("msg-1", &alarm("ALARM")));
        envelope["Message"] = alarm("OK").to_string().into();
        let error = parse_with(&envelope, Some(CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        assert!(format!("{error:?}").contains("invalid_signature"));

        let mut envelope = signed_v1();
        envelope["Subject"] = json!("OK: \"db01-storage-low\" in EU (Ireland)");
        let error = parse_with(&envelope, Some(CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_signature_by_another_certificate_is_401() {
        let envelope = signed(notification("msg-1", &alarm("ALARM")));
        let error = parse_with(&envelope, Some(OTHER_CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        let error = parse_with(&signed_v1(), Some(OTHER_CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_signature_checked_under_the_wrong_version_is_401() {
        let mut envelope = signed_v1();
        envelope["SignatureVersion"] = json!("2");
        let error = parse_with(&envelope, Some(CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        envelope["SignatureVersion"] = json!("3");
        let error = parse_with(&envelope, Some(CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn an_unsigned_message_is_401_once_a_certificate_is_configured() {
        let mut envelope = notification("msg-1", &alarm("ALARM"));
        envelope.as_object_mut().unwrap().remove("SignatureVersion");
        envelope.as_object_mut().unwrap().remove("Signature");
        assert!(parse_with(&envelope, None).is_ok());
        let error = parse_with(&envelope, Some(CERT)).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        let mut garbled = signed(notification("msg-1", &alarm("ALARM")));
        garbled["Signature"] = json!("not base64!");
        assert_eq!(
            parse_with(&garbled, Some(CERT)).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    fn at(envelope: &Value, delivered: &str) -> Result<SourcePayload, ApiError> {
        let headers = HeaderMap::new();
        let body = envelope.to_string();
        let delivery = RawDelivery {
            body: body.as_bytes(),
            headers: &headers,
            received_at: normalize::rfc3339(delivered).unwrap(),
            severity_map: &SeverityMap::default(),
        };
        let checks = SnsChecks {
            certificate: None,
            require_signature: false,
            pinned_topics: &BTreeSet::new(),
            received_at: delivery.received_at,
        };
        parse(&delivery, &checks)
    }

    #[test]
    fn the_timestamp_must_be_within_the_signed_webhook_tolerance() {
        // Published 2026-11-22T03:07:32.200Z.
        let envelope = notification("m", &alarm("ALARM"));
        assert!(at(&envelope, "2026-11-22T03:12:32Z").is_ok(), "300 s old");
        assert!(at(&envelope, "2026-11-22T03:02:33Z").is_ok(), "299 s ahead");
        for (delivered, reason) in [
            ("2026-11-22T03:12:34Z", "stale_timestamp"),
            ("2026-11-22T03:02:31Z", "future_timestamp"),
        ] {
            let error = at(&envelope, delivered).unwrap_err();
            assert_eq!(error.status(), StatusCode::UNAUTHORIZED, "{delivered}");
            assert_eq!(error.field(), Some("Timestamp"));
            assert!(format!("{error:?}").contains(reason), "{error:?}");
        }
        let confirmation = confirmation();
        assert!(
            at(&confirmation, "2026-11-22T04:00:00Z").is_err(),
            "confirmations too"
        );
        let mut garbled = envelope.clone();
        garbled["Timestamp"] = json!("yesterday");
        assert_eq!(
            at(&garbled, "2026-11-22T03:07:33Z").unwrap_err().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn production_refuses_what_it_cannot_check() {
        let unsigned = notification("m", &alarm("ALARM"));
        let error = parse_checked(&unsigned, None, true, &BTreeSet::new()).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        assert!(format!("{error:?}").contains("signature_checking_disabled"));
        let signed = signed(notification("m", &alarm("ALARM")));
        assert!(parse_checked(&signed, None, true, &BTreeSet::new()).is_err());
        assert!(parse_checked(&signed, Some(CERT), true, &BTreeSet::new()).is_ok());
        let mut stripped = unsigned.clone();
        stripped.as_object_mut().unwrap().remove("Signature");
        assert_eq!(
            parse_checked(&stripped, Some(CERT), true, &BTreeSet::new())
                .unwrap_err()
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn with_pinned_topics_other_topics_are_403_and_pinned_ones_pass() {
        let ours = SnsTopicArn::parse("arn:aws:sns:eu-west-1:123456789012:alertledger").unwrap();
        let theirs = SnsTopicArn::parse("arn:aws:sns:eu-west-1:999999999999:other").unwrap();
        let envelope = notification("m", &alarm("ALARM"));
        assert!(parse_checked(&envelope, None, false, &BTreeSet::from([ours.clone()])).is_ok());
        let error =
            parse_checked(&envelope, None, false, &BTreeSet::from([theirs.clone()])).unwrap_err();
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(error.code(), "sns_topic_not_pinned");
        assert_eq!(error.field(), Some("TopicArn"));
        let error =
            parse_checked(&confirmation(), None, false, &BTreeSet::from([theirs])).unwrap_err();
        assert_eq!(error.status(), StatusCode::FORBIDDEN, "confirmations too");
    }
}
