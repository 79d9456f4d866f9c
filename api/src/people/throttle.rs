//! Slowing down password guessing, per account and per client address,
//! shared by every process through the `auth_throttle` table.
//!
//! Each failed sign-in counts against `email:<address>` and `ip:<client>`.
//! From the [`ACCOUNT_FREE_FAILURES`]th failure on an account (the
//! [`IP_FREE_FAILURES`]th from one address), the key is locked for 1 s,
//! then 2 s, 4 s... doubling up to [`MAX_LOCK`]; a locked key is answered
//! 429 with `Retry-After`, before any password is checked. Failures older
//! than [`WINDOW`] are forgotten; a successful sign-in clears the account's
//! count (not the address's, which may be guessing at many accounts).

use std::time::Duration;

use sqlx::PgPool;

/// Failures an account may have before it is slowed down.
pub const ACCOUNT_FREE_FAILURES: i32 = 5;
/// Failures one client address may have before it is slowed down.
pub const IP_FREE_FAILURES: i32 = 20;
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures further apart than this start counting again.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The throttle key of an account.
pub fn account_key(email: &str) -> String {
    format!("email:{email}")
}

/// The throttle key of a client address.
pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// How long the most locked of `keys` stays locked (`None`: none is).
pub async fn locked_for(pool: &PgPool, keys: &[String]) -> Result<Option<Duration>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT max(EXTRACT(EPOCH FROM (locked_until - now()))::float8)
           FROM auth_throttle WHERE key = ANY($1) AND locked_until > now()",
    )
    .bind(keys)
    .fetch_one(pool)
    .await?;
    Ok(seconds
        .filter(|s| *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_LOCK.as_secs_f64()))))
}

/// Counts a failure against `key`; locks it once past `free` failures.
pub async fn record_failure(pool: &PgPool, key: &str, free: i32) -> Result<(), sqlx::Error> {
    let window = WINDOW.as_secs_f64();
    let max_lock = MAX_LOCK.as_secs_f64();
    sqlx::query(
        "INSERT INTO auth_throttle AS t (key, failures, last_failure_at) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => $3)
                             THEN 1 ELSE t.failures + 1 END,
             last_failure_at = now(),
             locked_until = CASE
                 WHEN t.last_failure_at < now() - make_interval(secs => $3) THEN NULL
                 WHEN t.failures + 1 >= $2
                 THEN now() + make_interval(secs => least(power(2, t.failures + 1 - $2), $4))
                 ELSE t.locked_until END",
    )
    .bind(key)
    .bind(free)
    .bind(window)
    .bind(max_lock)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets `key`'s failures (after a successful sign-in).
pub async fn clear(pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
