//! Turning what tools send into alertledger's value types without rejecting
//! what is merely long or untidy: names, messages and labels are cut to their
//! limits on character boundaries and stray control characters become spaces;
//! only a value that is missing or meaningless is an error. Also the hashes
//! that give a notification without an id of its own a stable delivery key.

use std::collections::BTreeMap;

use alertledger_domain::values::{
    AlertMessage, AlertSignature, AssetName, DeliveryKey, Fingerprint, Labels, ValueError,
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::lenient::Lenient;
use crate::error::ApiError;

const MAX_NAME_CHARS: usize = 255;
const MAX_MESSAGE_CHARS: usize = 10_000;
const MAX_FINGERPRINT_CHARS: usize = 128;
const MAX_LABELS: usize = 64;
const MAX_LABEL_KEY_CHARS: usize = 128;
const MAX_LABEL_VALUE_CHARS: usize = 1024;

/// Hex SHA-256 (first 32 characters) of the parts joined by a separator no
/// part can contain.
pub(super) fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0_u8]);
    }
    hex::encode(hasher.finalize())[..32].to_owned()
}

/// `<source>:<hash of parts>`: a notification's identity built from the
/// fields that tell one notification from another.
pub(super) fn hashed_key(source: &str, parts: &[&str]) -> Result<DeliveryKey, ApiError> {
    DeliveryKey::parse(&format!("{source}:{}", short_hash(parts)))
        .map_err(|error| ApiError::internal(&error))
}

/// `<source>:<id>` for a tool's own notification id, hashed when the id is too
/// long or unprintable to be a key as it is.
pub(super) fn id_key(source: &str, id: &str) -> Result<DeliveryKey, ApiError> {
    DeliveryKey::parse(&format!("{source}:{id}")).or_else(|_| hashed_key(source, &[id]))
}

/// The tool's identity of an alert, hashed (`sha256:...`) when it is too long
/// or unprintable to keep as it is; empty is an error.
pub(super) fn fingerprint(raw: &str) -> Result<Fingerprint, ValueError> {
    if raw.chars().count() <= MAX_FINGERPRINT_CHARS {
        if let Ok(fingerprint) = Fingerprint::parse(raw) {
            return Ok(fingerprint);
        }
    }
    if raw.trim().is_empty() {
        return Fingerprint::parse("");
    }
    Fingerprint::parse(&format!("sha256:{}", short_hash(&[raw])))
}

/// A signature: one line, cut to 255 characters.
pub(super) fn signature(raw: &str) -> Result<AlertSignature, ValueError> {
    AlertSignature::parse(truncate(&one_line(raw), MAX_NAME_CHARS))
}

/// An asset name: one line, cut to 255 characters.
pub(super) fn asset(raw: &str) -> Result<AssetName, ValueError> {
    AssetName::parse(truncate(&one_line(raw), MAX_NAME_CHARS))
}

/// A message: control characters other than line breaks and tabs become
/// spaces, and a message over 10,000 characters is cut, ending in `…`.
pub(super) fn message(raw: &str) -> Result<AlertMessage, ValueError> {
    let cleaned: String = raw
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => c,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    if cleaned.chars().count() <= MAX_MESSAGE_CHARS {
        return AlertMessage::parse(&cleaned);
    }
    let mut cut = truncate(&cleaned, MAX_MESSAGE_CHARS - 1).to_owned();
    cut.push('…');
    AlertMessage::parse(&cut)
}

/// Labels within their limits: entries whose key is empty or over 128
/// characters are dropped, values are cut to 1,024 characters, and past 64
/// entries the rest (in key order) are dropped; each change is a warning on
/// `field`.
pub(super) fn labels(
    entries: BTreeMap<String, String>,
    lenient: &mut Lenient<'_>,
    field: &str,
) -> Result<Labels, ValueError> {
    let total = entries.len();
    let usable: Vec<(String, String)> = entries
        .into_iter()
        .filter(|(key, _)| !key.trim().is_empty() && key.chars().count() <= MAX_LABEL_KEY_CHARS)
        .collect();
    let unusable_keys = total - usable.len();
    let usable_count = usable.len();
    let mut cut_values = Vec::new();
    let kept: BTreeMap<String, String> = usable
        .into_iter()
        .take(MAX_LABELS)
        .map(|(key, value)| {
            let cut = truncate(&value, MAX_LABEL_VALUE_CHARS);
            if cut.len() < value.len() {
                cut_values.push(key.clone());
            }
            let cut = cut.to_owned();
            (key, cut)
        })
        .collect();
    if unusable_keys > 0 {
        lenient.warn(
            field,
            format!("{unusable_keys} label(s) with an empty key or one over {MAX_LABEL_KEY_CHARS} characters dropped"),
        );
    }
    // One warning for all cut values, naming the first few.
    if let Some(first) = cut_values.first() {
        let named: Vec<&str> = cut_values.iter().take(5).map(String::as_str).collect();
        let field = if cut_values.len() == 1 {
            format!("{field}.{first}")
        } else {
            field.to_owned()
        };
        lenient.warn(
            field,
            format!(
                "{} label value(s) cut to {MAX_LABEL_VALUE_CHARS} characters ({}{})",
                cut_values.len(),
                named.join(", "),
                if cut_values.len() > named.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
        );
    }
    let dropped = usable_count - kept.len();
    if dropped > 0 {
        lenient.warn(
            field,
            format!("{dropped} label(s) past the limit of {MAX_LABELS} dropped (in key order)"),
        );
    }
    Labels::new(kept)
}

/// A timestamp in any of the forms tools send, in UTC: RFC 3339 (any
/// precision, any offset), ISO 8601 with an offset without a colon
/// (`2015-07-17T08:42:58.315+0000`, PagerDuty's sample) or in hours only
/// (`+02`), a space instead of `T`, and no offset at all (taken as UTC).
pub(super) fn rfc3339(raw: &str) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let spaced = raw.replacen(' ', "T", 1);
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(at) = DateTime::parse_from_str(&spaced, format) {
            return Ok(at.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(&spaced, format) {
            return Ok(at.and_utc());
        }
    }
    Err(format!("{raw:?} is not an ISO 8601 / RFC 3339 timestamp"))
}

/// The first `max` characters of `text`, cut on a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn one_line(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary_not_rejected() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 5);
        let message = message(&long).unwrap();
        assert_eq!(message.as_str().chars().count(), MAX_MESSAGE_CHARS);
        assert!(message.as_str().ends_with('…'));
    }

    #[test]
    fn control_characters_in_a_message_become_spaces_but_line_breaks_stay() {
        let message = message("a\u{0}b\nc").unwrap();
        assert_eq!(message.as_str(), "a b\nc");
    }

    #[test]
    fn an_overlong_fingerprint_is_hashed_and_an_empty_one_rejected() {
        let long = "f".repeat(MAX_FINGERPRINT_CHARS + 1);
        let hashed = fingerprint(&long).unwrap();
        assert!(hashed.as_str().starts_with("sha256:"));
        assert_eq!(hashed, fingerprint(&long).unwrap());
        assert!(fingerprint("").is_err());
    }

    #[test]
    fn pagerduty_and_other_iso_forms_are_read() {
        let expected = "2015-07-17T08:42:58.315Z";
        for raw in [
            "2015-07-17T08:42:58.315+0000",
            "2015-07-17T08:42:58.315+00:00",
            "2015-07-17T08:42:58.315Z",
            "2015-07-17 08:42:58.315Z",
            "2015-07-17T08:42:58.315",
            "2015-07-17T10:42:58.315+0200",
            "2015-07-17T10:42:58.315+02",
        ] {
            let at = rfc3339(raw).unwrap();
            assert_eq!(at, rfc3339(expected).unwrap(), "{raw}");
        }
        assert!(rfc3339("yesterday").is_err());
    }

    #[test]
    fn labels_past_the_limits_are_trimmed_to_fit() {
        let mut entries: BTreeMap<String, String> = (0..70)
            .map(|i| (format!("k{i:02}"), "v".repeat(2000)))
            .collect();
        entries.insert("x".repeat(200), "dropped".into());
        let headers = axum::http::HeaderMap::new();
        let map = alertledger_domain::values::SeverityMap::default();
        let delivery = super::super::RawDelivery {
            body: b"",
            headers: &headers,
            received_at: Utc::now(),
            severity_map: &map,
        };
        let mut lenient = Lenient::new(&delivery);
        let labels = labels(entries, &mut lenient, "labels").unwrap();
        let warnings = lenient.into_warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.warning.contains("past the limit of 64")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.warning.contains("1 label(s) with an empty key")),
            "{warnings:?}"
        );
        assert_eq!(labels.len(), MAX_LABELS);
        assert_eq!(
            labels.get("k00").unwrap().chars().count(),
            MAX_LABEL_VALUE_CHARS
        );
        assert_eq!(labels.get("k63").map(str::len), Some(MAX_LABEL_VALUE_CHARS));
        assert_eq!(labels.get("k64"), None);
    }

    #[test]
    fn an_id_too_long_for_a_key_is_hashed() {
        let key = id_key("sns", &"m".repeat(300)).unwrap();
        assert!(key.as_str().starts_with("sns:"));
        assert_eq!(key.as_str().len(), "sns:".len() + 32);
        assert_eq!(id_key("sns", "abc").unwrap().as_str(), "sns:abc");
    }
}
