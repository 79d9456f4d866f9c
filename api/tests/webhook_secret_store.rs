//! `WebhookSecretStore` against a real PostgreSQL: key material goes in sealed
//! and comes back out only for the right tenant and master key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alertledger_api::auth::signing::{
    generate_webhook_secret, MasterKey, SecretBytes, SecretStoreError, VaultError,
    WebhookSecretCipher, WebhookSecretStore,
};
use alertledger_domain::values::{TenantId, WebhookSecretId};
use alertledger_schema::TestDatabase;
use base64::Engine;

fn store_on(db: &TestDatabase, master: &MasterKey) -> WebhookSecretStore {
    WebhookSecretStore::new(db.pool().clone(), WebhookSecretCipher::new(master))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn stored_secrets_load_back_to_the_same_key_in_the_order_asked() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let tenant = TenantId::new_v7();
    let (old_id, new_id) = (WebhookSecretId::new_v7(), WebhookSecretId::new_v7());
    let (_, old_key) = generate_webhook_secret();
    let (_, new_key) = generate_webhook_secret();
    store.store(tenant, old_id, &old_key).await.unwrap();
    store.store(tenant, new_id, &new_key).await.unwrap();

    let loaded = store.load(tenant, &[new_id, old_id]).await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].0, new_id);
    assert_eq!(loaded[0].1.expose(), new_key.expose());
    assert_eq!(loaded[1].0, old_id);
    assert_eq!(loaded[1].1.expose(), old_key.expose());

    // Only what is asked (the log's active ids) comes back.
    let only_new = store.load(tenant, &[new_id]).await.unwrap();
    assert_eq!(only_new.len(), 1);
    assert_eq!(only_new[0].0, new_id);
    assert!(store.load(tenant, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_table_holds_ciphertext_and_never_the_key_in_any_form() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
    let (display, key) = generate_webhook_secret();
    store.store(tenant, secret_id, &key).await.unwrap();

    let (nonce, ciphertext, row_text): (Vec<u8>, Vec<u8>, String) = sqlx::query_as(
        "SELECT nonce, ciphertext, row_to_json(w)::text FROM webhook_secrets w WHERE secret_id = $1",
    )
    .bind(secret_id.as_uuid())
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(nonce.len(), 24);
    assert_eq!(ciphertext.len(), 32 + 16);
    assert!(!contains(&ciphertext, key.expose()));
    assert!(!contains(&ciphertext, &key.expose()[..8]));
    assert!(!contains(&nonce, &key.expose()[..8]));
    // bytea renders as \x<hex> in JSON; the display form is base64.
    assert!(!row_text.contains(&hex::encode(key.expose())));
    assert!(!row_text.contains(&display));
    assert!(!row_text.contains(&base64::engine::general_purpose::STANDARD.encode(key.expose())));
}

#[tokio::test]
async fn a_secret_stored_under_another_master_key_fails_to_load_naming_the_secret() {
    let db = TestDatabase::create().await;
    let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
    let (_, key) = generate_webhook_secret();
    store_on(&db, &MasterKey::generate())
        .store(tenant, secret_id, &key)
        .await
        .unwrap();

    let error = store_on(&db, &MasterKey::generate())
        .load(tenant, &[secret_id])
        .await
        .unwrap_err();
    assert!(
        matches!(error, SecretStoreError::Vault(VaultError::Unseal { secret_id: id }) if id == secret_id),
        "{error:?}"
    );
    assert!(error.to_string().contains(&secret_id.to_string()));
}

#[tokio::test]
async fn a_row_moved_to_another_tenant_does_not_decrypt_there() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let (tenant, other_tenant) = (TenantId::new_v7(), TenantId::new_v7());
    let secret_id = WebhookSecretId::new_v7();
    store
        .store(tenant, secret_id, &SecretBytes::from_bytes([5; 32]))
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_secrets SET tenant_id = $1 WHERE secret_id = $2")
        .bind(other_tenant.as_uuid())
        .bind(secret_id.as_uuid())
        .execute(db.pool())
        .await
        .unwrap();

    let error = store.load(other_tenant, &[secret_id]).await.unwrap_err();
    assert!(
        matches!(error, SecretStoreError::Vault(VaultError::Unseal { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_ciphertext_copied_onto_another_secret_id_does_not_decrypt() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let tenant = TenantId::new_v7();
    let (original, copy) = (WebhookSecretId::new_v7(), WebhookSecretId::new_v7());
    store
        .store(tenant, original, &SecretBytes::from_bytes([5; 32]))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO webhook_secrets (secret_id, tenant_id, nonce, ciphertext) \
         SELECT $1, tenant_id, nonce, ciphertext FROM webhook_secrets WHERE secret_id = $2",
    )
    .bind(copy.as_uuid())
    .bind(original.as_uuid())
    .execute(db.pool())
    .await
    .unwrap();

    assert!(store.load(tenant, &[original]).await.is_ok());
    let error = store.load(tenant, &[copy]).await.unwrap_err();
    assert!(
        matches!(error, SecretStoreError::Vault(VaultError::Unseal { secret_id }) if secret_id == copy),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_id_without_a_row_of_this_tenant_is_an_error_naming_it() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let (tenant, other_tenant) = (TenantId::new_v7(), TenantId::new_v7());
    let others_secret = WebhookSecretId::new_v7();
    store
        .store(
            other_tenant,
            others_secret,
            &SecretBytes::from_bytes([5; 32]),
        )
        .await
        .unwrap();

    let unknown = WebhookSecretId::new_v7();
    for secret_id in [unknown, others_secret] {
        let error = store.load(tenant, &[secret_id]).await.unwrap_err();
        assert!(
            matches!(error, SecretStoreError::NotStored { secret_id: id } if id == secret_id),
            "{error:?}"
        );
        assert!(error.to_string().contains(&secret_id.to_string()));
    }
}

#[tokio::test]
async fn storing_the_same_secret_id_twice_is_refused() {
    let db = TestDatabase::create().await;
    let store = store_on(&db, &MasterKey::generate());
    let (tenant, secret_id) = (TenantId::new_v7(), WebhookSecretId::new_v7());
    let (_, key) = generate_webhook_secret();
    store.store(tenant, secret_id, &key).await.unwrap();
    let error = store.store(tenant, secret_id, &key).await.unwrap_err();
    let SecretStoreError::Database(error) = error else {
        panic!("expected a database error, got {error:?}");
    };
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
}
