//! Which user a person of the identity provider is.
//!
//! At sign-in, a person already linked (`user_identities`: issuer and
//! subject) is that user. Otherwise a user with the person's email is
//! linked, but only when the provider vouches for the address
//! (`email_verified: true`): an unverified `email` claim could otherwise take
//! over a built-in account. Otherwise a new user is created (provisioned
//! just in time). The role and tenants the claims map to replace the user's
//! at every sign-in: the provider is the source of truth for SSO users.
//! Each of these is a user event, written with the `users` and
//! `user_identities` rows in one transaction.

use alertledger_domain::user::{UserCommand, UserEvent};
use alertledger_domain::values::{Actor, Role, UserId};
use alertledger_eventstore::store::EventMetadata;
use axum::http::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;

use super::claims::MappedPerson;
use crate::error::ApiError;
use crate::people::{People, UserRow, USER_COLUMNS};

/// The role and tenants a person may sign in with, or why not.
pub fn admissible(person: &MappedPerson) -> Result<Role, ApiError> {
    let Some(role) = person.role else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sso_no_role",
            "the identity provider's token maps to no role of this service (see the role claim and ALERTLEDGER_OIDC_ROLE_MAP)",
        ));
    };
    if role != Role::MspAdmin && person.tenants.is_empty() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sso_no_tenant",
            "the identity provider's token maps to no tenant of this service (see the tenants claim and ALERTLEDGER_OIDC_TENANT_MAP)",
        ));
    }
    if person.subject.is_empty() {
        return Err(ApiError::unauthorized("the token has no subject"));
    }
    Ok(role)
}

/// The linked user's id and whether it is disabled, for a bearer token.
pub async fn linked_user(
    pool: &sqlx::PgPool,
    issuer: &str,
    subject: &str,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.disabled_at IS NOT NULL FROM user_identities i
           JOIN users u ON u.id = i.user_id
          WHERE i.issuer = $1 AND i.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await
}

async fn user_by(
    conn: &mut PgConnection,
    condition: &str,
    value: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {condition} FOR UPDATE"
    ))
    .bind(value)
    .fetch_optional(conn)
    .await
}

fn concurrent() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "concurrent_change",
        "the user was changed at the same moment; sign in again",
    )
}

/// The user `person` signs in as, linked or created as needed, with the
/// mapped role and tenants, within `tx`; the events written.
pub async fn sign_in_user(
    people: &People,
    tx: &mut PgConnection,
    person: &MappedPerson,
    metadata: &EventMetadata,
) -> Result<(UserRow, Vec<UserEvent>), ApiError> {
    let role = admissible(person)?;
    let mut events = Vec::new();
    let linked: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE issuer = $1 AND subject = $2",
    )
    .bind(&person.issuer)
    .bind(&person.subject)
    .fetch_optional(&mut *tx)
    .await?;
    let user = match linked {
        Some(id) => user_by(tx, "id = $1::uuid", &id.to_string())
            .await?
            .ok_or_else(concurrent)?,
        None => {
            let Some(email) = &person.email else {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "sso_no_email",
                    "the identity provider's token carries no email address (the `email` claim, or `preferred_username` as an address)",
                ));
            };
            let user = match user_by(tx, "email = $1", email).await? {
                Some(existing) => {
                    if !person.email_verified {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "sso_email_unverified",
                            "a user with this email exists, but the identity provider does not vouch for the address (email_verified); an administrator must link the account",
                        ));
                    }
                    existing
                }
                None => {
                    let id = Uuid::now_v7();
                    let created = sqlx::query(
                        "INSERT INTO users (id, email, name, role, tenants)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
                    )
                    .bind(id)
                    .bind(email)
                    .bind(&person.name)
                    .bind(role.as_str())
                    .bind(
                        person
                            .tenants
                            .iter()
                            .map(|t| *t.as_uuid())
                            .collect::<Vec<_>>(),
                    )
                    .execute(&mut *tx)
                    .await?;
                    if created.rows_affected() == 0 {
                        return Err(concurrent());
                    }
                    let actor = actor(id, &person.name, role)?;
                    events.extend(
                        people
                            .execute(
                                tx,
                                id,
                                UserCommand::Invite {
                                    user_id: id,
                                    email: email.clone(),
                                    name: person.name.clone(),
                                    role,
                                    tenants: person.tenants.clone(),
                                    actor,
                                },
                                metadata,
                            )
                            .await?,
                    );
                    user_by(tx, "id = $1::uuid", &id.to_string())
                        .await?
                        .ok_or_else(concurrent)?
                }
            };
            let inserted = sqlx::query(
                "INSERT INTO user_identities (issuer, subject, user_id) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&person.issuer)
            .bind(&person.subject)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(concurrent());
            }
            if !user.disabled {
                events.extend(
                    people
                        .execute(
                            tx,
                            user.id,
                            UserCommand::LinkIdentity {
                                issuer: person.issuer.clone(),
                                subject: person.subject.clone(),
                                actor: actor(user.id, &user.name, role)?,
                            },
                            metadata,
                        )
                        .await?,
                );
            }
            user
        }
    };
    if user.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "user_disabled",
            "this user is disabled; an administrator can enable it",
        ));
    }
    let actor = actor(user.id, &user.name, role)?;
    if user.role() != role {
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
            .bind(user.id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::ChangeRole {
            role,
            actor: actor.clone(),
        };
        events.extend(people.execute(tx, user.id, command, metadata).await?);
    }
    if user.tenant_ids() != person.tenants {
        sqlx::query("UPDATE users SET tenants = $2 WHERE id = $1")
            .bind(user.id)
            .bind(
                person
                    .tenants
                    .iter()
                    .map(|t| *t.as_uuid())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        let command = UserCommand::ChangeTenants {
            tenants: person.tenants.clone(),
            actor,
        };
        events.extend(people.execute(tx, user.id, command, metadata).await?);
    }
    let user = user_by(tx, "id = $1::uuid", &user.id.to_string())
        .await?
        .ok_or_else(concurrent)?;
    Ok((user, events))
}

/// The user as the actor of what their sign-in changes.
fn actor(id: Uuid, name: &str, role: Role) -> Result<Actor, ApiError> {
    let id = UserId::parse(&id.to_string())
        .map_err(|_| ApiError::unauthorized("not a usable user id"))?;
    Ok(Actor::new(id, name.to_owned(), role))
}
