//! Who did something, as recorded in events for the audit trail.

use serde::{Deserialize, Serialize};

use super::{Role, UserId};

/// The person (or service account) behind a command, with the role they held
/// at that moment, so an auditor sees who did it and under which authority.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    user_id: UserId,
    name: String,
    role: Role,
}

impl Actor {
    /// Builds an actor from the authenticated caller's claims.
    pub fn new(user_id: UserId, name: impl Into<String>, role: Role) -> Self {
        Self {
            user_id,
            name: name.into(),
            role,
        }
    }

    /// The stable id (JWT `sub`), used for rules such as "no self-approval".
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// The display name at the time, for people reading the audit trail.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role held when acting.
    pub fn role(&self) -> Role {
        self.role
    }
}
