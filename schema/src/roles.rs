//! The two database roles (API.md "Database roles", docs/threat-model.md).
//!
//! - The **owner** runs the migrations and owns every table, trigger and
//!   function; `projections rebuild` (which swaps tables) also runs as it.
//! - The **service** role is a login role that is a member of the group role
//!   [`SERVICE_GROUP`] and owns nothing. Migration 0025 grants the group
//!   SELECT and INSERT on the append-only tables (`events` and the seal) and
//!   what the read models and workers need on the others, so the service's
//!   own credentials cannot UPDATE, DELETE or TRUNCATE history nor disable
//!   the triggers that guard it.
//!
//! Roles are cluster-wide: several databases (one per test) share the group
//! role and login roles, so creating one tolerates a concurrent creator.

use sqlx::PgPool;

/// The group role every service login role is a member of.
pub const SERVICE_GROUP: &str = "alertledger_service";

/// The login role the zero-set-up modes (`serve`/`demo` without
/// `DATABASE_URL`, embedded PostgreSQL) create and serve as.
pub const DEFAULT_SERVICE_ROLE: &str = "alertledger_app";

/// Why a service role could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{0:?} is not a usable role name: use lowercase letters, digits and underscores (at most 63, starting with a letter)")]
    InvalidName(String),
    #[error(
        "role {0:?} is a superuser or owns the tables: the service role must be a role of its own"
    )]
    Privileged(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Who a connection is, as far as the service's safety goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `current_user`.
    pub user: String,
    pub superuser: bool,
    /// The role owns `events` or may act as its owner (is a member of it).
    pub owns_events: bool,
}

impl Identity {
    /// A superuser or the owner: one that could rewrite history.
    pub fn can_rewrite_history(&self) -> bool {
        self.superuser || self.owns_events
    }
}

/// The identity of `pool`'s connections.
pub async fn identity(pool: &PgPool) -> Result<Identity, sqlx::Error> {
    let (user, superuser, owns_events): (String, bool, Option<bool>) = sqlx::query_as(
        "SELECT current_user::text,
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                (SELECT pg_has_role(current_user, c.relowner, 'MEMBER')
                   FROM pg_class c WHERE c.oid = to_regclass('public.events'))",
    )
    .fetch_one(pool)
    .await?;
    Ok(Identity {
        user,
        superuser,
        owns_events: owns_events.unwrap_or(false),
    })
}

/// Grants [`SERVICE_GROUP`] its privileges on every table as it stands now
/// (migration 0025's `alertledger_grant_service_privileges()`). Runs as the
/// owner; a no-op before migration 0025 exists.
pub async fn grant_service_privileges(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DO $$ BEGIN
             IF to_regprocedure('public.alertledger_grant_service_privileges()') IS NOT NULL THEN
                 PERFORM public.alertledger_grant_service_privileges();
             END IF;
         END $$",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Checks a role name before it is put into DDL (quoted with `%I` anyway).
pub fn validate_role_name(name: &str) -> Result<(), RoleError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 && name != SERVICE_GROUP {
        Ok(())
    } else {
        Err(RoleError::InvalidName(name.to_owned()))
    }
}

/// Creates login role `name` (or updates it: LOGIN, and the password when one
/// is given) as a member of [`SERVICE_GROUP`]. Runs as the owner, which
/// needs CREATEROLE (or superuser). Refuses a role that is a superuser, the
/// connecting role itself, or one that may act as the tables' owner.
pub async fn ensure_service_login(
    pool: &PgPool,
    name: &str,
    password: Option<&str>,
) -> Result<(), RoleError> {
    validate_role_name(name)?;
    let existing: Option<(bool, bool, bool)> = sqlx::query_as(
        "SELECT r.rolsuper,
                r.rolname = current_user,
                COALESCE((SELECT pg_has_role(r.oid, c.relowner, 'MEMBER')
                            FROM pg_class c WHERE c.oid = to_regclass('public.events')), false)
           FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    if let Some((superuser, is_self, owner)) = existing {
        if superuser || is_self || owner {
            return Err(RoleError::Privileged(name.to_owned()));
        }
    } else {
        let create: String = match password {
            Some(password) => sqlx::query_scalar(
                "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', $1::text, $2::text)",
            )
            .bind(name)
            .bind(password)
            .fetch_one(pool)
            .await?,
            None => sqlx::query_scalar(
                "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', $1::text)",
            )
            .bind(name)
            .fetch_one(pool)
            .await?,
        };
        match sqlx::raw_sql(&create).execute(pool).await {
            Ok(_) => {}
            // Another process created it between our look and our CREATE.
            Err(error) if is_duplicate(&error) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let alter: String = match password {
        Some(password) => {
            sqlx::query_scalar(
                "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)",
            )
            .bind(name)
            .bind(password)
            .fetch_one(pool)
            .await?
        }
        None => {
            sqlx::query_scalar("SELECT format('ALTER ROLE %I LOGIN', $1::text)")
                .bind(name)
                .fetch_one(pool)
                .await?
        }
    };
    sqlx::raw_sql(&alter).execute(pool).await?;
    let grant: String = sqlx::query_scalar("SELECT format('GRANT %I TO %I', $1::text, $2::text)")
        .bind(SERVICE_GROUP)
        .bind(name)
        .fetch_one(pool)
        .await?;
    match sqlx::raw_sql(&grant).execute(pool).await {
        Ok(_) => Ok(()),
        Err(error) if is_duplicate(&error) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A duplicate role or membership (another process got there first), or a
/// concurrent catalog update of the same row.
fn is_duplicate(error: &sqlx::Error) -> bool {
    let Some(database_error) = error.as_database_error() else {
        return false;
    };
    match database_error.code().as_deref() {
        Some("42710" | "23505") => true,
        Some("XX000") => database_error.message().contains("concurrently updated"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(validate_role_name("alertledger_app").is_ok());
        assert!(validate_role_name("svc2").is_ok());
        for bad in ["", "App", "1svc", "a-b", "a\"b", SERVICE_GROUP] {
            assert!(validate_role_name(bad).is_err(), "{bad:?}");
        }
    }
}
