//! Checking a signed webhook request, on its raw bytes, before any parsing.
//!
//! Two header styles are accepted (API.md, "Webhook ingestion"):
//!
//! - `X-Timestamp: <unix seconds>` and
//!   `X-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>`;
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp`, and
//!   `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<raw body>")>`,
//!   which may hold several space-separated signatures (entries of versions
//!   other than `v1` are ignored, as the spec asks).
//!
//! `X-Signature` is keyed with the secret's decoded bytes, or with the secret
//! text exactly as issued (`whsec_...`, as GitHub, Stripe and the original
//! design key it): both pass. Standard Webhooks keys with the decoded bytes,
//! as its specification says.
//!
//! When a request carries both, `webhook-signature` is the one checked. The
//! timestamp must be within [`SIGNATURE_TOLERANCE_SECS`] of now either way, and
//! a signature made with any active secret passes. Comparison is constant time
//! (`hmac`'s `verify_slice`).

use alertledger_domain::values::WebhookSecretId;
use axum::http::{HeaderMap, StatusCode};
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::secret::SecretBytes;
use crate::error::ApiError;

/// How far a signed timestamp may be from now, into the past or the future.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

const X_TIMESTAMP: Header = Header("x-timestamp", "X-Timestamp");
const X_SIGNATURE: Header = Header("x-signature", "X-Signature");
const WEBHOOK_ID: Header = Header("webhook-id", "webhook-id");
const WEBHOOK_TIMESTAMP: Header = Header("webhook-timestamp", "webhook-timestamp");
const WEBHOOK_SIGNATURE: Header = Header("webhook-signature", "webhook-signature");

/// Standard base64 with padding optional, for the signatures senders compute.
const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HmacSha256 = Hmac<Sha256>;

/// A header's lookup name and the spelling used in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header(&'static str, &'static str);

impl Header {
    /// The header's name as the documentation spells it.
    pub fn name(self) -> &'static str {
        self.1
    }
}

/// Which header style a request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// `X-Timestamp` and `X-Signature: sha256=<hex>`.
    XSignature,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    StandardWebhooks,
}

impl SignatureScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XSignature => "x_signature",
            Self::StandardWebhooks => "standard_webhooks",
        }
    }

    fn signed_content(self) -> &'static str {
        match self {
            Self::XSignature => "\"<X-Timestamp>.<raw body>\"",
            Self::StandardWebhooks => "\"<webhook-id>.<webhook-timestamp>.<raw body>\"",
        }
    }
}

/// A request whose signature checked out: the style, and which secret matched
/// (so rotation can tell when an old secret stops being used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedSignature<'a> {
    pub scheme: SignatureScheme,
    pub secret_id: WebhookSecretId,
    /// The `webhook-id` the signature covers (Standard Webhooks): the
    /// delivery key, which unsigned headers cannot override.
    pub signed_id: Option<&'a str>,
}

/// Why a request's signature was refused. Messages say what to fix and never
/// include key material or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "this tenant requires signed webhooks: send X-Timestamp and X-Signature, \
         or webhook-id, webhook-timestamp and webhook-signature"
    )]
    Missing,
    #[error("the {} header {problem}", header.name())]
    Malformed {
        header: Header,
        problem: &'static str,
    },
    #[error(
        "the {} is {age_secs} s old; signatures more than {SIGNATURE_TOLERANCE_SECS} s old \
         are refused (is the sender's clock right?)", header.name()
    )]
    Stale { header: Header, age_secs: i64 },
    #[error(
        "the {} is {ahead_secs} s in the future; signatures more than \
         {SIGNATURE_TOLERANCE_SECS} s ahead are refused (is the sender's clock right?)",
         header.name()
    )]
    Future { header: Header, ahead_secs: i64 },
    #[error(
        "the signature matches none of this tenant's active webhook secrets; sign {} \
         with HMAC-SHA256, keyed with the secret as issued (whsec_...; X-Signature) or \
         the base64-decoded bytes after whsec_",
        scheme.signed_content()
    )]
    Mismatch { scheme: SignatureScheme },
    #[error("this tenant has no active webhook secret to check the signature with")]
    NoActiveSecret,
}

impl SignatureError {
    /// A stable machine-readable reason, for the error body's details.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed { .. } => "malformed",
            Self::Stale { .. } => "stale_timestamp",
            Self::Future { .. } => "future_timestamp",
            Self::Mismatch { .. } => "mismatch",
            Self::NoActiveSecret => "no_active_secret",
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(error: SignatureError) -> Self {
        let mut details = json!({ "reason": error.reason() });
        match &error {
            SignatureError::Malformed { header, .. } => {
                details["header"] = json!(header.name());
            }
            SignatureError::Stale { header, .. } | SignatureError::Future { header, .. } => {
                details["header"] = json!(header.name());
                details["tolerance_seconds"] = json!(SIGNATURE_TOLERANCE_SECS);
            }
            SignatureError::Mismatch { scheme } => {
                details["scheme"] = json!(scheme.as_str());
            }
            SignatureError::Missing | SignatureError::NoActiveSecret => {}
        }
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            error.to_string(),
        )
        .with_details(details)
    }
}

/// Whether the request carries a signature of either style (for tenants that
/// do not require signing but whose tool signs anyway).
pub fn carries_signature(headers: &HeaderMap) -> bool {
    headers.contains_key(WEBHOOK_SIGNATURE.0) || headers.contains_key(X_SIGNATURE.0)
}

/// Checks the signature of a request on its raw `body`, against the tenant's
/// currently active secrets, at `now_unix` (unix seconds).
pub fn verify_signature<'h>(
    headers: &'h HeaderMap,
    body: &[u8],
    active_secrets: &[(WebhookSecretId, SecretBytes)],
    now_unix: i64,
) -> Result<VerifiedSignature<'h>, SignatureError> {
    let signed = SignedRequest::from_headers(headers)?;
    signed.check_freshness(now_unix)?;
    if active_secrets.is_empty() {
        return Err(SignatureError::NoActiveSecret);
    }
    for (secret_id, key) in active_secrets {
        // X-Signature: the decoded bytes, then the text as issued.
        let as_issued = zeroize::Zeroizing::new(key.to_display());
        let keys: &[&[u8]] = match signed.scheme {
            SignatureScheme::XSignature => &[key.expose(), as_issued.as_bytes()],
            SignatureScheme::StandardWebhooks => &[key.expose()],
        };
        for key in keys {
            let expected = signed.mac(key, body);
            // `verify_slice` compares in constant time.
            if signed
                .signatures
                .iter()
                .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
            {
                return Ok(VerifiedSignature {
                    scheme: signed.scheme,
                    secret_id: *secret_id,
                    signed_id: (signed.scheme == SignatureScheme::StandardWebhooks)
                        .then_some(signed.webhook_id),
                });
            }
        }
    }
    Err(SignatureError::Mismatch {
        scheme: signed.scheme,
    })
}

/// The `X-Signature` value for `body` sent with `X-Timestamp: <timestamp>`:
/// `sha256=<hex>`.
pub fn sign_x_signature(key: &SecretBytes, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(key.expose(), &[timestamp.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `X-Signature` value keyed with the secret text as issued (`whsec_...`),
/// as GitHub- and Stripe-style senders compute it.
pub fn sign_x_signature_as_issued(key: &SecretBytes, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let text = zeroize::Zeroizing::new(key.to_display());
    let mac = hmac_sha256(text.as_bytes(), &[timestamp.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` value (one `v1,<base64>` entry) for `body` sent with
/// `webhook-id: <webhook_id>` and `webhook-timestamp: <timestamp>`.
pub fn sign_standard(key: &SecretBytes, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = standard_mac(key.expose(), webhook_id, &timestamp, body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What the headers claim: the style, the timestamp and id as sent (they are
/// part of the signed content), and the candidate signatures.
struct SignedRequest<'a> {
    scheme: SignatureScheme,
    timestamp_header: Header,
    timestamp_text: &'a str,
    timestamp: i64,
    webhook_id: &'a str,
    signatures: Vec<Vec<u8>>,
}

impl<'a> SignedRequest<'a> {
    fn from_headers(headers: &'a HeaderMap) -> Result<Self, SignatureError> {
        if headers.contains_key(WEBHOOK_SIGNATURE.0) {
            Self::standard(headers)
        } else if headers.contains_key(X_SIGNATURE.0) {
            Self::x_signature(headers)
        } else {
            Err(SignatureError::Missing)
        }
    }

    fn x_signature(headers: &'a HeaderMap) -> Result<Self, SignatureError> {
        let timestamp_text = single_value(headers, X_TIMESTAMP)?;
        let timestamp = parse_timestamp(X_TIMESTAMP, timestamp_text)?;
        let signatures = headers
            .get_all(X_SIGNATURE.0)
            .iter()
            .map(|value| {
                let malformed = SignatureError::Malformed {
                    header: X_SIGNATURE,
                    problem: "must be sha256=<64 hex digits>",
                };
                let value = value.to_str().map_err(|_| malformed.clone())?.trim();
                let hex_digest = match value.split_at_checked("sha256=".len()) {
                    Some((prefix, digest)) if prefix.eq_ignore_ascii_case("sha256=") => digest,
                    _ => return Err(malformed),
                };
                match hex::decode(hex_digest) {
                    Ok(digest) if digest.len() == 32 => Ok(digest),
                    _ => Err(malformed),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            scheme: SignatureScheme::XSignature,
            timestamp_header: X_TIMESTAMP,
            timestamp_text,
            timestamp,
            webhook_id: "",
            signatures,
        })
    }

    fn standard(headers: &'a HeaderMap) -> Result<Self, SignatureError> {
        let webhook_id = single_value(headers, WEBHOOK_ID)?;
        if webhook_id.is_empty() {
            return Err(SignatureError::Malformed {
                header: WEBHOOK_ID,
                problem: "is empty",
            });
        }
        let timestamp_text = single_value(headers, WEBHOOK_TIMESTAMP)?;
        let timestamp = parse_timestamp(WEBHOOK_TIMESTAMP, timestamp_text)?;
        let mut signatures = Vec::new();
        for value in headers.get_all(WEBHOOK_SIGNATURE.0) {
            let value = value.to_str().map_err(|_| SignatureError::Malformed {
                header: WEBHOOK_SIGNATURE,
                problem: "is not printable ASCII",
            })?;
            for entry in value.split_ascii_whitespace() {
                let (version, signature) =
                    entry.split_once(',').ok_or(SignatureError::Malformed {
                        header: WEBHOOK_SIGNATURE,
                        problem: "must hold space-separated v1,<base64> entries",
                    })?;
                if version != "v1" {
                    continue;
                }
                match SIGNATURE_BASE64.decode(signature) {
                    Ok(digest) if digest.len() == 32 => signatures.push(digest),
                    _ => {
                        return Err(SignatureError::Malformed {
                            header: WEBHOOK_SIGNATURE,
                            problem: "has a v1 entry that is not base64 of 32 bytes",
                        })
                    }
                }
            }
        }
        if signatures.is_empty() {
            return Err(SignatureError::Malformed {
                header: WEBHOOK_SIGNATURE,
                problem: "holds no v1,<base64> signature",
            });
        }
        Ok(Self {
            scheme: SignatureScheme::StandardWebhooks,
            timestamp_header: WEBHOOK_TIMESTAMP,
            timestamp_text,
            timestamp,
            webhook_id,
            signatures,
        })
    }

    fn check_freshness(&self, now_unix: i64) -> Result<(), SignatureError> {
        let age = now_unix.saturating_sub(self.timestamp);
        if age > SIGNATURE_TOLERANCE_SECS {
            Err(SignatureError::Stale {
                header: self.timestamp_header,
                age_secs: age,
            })
        } else if age < -SIGNATURE_TOLERANCE_SECS {
            Err(SignatureError::Future {
                header: self.timestamp_header,
                ahead_secs: age.saturating_neg(),
            })
        } else {
            Ok(())
        }
    }

    /// The HMAC state over the signed content, keyed with `key`.
    fn mac(&self, key: &[u8], body: &[u8]) -> HmacSha256 {
        match self.scheme {
            SignatureScheme::XSignature => {
                hmac_sha256(key, &[self.timestamp_text.as_bytes(), b".", body])
            }
            SignatureScheme::StandardWebhooks => {
                standard_mac(key, self.webhook_id, self.timestamp_text, body)
            }
        }
    }
}

/// The one value of a header that must appear exactly once.
fn single_value(headers: &HeaderMap, header: Header) -> Result<&str, SignatureError> {
    let mut values = headers.get_all(header.0).iter();
    let malformed = |problem| SignatureError::Malformed { header, problem };
    let value = values.next().ok_or(malformed("is missing"))?;
    if values.next().is_some() {
        return Err(malformed("appears more than once"));
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| malformed("is not printable ASCII"))
}

fn parse_timestamp(header: Header, text: &str) -> Result<i64, SignatureError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed {
            header,
            problem: "must be unix seconds (digits only)",
        });
    }
    text.parse().map_err(|_| SignatureError::Malformed {
        header,
        problem: "is out of range",
    })
}

fn standard_mac(key: &[u8], webhook_id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    hmac_sha256(
        key,
        &[
            webhook_id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            body,
        ],
    )
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
