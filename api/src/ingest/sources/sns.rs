//! AWS SNS message signatures. SNS signs each HTTP(S) message with RSA over a
//! canonical string of the envelope's fields (SHA1withRSA for
//! `SignatureVersion` 1, SHA256withRSA for 2). alertledger never fetches the
//! envelope's `SigningCertURL`: an operator who wants signatures checked
//! configures AWS's signing certificate at start-up ([`SnsCertificate`]), and
//! from then on a message without a valid signature by it is refused with 401.
//!
//! Around the signature, [`SnsChecks`] holds what else a message must pass
//! before its content counts: signed at all in production, its `Timestamp`
//! within the tolerance signed webhooks get, and its `TopicArn` one the
//! tenant pinned (if it pinned any).

use std::collections::BTreeSet;

use alertledger_domain::values::SnsTopicArn;
use aws_lc_rs::signature::{
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256,
};
use axum::http::StatusCode;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use x509_cert::der::Encode;
use x509_cert::Certificate;

use super::fields::Fields;
use super::normalize;
use crate::auth::signing::verify::SIGNATURE_TOLERANCE_SECS;
use crate::error::ApiError;

/// What an SNS message must pass besides being well formed.
#[derive(Debug, Clone, Copy)]
pub struct SnsChecks<'a> {
    /// AWS's signing certificate: set, every message must be signed by it.
    pub certificate: Option<&'a SnsCertificate>,
    /// Production: a message that is not signed, or that arrives while
    /// signature checking is off (no certificate), is refused.
    pub require_signature: bool,
    /// The tenant's pinned topics (empty: any topic).
    pub pinned_topics: &'a BTreeSet<SnsTopicArn>,
    /// When the message arrived (its `Timestamp` is checked against it).
    pub received_at: DateTime<Utc>,
}

impl SnsChecks<'_> {
    /// Runs every check on the envelope, in order: signature (so nothing
    /// unauthenticated is trusted), timestamp, then topic. A refusal says
    /// which and why.
    pub(super) fn check(&self, envelope: &Fields<'_>, message_type: &str) -> Result<(), ApiError> {
        match self.certificate {
            Some(certificate) => verify(envelope, message_type, certificate)?,
            None if self.require_signature => {
                return Err(refused(
                    "SNS messages must be signed and checked in production, and signature \
                     checking is off: configure AWS's SNS signing certificate \
                     (ALERTLEDGER_SNS_SIGNING_CERT)",
                )
                .with_details(json!({ "reason": "signature_checking_disabled" })))
            }
            None => {}
        }
        check_timestamp(envelope, self.received_at)?;
        check_topic(envelope, self.pinned_topics)
    }
}

/// The envelope's `Timestamp` (when SNS published the message; retries keep
/// it) must be within [`SIGNATURE_TOLERANCE_SECS`] of arrival, either way, as
/// for signed webhooks: a captured message cannot be replayed later.
fn check_timestamp(envelope: &Fields<'_>, received_at: DateTime<Utc>) -> Result<(), ApiError> {
    let raw = envelope.required_str("Timestamp")?;
    let published = normalize::rfc3339(raw)
        .map_err(|problem| envelope.invalid_message("Timestamp", problem))?;
    let age = (received_at - published).num_seconds();
    let (reason, message) = if age > SIGNATURE_TOLERANCE_SECS {
        (
            "stale_timestamp",
            format!(
                "the SNS Timestamp is {age} s old; messages more than \
                 {SIGNATURE_TOLERANCE_SECS} s old are refused (a replay, or a retry \
                 policy longer than that)"
            ),
        )
    } else if -age > SIGNATURE_TOLERANCE_SECS {
        (
            "future_timestamp",
            format!(
                "the SNS Timestamp is {} s in the future; messages more than \
                 {SIGNATURE_TOLERANCE_SECS} s ahead are refused (is a clock wrong?)",
                -age
            ),
        )
    } else {
        return Ok(());
    };
    Err(refused(message).with_details(json!({
        "reason": reason,
        "field": envelope.name("Timestamp"),
        "tolerance_seconds": SIGNATURE_TOLERANCE_SECS,
    })))
}

/// With topics pinned, a message from any other topic is refused (403): it
/// may be well signed, by AWS, for somebody else's topic.
fn check_topic(envelope: &Fields<'_>, pinned: &BTreeSet<SnsTopicArn>) -> Result<(), ApiError> {
    if pinned.is_empty() {
        return Ok(());
    }
    let topic = envelope.required_str("TopicArn")?;
    if pinned.iter().any(|arn| arn.as_str() == topic) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "sns_topic_not_pinned",
        format!(
            "the SNS topic {topic:?} is not one this tenant pinned \
             (PUT /api/v1/tenants/{{id}}/sns-topics)"
        ),
    )
    .with_details(json!({ "field": envelope.name("TopicArn"), "pinned": pinned.len() })))
}

/// The certificate(s) SNS signs with: every `CERTIFICATE` block of a PEM file,
/// so the old and the new certificate can both be trusted while AWS rotates.
pub struct SnsCertificate {
    keys: Vec<CertificateKey>,
}

/// One certificate's RSA public key, parsed once for each digest SNS uses.
struct CertificateKey {
    sha1: ParsedPublicKey,
    sha256: ParsedPublicKey,
}

/// Why a PEM file cannot serve as the SNS signing certificate.
#[derive(Debug, thiserror::Error)]
pub enum SnsCertificateError {
    #[error("not a PEM X.509 certificate: {0}")]
    Pem(x509_cert::der::Error),
    #[error("the PEM file holds no certificate")]
    Empty,
    #[error("the certificate's key is not an RSA key of 2048 to 8192 bits: {0}")]
    Key(aws_lc_rs::error::KeyRejected),
}

impl SnsCertificate {
    /// Reads one or more PEM certificates (e.g. the file behind AWS's
    /// `SigningCertURL`, downloaded and checked by an operator).
    pub fn from_pem(pem: &[u8]) -> Result<Self, SnsCertificateError> {
        let certificates = Certificate::load_pem_chain(pem).map_err(SnsCertificateError::Pem)?;
        if certificates.is_empty() {
            return Err(SnsCertificateError::Empty);
        }
        let keys = certificates
            .iter()
            .map(|certificate| {
                let spki = certificate
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(SnsCertificateError::Pem)?;
                Ok(CertificateKey {
                    sha1: ParsedPublicKey::new(
                        &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                        &spki,
                    )
                    .map_err(SnsCertificateError::Key)?,
                    sha256: ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki)
                        .map_err(SnsCertificateError::Key)?,
                })
            })
            .collect::<Result<_, SnsCertificateError>>()?;
        Ok(Self { keys })
    }

    fn verifies(&self, version: SignatureVersion, message: &[u8], signature: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            let key = match version {
                SignatureVersion::Sha1 => &key.sha1,
                SignatureVersion::Sha256 => &key.sha256,
            };
            key.verify_sig(message, signature).is_ok()
        })
    }
}

impl std::fmt::Debug for SnsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsCertificate")
            .field("certificates", &self.keys.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
enum SignatureVersion {
    Sha1,
    Sha256,
}

/// Checks the envelope's `Signature` (of the `message_type` it says it is)
/// against the configured certificate: 401 `invalid_signature` unless it holds.
pub(super) fn verify(
    envelope: &Fields<'_>,
    message_type: &str,
    certificate: &SnsCertificate,
) -> Result<(), ApiError> {
    let version = match envelope.optional_str("SignatureVersion")? {
        Some("1") => SignatureVersion::Sha1,
        Some("2") => SignatureVersion::Sha256,
        Some(other) => {
            return Err(refused(format!(
                "SNS SignatureVersion {other:?} is not supported (expected 1 or 2)"
            )))
        }
        None => {
            return Err(refused(
                "the SNS message is not signed (no SignatureVersion)",
            ))
        }
    };
    let signature = envelope
        .optional_str("Signature")?
        .ok_or_else(|| refused("the SNS message is not signed (no Signature)"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| refused("the SNS Signature is not base64"))?;
    let canonical = string_to_sign(envelope, message_type)?;
    if certificate.verifies(version, canonical.as_bytes(), &signature) {
        Ok(())
    } else {
        Err(refused(
            "the SNS signature does not match the configured signing certificate",
        ))
    }
}

/// The text SNS signs: `Name\nvalue\n` for each signed field, in this order.
pub(super) fn string_to_sign(
    envelope: &Fields<'_>,
    message_type: &str,
) -> Result<String, ApiError> {
    const NOTIFICATION: [&str; 6] = [
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ];
    const CONFIRMATION: [&str; 7] = [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ];
    let names: &[&str] = if message_type == "Notification" {
        &NOTIFICATION
    } else {
        &CONFIRMATION
    };
    let mut canonical = String::new();
    for name in names {
        // Only a notification's Subject is optional: absent, it is left out.
        let value = match (*name, envelope.optional_str(name)?) {
            ("Subject", None) => continue,
            (_, Some(value)) => value,
            (_, None) => return Err(envelope.missing(name)),
        };
        canonical.push_str(name);
        canonical.push('\n');
        canonical.push_str(value);
        canonical.push('\n');
    }
    Ok(canonical)
}

fn refused(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("testdata/sns/test-signing-cert.pem");
    const OTHER_CERT: &[u8] = include_bytes!("testdata/sns/other-cert.pem");

    #[test]
    fn a_pem_bundle_trusts_every_certificate_in_it() {
        let bundle = [CERT, OTHER_CERT].concat();
        let certificate = SnsCertificate::from_pem(&bundle).unwrap();
        assert_eq!(certificate.keys.len(), 2);
        assert_eq!(
            format!("{certificate:?}"),
            "SnsCertificate { certificates: 2 }"
        );
    }

    #[test]
    fn text_that_is_not_a_certificate_is_refused_at_start_up() {
        assert!(matches!(
            SnsCertificate::from_pem(b"hello"),
            Err(SnsCertificateError::Empty | SnsCertificateError::Pem(_))
        ));
        let key = include_bytes!("testdata/sns/TEST-ONLY-signing-key.pk8.pem");
        assert!(SnsCertificate::from_pem(key).is_err());
    }
}
