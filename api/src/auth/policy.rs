//! Who may do what: every permission rule of API.md in one place.
//!
//! Handlers ask [`Caller::authorize`] for an [`Action`] on a tenant; nothing
//! else in the API decides permissions. A tenant the caller may not read is
//! answered 404 (its existence is not revealed); a readable tenant with too
//! small a role is 403.

use alertledger_domain::values::{Risk, Role, TenantId};

use super::Caller;
use crate::error::ApiError;

/// Something a caller wants to do to a tenant's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read incidents, alerts, events, KPIs, configuration.
    Read,
    /// Acknowledge, assign, resolve, comment, escalate, reopen.
    Operate,
    /// Run a runbook of this risk (low without approval; higher ones ask for one).
    RunRunbook(Risk),
    /// Approve or reject a runbook run of this risk.
    Approve(Risk),
    /// Change the tenant's configuration (keys, secrets, policies, assets, AWS).
    Configure,
    /// Create tenants (not tied to an existing tenant).
    CreateTenant,
    /// A runbook change that weakens a guard (lowering its risk, changing
    /// what a high-risk runbook runs); says which.
    GuardedRunbookChange(&'static str),
}

/// Whether `role` may perform `action` (tenant membership is checked apart).
pub fn role_allows(role: Role, action: Action) -> bool {
    match action {
        Action::Read => true,
        Action::Operate => role != Role::Viewer,
        Action::RunRunbook(Risk::Low) => role != Role::Viewer,
        // Anyone who may operate may ask; the approval decides.
        Action::RunRunbook(_) => role != Role::Viewer,
        Action::Approve(risk) => role.may_approve(risk),
        Action::Configure => matches!(role, Role::TenantAdmin | Role::MspAdmin),
        Action::CreateTenant | Action::GuardedRunbookChange(_) => role == Role::MspAdmin,
    }
}

impl Caller {
    /// Allows `action` on `tenant`, or says why not: 404 for a tenant the caller
    /// cannot see, 403 for a role that may not do it.
    pub fn authorize(&self, action: Action, tenant: &TenantId) -> Result<(), ApiError> {
        if !self.may_read(tenant) {
            return Err(ApiError::not_found("tenant_not_found", "no such tenant"));
        }
        self.authorize_role(action)
    }

    /// Allows `action` by role alone (for actions not on one tenant).
    pub fn authorize_role(&self, action: Action) -> Result<(), ApiError> {
        if role_allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not {}",
                self.role.as_str(),
                describe(action)
            )))
        }
    }
}

fn describe(action: Action) -> String {
    match action {
        Action::Read => "read this".to_owned(),
        Action::Operate => "act on incidents or alerts".to_owned(),
        Action::RunRunbook(risk) => format!("run {} risk runbooks", risk.as_str()),
        Action::Approve(risk) => format!("approve {} risk runbooks", risk.as_str()),
        Action::Configure => "change tenant configuration".to_owned(),
        Action::CreateTenant => "create tenants".to_owned(),
        Action::GuardedRunbookChange(why) => format!("make this change ({why} needs msp_admin)"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::TenantScope;

    const ROLES: [Role; 4] = [
        Role::Viewer,
        Role::Technician,
        Role::TenantAdmin,
        Role::MspAdmin,
    ];

    /// The whole permission table of API.md, role by role.
    fn expected(role: Role, action: Action) -> bool {
        let rank = ROLES.iter().position(|r| *r == role).unwrap_or_default();
        match action {
            Action::Read => true,
            Action::Operate | Action::RunRunbook(_) => rank >= 1,
            Action::Approve(Risk::Low) => rank >= 1,
            Action::Approve(Risk::Medium) | Action::Configure => rank >= 2,
            Action::Approve(Risk::High)
            | Action::CreateTenant
            | Action::GuardedRunbookChange(_) => rank == 3,
        }
    }

    #[test]
    fn every_role_gets_exactly_the_permissions_of_the_contract() {
        let actions = [
            Action::Read,
            Action::Operate,
            Action::RunRunbook(Risk::Low),
            Action::RunRunbook(Risk::High),
            Action::Approve(Risk::Low),
            Action::Approve(Risk::Medium),
            Action::Approve(Risk::High),
            Action::Configure,
            Action::CreateTenant,
            Action::GuardedRunbookChange("lowering a runbook's risk"),
        ];
        for role in ROLES {
            for action in actions {
                assert_eq!(
                    role_allows(role, action),
                    expected(role, action),
                    "{role:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn another_tenant_is_not_found_and_a_small_role_is_forbidden() {
        let mine = TenantId::new_v7();
        let caller = Caller {
            user_id: "u".into(),
            name: "U".into(),
            role: Role::Viewer,
            scope: TenantScope::Only(vec![mine]),
            source_ip: None,
            session_id: None,
            issued_at: 0,
        };
        let foreign = caller
            .authorize(Action::Read, &TenantId::new_v7())
            .unwrap_err();
        assert_eq!(foreign.status(), axum::http::StatusCode::NOT_FOUND);
        let small = caller.authorize(Action::Configure, &mine).unwrap_err();
        assert_eq!(small.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(caller.authorize(Action::Read, &mine).is_ok());
    }
}
