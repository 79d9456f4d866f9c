//! A person who signs in: invited, given a role and tenants, renamed,
//! disabled; their password changes and revoked sessions.
//!
//! Only facts are recorded here, never a password, a hash or a token: the
//! argon2id hash lives in the API's credentials table. User events belong to
//! the platform rather than to one tenant (a user may hold several tenants,
//! an MSP admin none), so they carry [`PLATFORM_TENANT`] as their
//! `tenant_id`: the log's tenant column stays filled, and only MSP admins,
//! who read every tenant, see them in the log, the feed and the audit trail.
//!
//! Revocations are events because every process must learn them: each API
//! process follows the log and refuses the revoked sessions' access tokens
//! (and those of a disabled user) until they would have expired anyway.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::services::DomainServices;
use crate::values::{Actor, Role, TenantId};

/// The `tenant_id` of events that belong to the platform, not to a tenant.
pub const PLATFORM_TENANT: TenantId = TenantId::from_uuid(Uuid::nil());

/// A change to a user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    Invite {
        user_id: Uuid,
        email: String,
        name: String,
        role: Role,
        tenants: Vec<TenantId>,
        actor: Actor,
    },
    ChangeRole {
        role: Role,
        actor: Actor,
    },
    ChangeTenants {
        tenants: Vec<TenantId>,
        actor: Actor,
    },
    Rename {
        name: String,
        actor: Actor,
    },
    Disable {
        actor: Actor,
    },
    /// Lets a disabled user sign in again (tokens issued before the
    /// disabling stay refused).
    Enable {
        actor: Actor,
    },
    /// Records that an administrator reset the password: the old one no
    /// longer works and a one-time token (stored apart) sets a new one.
    ResetPassword {
        actor: Actor,
    },
    /// Ties the user to a person of an identity provider (OpenID Connect
    /// `iss` and `sub`), who signs in as this user from then on.
    LinkIdentity {
        issuer: String,
        subject: String,
        actor: Actor,
    },
    /// Records that a password was set (first password from an invite, or a
    /// change); the hash itself is stored apart.
    RecordPasswordSet {
        actor: Actor,
    },
    /// Revokes sessions: their refresh tokens stop working and their access
    /// tokens are refused by every process.
    RevokeSessions {
        session_ids: Vec<Uuid>,
        reason: String,
        actor: Actor,
    },
}

/// What happened to a user. Variant names are stored and permanent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    UserInvited {
        tenant_id: TenantId,
        user_id: Uuid,
        email: String,
        name: String,
        role: Role,
        tenants: Vec<TenantId>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    UserRoleChanged {
        tenant_id: TenantId,
        user_id: Uuid,
        from: Role,
        to: Role,
        actor: Actor,
        at: DateTime<Utc>,
    },
    UserTenantsChanged {
        tenant_id: TenantId,
        user_id: Uuid,
        tenants: Vec<TenantId>,
        actor: Actor,
        at: DateTime<Utc>,
    },
    UserRenamed {
        tenant_id: TenantId,
        user_id: Uuid,
        name: String,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The user can no longer sign in, and every token issued to them up to
    /// `at` is refused.
    UserDisabled {
        tenant_id: TenantId,
        user_id: Uuid,
        actor: Actor,
        at: DateTime<Utc>,
    },
    UserPasswordSet {
        tenant_id: TenantId,
        user_id: Uuid,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// A disabled user may sign in again; tokens issued up to the
    /// disabling stay refused.
    UserEnabled {
        tenant_id: TenantId,
        user_id: Uuid,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// An administrator cleared the password; a one-time reset token (never
    /// in the log) sets a new one.
    UserPasswordReset {
        tenant_id: TenantId,
        user_id: Uuid,
        actor: Actor,
        at: DateTime<Utc>,
    },
    /// The person `subject` of identity provider `issuer` signs in as this
    /// user (single sign-on).
    UserIdentityLinked {
        tenant_id: TenantId,
        user_id: Uuid,
        issuer: String,
        subject: String,
        actor: Actor,
        at: DateTime<Utc>,
    },
    UserSessionsRevoked {
        tenant_id: TenantId,
        user_id: Uuid,
        session_ids: Vec<Uuid>,
        /// `logout`, `signed_out`, `password_changed`, `refresh_token_reused`.
        reason: String,
        actor: Actor,
        at: DateTime<Utc>,
    },
}

crate::event_types::event_type_names!(UserEvent {
    UserInvited => INVITED,
    UserRoleChanged => ROLE_CHANGED,
    UserTenantsChanged => TENANTS_CHANGED,
    UserRenamed => RENAMED,
    UserDisabled => DISABLED,
    UserPasswordSet => PASSWORD_SET,
    UserSessionsRevoked => SESSIONS_REVOKED,
    UserEnabled => ENABLED,
    UserPasswordReset => PASSWORD_RESET,
    UserIdentityLinked => IDENTITY_LINKED,
});

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        self.type_name().to_owned()
    }

    fn event_version(&self) -> String {
        crate::EVENT_VERSION.to_owned()
    }
}

/// Why a user change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("the user already exists")]
    AlreadyInvited,
    #[error("no such user")]
    Unknown,
    #[error("the user is disabled")]
    Disabled,
}

/// A user's state as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub exists: bool,
    pub id: Uuid,
    pub role: Option<Role>,
    pub tenants: Vec<TenantId>,
    pub name: String,
    pub disabled: bool,
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;
    type Services = DomainServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let at = services.now();
        let tenant_id = PLATFORM_TENANT;
        let event = match command {
            UserCommand::Invite {
                user_id,
                email,
                name,
                role,
                tenants,
                actor,
            } => {
                if self.exists {
                    return Err(UserError::AlreadyInvited);
                }
                Some(UserEvent::UserInvited {
                    tenant_id,
                    user_id,
                    email,
                    name,
                    role,
                    tenants,
                    actor,
                    at,
                })
            }
            command => {
                if !self.exists {
                    return Err(UserError::Unknown);
                }
                self.change(command, at)?
            }
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            UserEvent::UserInvited {
                user_id,
                name,
                role,
                tenants,
                ..
            } => {
                self.exists = true;
                self.id = user_id;
                self.name = name;
                self.role = Some(role);
                self.tenants = tenants;
            }
            UserEvent::UserRoleChanged { to, .. } => self.role = Some(to),
            UserEvent::UserTenantsChanged { tenants, .. } => self.tenants = tenants,
            UserEvent::UserRenamed { name, .. } => self.name = name,
            UserEvent::UserDisabled { .. } => self.disabled = true,
            UserEvent::UserEnabled { .. } => self.disabled = false,
            UserEvent::UserPasswordSet { .. }
            | UserEvent::UserSessionsRevoked { .. }
            | UserEvent::UserPasswordReset { .. }
            | UserEvent::UserIdentityLinked { .. } => {}
        }
    }
}

impl User {
    /// The event of a change to an existing user; `None` when it changes nothing.
    fn change(
        &self,
        command: UserCommand,
        at: DateTime<Utc>,
    ) -> Result<Option<UserEvent>, UserError> {
        let tenant_id = PLATFORM_TENANT;
        let user_id = self.id;
        // Revoking sessions stays possible for a disabled user (a late
        // logout), and enabling is what a disabled user needs.
        if self.disabled
            && !matches!(
                command,
                UserCommand::RevokeSessions { .. } | UserCommand::Enable { .. }
            )
        {
            return Err(UserError::Disabled);
        }
        Ok(match command {
            UserCommand::Invite { .. } => return Err(UserError::AlreadyInvited),
            UserCommand::ChangeRole { role, actor } => {
                let from = self.role.unwrap_or(role);
                (from != role).then_some(UserEvent::UserRoleChanged {
                    tenant_id,
                    user_id,
                    from,
                    to: role,
                    actor,
                    at,
                })
            }
            UserCommand::ChangeTenants { tenants, actor } => {
                (tenants != self.tenants).then_some(UserEvent::UserTenantsChanged {
                    tenant_id,
                    user_id,
                    tenants,
                    actor,
                    at,
                })
            }
            UserCommand::Rename { name, actor } => {
                (name != self.name).then_some(UserEvent::UserRenamed {
                    tenant_id,
                    user_id,
                    name,
                    actor,
                    at,
                })
            }
            UserCommand::Disable { actor } => Some(UserEvent::UserDisabled {
                tenant_id,
                user_id,
                actor,
                at,
            }),
            UserCommand::Enable { actor } => self.disabled.then_some(UserEvent::UserEnabled {
                tenant_id,
                user_id,
                actor,
                at,
            }),
            UserCommand::ResetPassword { actor } => Some(UserEvent::UserPasswordReset {
                tenant_id,
                user_id,
                actor,
                at,
            }),
            UserCommand::LinkIdentity {
                issuer,
                subject,
                actor,
            } => Some(UserEvent::UserIdentityLinked {
                tenant_id,
                user_id,
                issuer,
                subject,
                actor,
                at,
            }),
            UserCommand::RecordPasswordSet { actor } => Some(UserEvent::UserPasswordSet {
                tenant_id,
                user_id,
                actor,
                at,
            }),
            UserCommand::RevokeSessions {
                session_ids,
                reason,
                actor,
            } => (!session_ids.is_empty()).then_some(UserEvent::UserSessionsRevoked {
                tenant_id,
                user_id,
                session_ids,
                reason,
                actor,
                at,
            }),
        })
    }
}

impl UserEvent {
    /// The user this event is about.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::UserInvited { user_id, .. }
            | Self::UserRoleChanged { user_id, .. }
            | Self::UserTenantsChanged { user_id, .. }
            | Self::UserRenamed { user_id, .. }
            | Self::UserDisabled { user_id, .. }
            | Self::UserPasswordSet { user_id, .. }
            | Self::UserSessionsRevoked { user_id, .. }
            | Self::UserEnabled { user_id, .. }
            | Self::UserPasswordReset { user_id, .. }
            | Self::UserIdentityLinked { user_id, .. } => *user_id,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{actor, now, services, tenant_id};

    fn id() -> Uuid {
        Uuid::from_u128(7)
    }

    fn invited() -> UserEvent {
        UserEvent::UserInvited {
            tenant_id: PLATFORM_TENANT,
            user_id: id(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            role: Role::Viewer,
            tenants: vec![tenant_id()],
            actor: actor("admin", Role::MspAdmin),
            at: now(),
        }
    }

    #[test]
    fn a_role_change_records_from_and_to_and_a_no_op_records_nothing() {
        TestFramework::<User>::with(services())
            .given(vec![invited()])
            .when(UserCommand::ChangeRole {
                role: Role::Technician,
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_events(vec![UserEvent::UserRoleChanged {
                tenant_id: PLATFORM_TENANT,
                user_id: id(),
                from: Role::Viewer,
                to: Role::Technician,
                actor: actor("admin", Role::MspAdmin),
                at: now(),
            }]);
        TestFramework::<User>::with(services())
            .given(vec![invited()])
            .when(UserCommand::ChangeRole {
                role: Role::Viewer,
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_disabled_user_cannot_be_changed_and_an_unknown_one_is_refused() {
        let disabled = UserEvent::UserDisabled {
            tenant_id: PLATFORM_TENANT,
            user_id: id(),
            actor: actor("admin", Role::MspAdmin),
            at: now(),
        };
        TestFramework::<User>::with(services())
            .given(vec![invited(), disabled])
            .when(UserCommand::Rename {
                name: "Bob".into(),
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_error(UserError::Disabled);
        TestFramework::<User>::with(services())
            .given_no_previous_events()
            .when(UserCommand::Disable {
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_error(UserError::Unknown);
    }

    #[test]
    fn a_disabled_user_can_be_enabled_and_enabling_an_enabled_one_records_nothing() {
        let disabled = UserEvent::UserDisabled {
            tenant_id: PLATFORM_TENANT,
            user_id: id(),
            actor: actor("admin", Role::MspAdmin),
            at: now(),
        };
        TestFramework::<User>::with(services())
            .given(vec![invited(), disabled])
            .when(UserCommand::Enable {
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_events(vec![UserEvent::UserEnabled {
                tenant_id: PLATFORM_TENANT,
                user_id: id(),
                actor: actor("admin", Role::MspAdmin),
                at: now(),
            }]);
        TestFramework::<User>::with(services())
            .given(vec![invited()])
            .when(UserCommand::Enable {
                actor: actor("admin", Role::MspAdmin),
            })
            .then_expect_events(vec![]);
    }
}
