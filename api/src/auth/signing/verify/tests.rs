use axum::http::HeaderValue;
use axum::response::IntoResponse;

use super::*;

const NOW: i64 = 1_700_000_000;
const BODY: &[u8] =
    br#"{"asset_name":"web-01","signature":"disk_full","severity":"high","message":"/ is 95% full"}"#;
const WEBHOOK_MSG_ID: &str = "msg_2bVxUn0Zt1ut3Cq8H5dRVJ7lQ3a";

/// `whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`, the documented example.
fn documented_key() -> SecretBytes {
    SecretBytes::from_bytes(std::array::from_fn(|i| i as u8))
}

fn other_key() -> SecretBytes {
    SecretBytes::from_bytes([7; 32])
}

fn active(keys: &[&SecretBytes]) -> Vec<(WebhookSecretId, SecretBytes)> {
    keys.iter()
        .map(|key| (WebhookSecretId::new_v7(), (*key).clone()))
        .collect()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn x_signed(key: &SecretBytes, timestamp: i64, body: &[u8]) -> HeaderMap {
    headers(&[
        ("x-timestamp", &timestamp.to_string()),
        ("x-signature", &sign_x_signature(key, timestamp, body)),
    ])
}

fn standard_signed(key: &SecretBytes, timestamp: i64, body: &[u8]) -> HeaderMap {
    headers(&[
        ("webhook-id", WEBHOOK_MSG_ID),
        ("webhook-timestamp", &timestamp.to_string()),
        (
            "webhook-signature",
            &sign_standard(key, WEBHOOK_MSG_ID, timestamp, body),
        ),
    ])
}

fn malformed(header: Header, problem: &'static str) -> SignatureError {
    SignatureError::Malformed { header, problem }
}

#[test]
fn a_request_signed_with_x_signature_by_an_active_secret_is_accepted() {
    let secrets = active(&[&documented_key()]);
    let request = x_signed(&documented_key(), NOW, BODY);
    let verified = verify_signature(&request, BODY, &secrets, NOW).unwrap();
    assert_eq!(verified.scheme, SignatureScheme::XSignature);
    assert_eq!(verified.secret_id, secrets[0].0);
    assert_eq!(verified.signed_id, None);
}

#[test]
fn x_signature_keyed_with_the_secret_text_as_issued_is_accepted_too() {
    let secrets = active(&[&documented_key()]);
    let mut request = HeaderMap::new();
    request.insert("x-timestamp", NOW.to_string().parse().unwrap());
    let signature = super::sign_x_signature_as_issued(&documented_key(), NOW, BODY);
    request.insert("x-signature", signature.parse().unwrap());
    let verified = verify_signature(&request, BODY, &secrets, NOW).unwrap();
    assert_eq!(verified.scheme, SignatureScheme::XSignature);
}

#[test]
fn a_request_signed_the_standard_webhooks_way_by_an_active_secret_is_accepted() {
    let secrets = active(&[&documented_key()]);
    let request = standard_signed(&documented_key(), NOW, BODY);
    let verified = verify_signature(&request, BODY, &secrets, NOW).unwrap();
    assert_eq!(verified.scheme, SignatureScheme::StandardWebhooks);
    assert_eq!(verified.secret_id, secrets[0].0);
    assert!(verified.signed_id.is_some_and(|id| !id.is_empty()));
}

#[test]
fn a_standard_webhooks_header_with_several_signatures_passes_when_one_matches() {
    let secrets = active(&[&documented_key()]);
    let right = sign_standard(&documented_key(), WEBHOOK_MSG_ID, NOW, BODY);
    let wrong = sign_standard(&other_key(), WEBHOOK_MSG_ID, NOW, BODY);
    for signature_header in [
        format!("{wrong} {right}"),
        format!("{right} {wrong}"),
        // Entries of other versions (here an asymmetric v1a) are skipped.
        format!("v1a,c29tZXRoaW5nIGVsc2U= {right}"),
    ] {
        let request = headers(&[
            ("webhook-id", WEBHOOK_MSG_ID),
            ("webhook-timestamp", &NOW.to_string()),
            ("webhook-signature", &signature_header),
        ]);
        assert_eq!(
            verify_signature(&request, BODY, &secrets, NOW)
                .unwrap()
                .scheme,
            SignatureScheme::StandardWebhooks,
            "{signature_header}"
        );
    }
}

#[test]
fn standard_webhooks_signatures_split_over_repeated_headers_are_all_considered() {
    let secrets = active(&[&documented_key()]);
    let request = headers(&[
        ("webhook-id", WEBHOOK_MSG_ID),
        ("webhook-timestamp", &NOW.to_string()),
        (
            "webhook-signature",
            &sign_standard(&other_key(), WEBHOOK_MSG_ID, NOW, BODY),
        ),
        (
            "webhook-signature",
            &sign_standard(&documented_key(), WEBHOOK_MSG_ID, NOW, BODY),
        ),
    ]);
    assert!(verify_signature(&request, BODY, &secrets, NOW).is_ok());
}

#[test]
fn a_signature_made_with_a_secret_that_is_not_active_is_a_mismatch() {
    let secrets = active(&[&documented_key()]);
    assert_eq!(
        verify_signature(&x_signed(&other_key(), NOW, BODY), BODY, &secrets, NOW),
        Err(SignatureError::Mismatch {
            scheme: SignatureScheme::XSignature
        })
    );
    assert_eq!(
        verify_signature(
            &standard_signed(&other_key(), NOW, BODY),
            BODY,
            &secrets,
            NOW
        ),
        Err(SignatureError::Mismatch {
            scheme: SignatureScheme::StandardWebhooks
        })
    );
}

#[test]
fn a_tampered_body_is_a_mismatch_in_both_styles() {
    let secrets = active(&[&documented_key()]);
    let tampered = BODY
        .to_vec()
        .into_iter()
        .map(|b| if b == b'9' { b'1' } else { b })
        .collect::<Vec<_>>();
    assert_ne!(tampered, BODY);
    for request in [
        x_signed(&documented_key(), NOW, BODY),
        standard_signed(&documented_key(), NOW, BODY),
    ] {
        assert!(matches!(
            verify_signature(&request, &tampered, &secrets, NOW),
            Err(SignatureError::Mismatch { .. })
        ));
    }
}

#[test]
fn a_tampered_timestamp_or_webhook_id_is_a_mismatch() {
    let secrets = active(&[&documented_key()]);
    let mut request = x_signed(&documented_key(), NOW, BODY);
    request.insert("x-timestamp", HeaderValue::from(NOW + 1));
    assert!(matches!(
        verify_signature(&request, BODY, &secrets, NOW),
        Err(SignatureError::Mismatch { .. })
    ));
    let mut request = standard_signed(&documented_key(), NOW, BODY);
    request.insert("webhook-id", HeaderValue::from_static("msg_another"));
    assert!(matches!(
        verify_signature(&request, BODY, &secrets, NOW),
        Err(SignatureError::Mismatch { .. })
    ));
}

#[test]
fn a_timestamp_301_seconds_old_is_stale_in_both_styles() {
    let secrets = active(&[&documented_key()]);
    let signed_at = NOW - 301;
    assert_eq!(
        verify_signature(
            &x_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        ),
        Err(SignatureError::Stale {
            header: X_TIMESTAMP,
            age_secs: 301
        })
    );
    assert_eq!(
        verify_signature(
            &standard_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        ),
        Err(SignatureError::Stale {
            header: WEBHOOK_TIMESTAMP,
            age_secs: 301
        })
    );
}

#[test]
fn a_timestamp_301_seconds_ahead_is_in_the_future_in_both_styles() {
    let secrets = active(&[&documented_key()]);
    let signed_at = NOW + 301;
    assert_eq!(
        verify_signature(
            &x_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        ),
        Err(SignatureError::Future {
            header: X_TIMESTAMP,
            ahead_secs: 301
        })
    );
    assert_eq!(
        verify_signature(
            &standard_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        ),
        Err(SignatureError::Future {
            header: WEBHOOK_TIMESTAMP,
            ahead_secs: 301
        })
    );
}

#[test]
fn timestamps_exactly_300_seconds_off_either_way_are_accepted() {
    let secrets = active(&[&documented_key()]);
    for signed_at in [NOW - 300, NOW + 300] {
        assert!(verify_signature(
            &x_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        )
        .is_ok());
        assert!(verify_signature(
            &standard_signed(&documented_key(), signed_at, BODY),
            BODY,
            &secrets,
            NOW
        )
        .is_ok());
    }
}

#[test]
fn during_rotation_either_active_secret_passes_and_the_match_is_named() {
    let (old, new, revoked) = (
        documented_key(),
        other_key(),
        SecretBytes::from_bytes([9; 32]),
    );
    let secrets = active(&[&old, &new]);
    for (key, expected_id) in [(&old, secrets[0].0), (&new, secrets[1].0)] {
        for request in [x_signed(key, NOW, BODY), standard_signed(key, NOW, BODY)] {
            assert_eq!(
                verify_signature(&request, BODY, &secrets, NOW)
                    .unwrap()
                    .secret_id,
                expected_id
            );
        }
    }
    // A revoked secret is simply not among the active ones any more.
    assert!(matches!(
        verify_signature(&x_signed(&revoked, NOW, BODY), BODY, &secrets, NOW),
        Err(SignatureError::Mismatch { .. })
    ));
    assert!(matches!(
        verify_signature(&standard_signed(&revoked, NOW, BODY), BODY, &secrets, NOW),
        Err(SignatureError::Mismatch { .. })
    ));
}

#[test]
fn a_request_without_signature_headers_is_missing_its_signature() {
    let secrets = active(&[&documented_key()]);
    assert_eq!(
        verify_signature(&HeaderMap::new(), BODY, &secrets, NOW),
        Err(SignatureError::Missing)
    );
    // A timestamp, or a webhook-id used only as a delivery key, is no signature.
    let unsigned = headers(&[
        ("x-timestamp", &NOW.to_string()),
        ("webhook-id", WEBHOOK_MSG_ID),
    ]);
    assert!(!carries_signature(&unsigned));
    assert_eq!(
        verify_signature(&unsigned, BODY, &secrets, NOW),
        Err(SignatureError::Missing)
    );
    assert!(carries_signature(&x_signed(&documented_key(), NOW, BODY)));
    assert!(carries_signature(&standard_signed(
        &documented_key(),
        NOW,
        BODY
    )));
}

#[test]
fn malformed_signature_headers_are_refused_naming_the_header_and_problem() {
    let secrets = active(&[&documented_key()]);
    let now = NOW.to_string();
    let good_x = sign_x_signature(&documented_key(), NOW, BODY);
    let good_v1 = sign_standard(&documented_key(), WEBHOOK_MSG_ID, NOW, BODY);
    let cases: Vec<(HeaderMap, SignatureError)> = vec![
        (
            headers(&[("x-signature", &good_x)]),
            malformed(X_TIMESTAMP, "is missing"),
        ),
        (
            headers(&[("x-timestamp", "yesterday"), ("x-signature", &good_x)]),
            malformed(X_TIMESTAMP, "must be unix seconds (digits only)"),
        ),
        (
            headers(&[("x-timestamp", "-5"), ("x-signature", &good_x)]),
            malformed(X_TIMESTAMP, "must be unix seconds (digits only)"),
        ),
        (
            headers(&[
                ("x-timestamp", "99999999999999999999"),
                ("x-signature", &good_x),
            ]),
            malformed(X_TIMESTAMP, "is out of range"),
        ),
        (
            headers(&[
                ("x-timestamp", &now),
                ("x-timestamp", &now),
                ("x-signature", &good_x),
            ]),
            malformed(X_TIMESTAMP, "appears more than once"),
        ),
        (
            headers(&[
                ("x-timestamp", &now),
                ("x-signature", &good_x["sha256=".len()..]),
            ]),
            malformed(X_SIGNATURE, "must be sha256=<64 hex digits>"),
        ),
        (
            headers(&[("x-timestamp", &now), ("x-signature", "sha256=zz")]),
            malformed(X_SIGNATURE, "must be sha256=<64 hex digits>"),
        ),
        (
            headers(&[("x-timestamp", &now), ("x-signature", "sha256=abcd")]),
            malformed(X_SIGNATURE, "must be sha256=<64 hex digits>"),
        ),
        (
            headers(&[("webhook-timestamp", &now), ("webhook-signature", &good_v1)]),
            malformed(WEBHOOK_ID, "is missing"),
        ),
        (
            headers(&[
                ("webhook-id", WEBHOOK_MSG_ID),
                ("webhook-signature", &good_v1),
            ]),
            malformed(WEBHOOK_TIMESTAMP, "is missing"),
        ),
        (
            headers(&[
                ("webhook-id", WEBHOOK_MSG_ID),
                ("webhook-timestamp", "1.7e9"),
                ("webhook-signature", &good_v1),
            ]),
            malformed(WEBHOOK_TIMESTAMP, "must be unix seconds (digits only)"),
        ),
        (
            headers(&[
                ("webhook-id", WEBHOOK_MSG_ID),
                ("webhook-timestamp", &now),
                ("webhook-signature", &good_v1["v1,".len()..]),
            ]),
            malformed(
                WEBHOOK_SIGNATURE,
                "must hold space-separated v1,<base64> entries",
            ),
        ),
        (
            headers(&[
                ("webhook-id", WEBHOOK_MSG_ID),
                ("webhook-timestamp", &now),
                ("webhook-signature", "v1,not*base64"),
            ]),
            malformed(
                WEBHOOK_SIGNATURE,
                "has a v1 entry that is not base64 of 32 bytes",
            ),
        ),
        (
            headers(&[
                ("webhook-id", WEBHOOK_MSG_ID),
                ("webhook-timestamp", &now),
                ("webhook-signature", "v1a,c29tZXRoaW5n"),
            ]),
            malformed(WEBHOOK_SIGNATURE, "holds no v1,<base64> signature"),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(
            verify_signature(&request, BODY, &secrets, NOW),
            Err(expected.clone()),
            "{request:?}"
        );
    }
}

#[test]
fn a_tenant_without_active_secrets_cannot_verify_anything() {
    assert_eq!(
        verify_signature(&x_signed(&documented_key(), NOW, BODY), BODY, &[], NOW),
        Err(SignatureError::NoActiveSecret)
    );
}

#[test]
fn when_both_styles_are_present_the_standard_webhooks_signature_is_checked() {
    let secrets = active(&[&documented_key()]);
    let mut request = standard_signed(&documented_key(), NOW, BODY);
    request.insert("x-timestamp", HeaderValue::from(NOW));
    request.insert("x-signature", HeaderValue::from_static("sha256=00"));
    assert_eq!(
        verify_signature(&request, BODY, &secrets, NOW)
            .unwrap()
            .scheme,
        SignatureScheme::StandardWebhooks
    );
}

#[test]
fn signatures_match_the_values_documented_with_openssl() {
    // Computed with the commands in the module docs and docs/webhook-signing.md.
    assert_eq!(
        sign_x_signature(&documented_key(), NOW, BODY),
        "sha256=131745e250766c1ed4fb08192cee3fe8324b94b72bc9278806b06bf9311cc130"
    );
    assert_eq!(
        sign_standard(&documented_key(), WEBHOOK_MSG_ID, NOW, BODY),
        "v1,Dpk9E/dz4zdimetqqqUygALTUxiFNQnFfydDkRNeGYU="
    );
}

#[test]
fn the_standard_webhooks_mac_matches_the_specs_own_example() {
    // From the Standard Webhooks specification: secret
    // whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw (24 bytes, so not one of ours).
    let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let mac = standard_mac(
        &key,
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(
        STANDARD.encode(mac.finalize().into_bytes()),
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[tokio::test]
async fn every_signature_error_is_a_401_invalid_signature_without_key_material() {
    let key = documented_key();
    let secret_text = [
        key.to_display(),
        hex::encode(key.expose()),
        sign_x_signature(&key, NOW, BODY),
        sign_standard(&key, WEBHOOK_MSG_ID, NOW, BODY),
    ];
    let errors = [
        SignatureError::Missing,
        malformed(X_SIGNATURE, "must be sha256=<64 hex digits>"),
        SignatureError::Stale {
            header: X_TIMESTAMP,
            age_secs: 301,
        },
        SignatureError::Future {
            header: WEBHOOK_TIMESTAMP,
            ahead_secs: 301,
        },
        SignatureError::Mismatch {
            scheme: SignatureScheme::StandardWebhooks,
        },
        SignatureError::NoActiveSecret,
    ];
    for error in errors {
        let reason = error.reason();
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "invalid_signature");
        assert_eq!(body["error"]["details"]["reason"], reason);
        let text = body.to_string();
        for secret in &secret_text {
            assert!(!text.contains(secret.as_str()), "{text}");
        }
    }
}

#[test]
fn stale_and_future_messages_say_which_and_by_how_much() {
    let stale = SignatureError::Stale {
        header: X_TIMESTAMP,
        age_secs: 301,
    };
    assert_eq!(
        stale.to_string(),
        "the X-Timestamp is 301 s old; signatures more than 300 s old are refused \
         (is the sender's clock right?)"
    );
    let future = SignatureError::Future {
        header: WEBHOOK_TIMESTAMP,
        ahead_secs: 420,
    };
    assert!(future
        .to_string()
        .starts_with("the webhook-timestamp is 420 s in the future"));
}
