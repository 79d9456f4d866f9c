//! Webhook request signing: the secrets tenants sign with, how they are kept,
//! and how a signed request is checked.
//!
//! - [`secret`] — [`SecretBytes`], the 32 bytes of key material, and the
//!   `whsec_…` form a user is shown once.
//! - [`vault`] — [`MasterKey`] (`ALERTLEDGER_MASTER_KEY`) and
//!   [`WebhookSecretCipher`], which seals key material with XChaCha20-Poly1305.
//! - [`store`] — [`WebhookSecretStore`], the ciphertext in the
//!   `webhook_secrets` table.
//! - [`verify`] — [`verify_signature`] for both header styles, and the
//!   [`sign_x_signature`] / [`sign_standard`] helpers senders and tests use.
//!
//! # Where secrets live
//!
//! A secret must be usable for HMAC, so it cannot be hashed like an API key: it
//! is stored encrypted under the master key, outside the event log. The log
//! records only the secret's id (`WebhookSecretAdded`, `WebhookSecretRevoked`
//! on the `Tenant` aggregate), and decides alone which secrets are active; the
//! table holds nothing but ciphertext. Two secrets may be active at once, so a
//! tool can rotate without a gap.
//!
//! # Key material
//!
//! A secret is 32 random bytes, shown as `whsec_` followed by their standard
//! base64 (with padding), e.g. `whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`.
//! The HMAC-SHA256 key is the **decoded 32 bytes** after `whsec_`, for both
//! header styles, so one secret serves either:
//!
//! - Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64>`): exactly what the Standard Webhooks spec
//!   and its libraries do with a `whsec_` secret, so those libraries sign for
//!   us unchanged. Signed content: `<webhook-id>.<webhook-timestamp>.<raw body>`.
//! - `X-Timestamp` / `X-Signature: sha256=<hex>`: signed content
//!   `<timestamp>.<raw body>`, same key. With a shell, the key is the hex of
//!   the decoded bytes (`printf` rather than `echo -n`, which some shells'
//!   `echo` would mangle on a body containing backslashes):
//!
//! ```sh
//! KEY_HEX=$(printf '%s' "${SECRET#whsec_}" | base64 -d | xxd -p -c 256)
//! printf '%s' "$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY_HEX" | awk '{print $NF}'
//! ```
//!
//! With the secret above, `TS=1700000000` and
//! `BODY='{"asset_name":"web-01","signature":"disk_full","severity":"high","message":"/ is 95% full"}'`
//! that prints `131745e250766c1ed4fb08192cee3fe8324b94b72bc9278806b06bf9311cc130`
//! (a test pins this value; `docs/webhook-signing.md` has the full curl
//! commands, which a test runs against a live server).

pub mod active;
pub mod secret;
pub mod store;
pub mod vault;
pub mod verify;

pub use active::ActiveSecrets;
pub use secret::{generate_webhook_secret, SecretBytes, SecretFormatError, WEBHOOK_SECRET_PREFIX};
pub use store::{SecretStoreError, WebhookSecretStore};
pub use vault::{MasterKey, MasterKeyError, Sealed, VaultError, WebhookSecretCipher};
pub use verify::{
    carries_signature, sign_standard, sign_x_signature, sign_x_signature_as_issued,
    verify_signature, SignatureError, SignatureScheme, VerifiedSignature, SIGNATURE_TOLERANCE_SECS,
};
