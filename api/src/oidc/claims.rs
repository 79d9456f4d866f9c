//! From the provider's claims to a person of this service: who (issuer and
//! subject, email, name), which role and which tenants, following the
//! configured [`ClaimMapping`].

use alertledger_domain::values::{Role, TenantId};
use serde_json::{Map, Value};

use super::settings::ClaimMapping;
use crate::tenant_directory::TenantDirectory;

/// A person as the provider's token describes them, mapped.
#[derive(Debug, Clone)]
pub struct MappedPerson {
    pub issuer: String,
    pub subject: String,
    /// Lower-cased, when the token carries an address.
    pub email: Option<String>,
    /// The provider vouches for the address (`email_verified: true`).
    pub email_verified: bool,
    pub name: String,
    /// `None`: no claim value maps to a role.
    pub role: Option<Role>,
    pub tenants: Vec<TenantId>,
    /// When the token was issued (`iat`; 0 when absent).
    pub issued_at: i64,
    pub expires_at: i64,
}

/// How roles rank: a person with several mapped roles gets the highest.
pub fn rank(role: Role) -> u8 {
    match role {
        Role::Viewer => 0,
        Role::Technician => 1,
        Role::TenantAdmin => 2,
        Role::MspAdmin => 3,
    }
}

/// The string values of claim `path` (a string, a number or an array of
/// them; a dotted path reaches into objects, as `realm_access.roles`).
pub fn claim_values(claims: &Map<String, Value>, path: &str) -> Vec<String> {
    // A claim whose name itself contains dots (a URL-named claim) wins.
    let value = claims.get(path).or_else(|| {
        let mut parts = path.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.get(part))
    });
    let one = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(value) => one(value).into_iter().collect(),
        None => Vec::new(),
    }
}

impl ClaimMapping {
    /// The highest role any value of the role claim maps to.
    pub fn role(&self, claims: &Map<String, Value>) -> Option<Role> {
        claim_values(claims, &self.role_claim)
            .iter()
            .filter_map(|value| {
                if self.roles.is_empty() {
                    Role::parse(value).ok()
                } else {
                    self.roles
                        .iter()
                        .find(|(from, _)| from == value)
                        .map(|(_, role)| *role)
                }
            })
            .max_by_key(|role| rank(*role))
    }

    /// The tenants the tenants claim names (through the table, or as ids or
    /// slugs); values naming no tenant are left out.
    pub fn tenants(
        &self,
        claims: &Map<String, Value>,
        directory: &TenantDirectory,
    ) -> Vec<TenantId> {
        let known = directory.tenants();
        let mut tenants = Vec::new();
        for value in claim_values(claims, &self.tenants_claim) {
            let target = self
                .tenants
                .iter()
                .find(|(from, _)| *from == value)
                .map_or(value.as_str(), |(_, to)| to.as_str());
            let found = known.iter().find(|(id, profile)| {
                id.to_string().eq_ignore_ascii_case(target) || profile.slug == target
            });
            match found {
                Some((id, _)) if !tenants.contains(id) => tenants.push(*id),
                Some(_) => {}
                None => tracing::debug!(value, "a tenants claim value names no tenant"),
            }
        }
        tenants
    }

    /// The person `claims` describe.
    pub fn person(
        &self,
        issuer: &str,
        claims: &Map<String, Value>,
        directory: &TenantDirectory,
    ) -> MappedPerson {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let subject = text("sub").unwrap_or_default();
        let address = |raw: String| {
            let email = raw.to_lowercase();
            crate::routes::users::parse_email(&email).ok()
        };
        let (email, from_email_claim) = match text(&self.email_claim).and_then(address) {
            Some(email) => (Some(email), true),
            None => (text("preferred_username").and_then(address), false),
        };
        let email_verified =
            from_email_claim && claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        let name = text(&self.name_claim)
            .or_else(|| email.clone())
            .unwrap_or_else(|| subject.clone());
        let number = |name: &str| claims.get(name).and_then(Value::as_i64).unwrap_or(0);
        MappedPerson {
            issuer: issuer.to_owned(),
            subject,
            email,
            email_verified,
            name: name.chars().take(200).collect(),
            role: self.role(claims),
            tenants: self.tenants(claims, directory),
            issued_at: number("iat"),
            expires_at: number("exp"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_highest_mapped_role_wins_and_unmapped_values_are_ignored() {
        let mapping = ClaimMapping {
            role_claim: "groups".into(),
            roles: vec![
                ("ops".into(), Role::Technician),
                ("admins".into(), Role::TenantAdmin),
            ],
            ..ClaimMapping::default()
        };
        let token = claims(json!({"groups": ["ops", "admins", "msp_admin"]}));
        assert_eq!(mapping.role(&token), Some(Role::TenantAdmin));
        assert_eq!(mapping.role(&claims(json!({"groups": "nobody"}))), None);
    }

    #[test]
    fn without_a_table_role_values_are_our_role_names() {
        let mapping = ClaimMapping::default();
        assert_eq!(
            mapping.role(&claims(json!({"roles": ["viewer", "technician"]}))),
            Some(Role::Technician)
        );
        assert_eq!(mapping.role(&claims(json!({"roles": "admin"}))), None);
    }

    #[test]
    fn dotted_paths_reach_into_objects() {
        let token = claims(json!({"realm_access": {"roles": ["viewer"]}, "tid": "abc"}));
        assert_eq!(claim_values(&token, "realm_access.roles"), vec!["viewer"]);
        assert_eq!(claim_values(&token, "tid"), vec!["abc"]);
        assert!(claim_values(&token, "missing.path").is_empty());
    }
}
