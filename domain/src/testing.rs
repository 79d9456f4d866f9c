//! Fixtures shared by the aggregate tests.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::services::{DomainServices, FixedClock};
use crate::values::{Actor, Role, TenantId, UserId};

/// The fixed "now" of every test.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53)
        .single()
        .unwrap_or_default()
}

/// Services whose clock stands at [`now`].
pub(crate) fn services() -> DomainServices {
    services_at(now())
}

/// Services whose clock stands at `at`.
pub(crate) fn services_at(at: DateTime<Utc>) -> DomainServices {
    DomainServices::new(Arc::new(FixedClock::new(at)))
}

/// A fixed tenant.
pub(crate) fn tenant_id() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0001,
    ))
}

/// An actor with the given id and role.
pub(crate) fn actor(user_id: &str, role: Role) -> Actor {
    let user_id = UserId::parse(user_id).unwrap_or_else(|e| panic!("{e}"));
    Actor::new(user_id, "Test Person", role)
}
