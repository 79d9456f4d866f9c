//! Aggregate and entity identifiers: UUID newtypes so an `AlertId` can never be
//! passed where an `IncidentId` is meant. Serialized as plain UUID strings.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DeliveryKey, ValueError};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Mints a new time-ordered (v7) id, as the service does for what it creates.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read back from storage or a URL path.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID, for storage and aggregate ids.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 raw bytes, for deterministic derivations.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// Parses the textual UUID form (any version).
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                Uuid::try_parse(raw.trim())
                    .map(Self)
                    .map_err(|_| ValueError::new($field, "must be a UUID"))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ValueError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::parse(raw)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_id!(
    /// A client company of the MSP; every event carries one.
    TenantId,
    "tenant_id"
);
uuid_id!(
    /// One received alert; derived from its delivery (see [`AlertId::for_delivery`]).
    AlertId,
    "alert_id"
);
uuid_id!(
    /// One incident that groups correlated alerts.
    IncidentId,
    "incident_id"
);
uuid_id!(
    /// One approval request for a risky runbook run.
    ApprovalId,
    "approval_id"
);
uuid_id!(
    /// One run of a runbook through SSM.
    ExecutionId,
    "execution_id"
);
uuid_id!(
    /// A tenant's runbook (owned by the runbook aggregate, referenced here).
    RunbookId,
    "runbook_id"
);
uuid_id!(
    /// One API key of a tenant, so a key can be revoked without knowing it.
    ApiKeyId,
    "key_id"
);
uuid_id!(
    /// One webhook signing secret of a tenant (the secret itself lives encrypted elsewhere).
    WebhookSecretId,
    "secret_id"
);
uuid_id!(
    /// One notification channel of a tenant (its secrets live encrypted elsewhere).
    NotificationChannelId,
    "channel_id"
);

uuid_id!(
    /// One notification rule of a tenant: which incident events reach which channels.
    NotificationRuleId,
    "rule_id"
);
uuid_id!(
    /// One notification: one message on one channel (its outbox row and its
    /// events), also the idempotency key receivers see (`webhook-id`).
    NotificationId,
    "notification_id"
);

uuid_id!(
    /// A tenant's maintenance window or silence (issue 19).
    WindowId,
    "window_id"
);

uuid_id!(
    /// A tenant's on-call schedule (issue 18).
    ScheduleId,
    "schedule_id"
);
uuid_id!(
    /// One override of an on-call schedule (issue 18).
    OverrideId,
    "override_id"
);
uuid_id!(
    /// A tenant's escalation policy (issue 18).
    EscalationPolicyId,
    "policy_id"
);
uuid_id!(
    /// One escalation: a policy run for one incident; derived from both
    /// (see [`EscalationId::for_incident`]).
    EscalationId,
    "escalation_id"
);

/// The fixed UUIDv5 namespace of [`EscalationId::for_incident`]. Permanent.
pub const ESCALATION_NAMESPACE: Uuid = Uuid::from_u128(0x9a41_7c2e_5b13_4f06_8d7a_c2e9_0b54_61f3);

impl EscalationId {
    /// The escalation of `policy` for `incident`: UUIDv5 over both ids'
    /// bytes, so one incident has at most one escalation per policy (a
    /// second start while it runs is refused by the aggregate, whoever asks).
    pub fn for_incident(incident: &IncidentId, policy: &EscalationPolicyId) -> EscalationId {
        let mut name = [0u8; 32];
        name[..16].copy_from_slice(incident.as_bytes());
        name[16..].copy_from_slice(policy.as_bytes());
        EscalationId(Uuid::new_v5(&ESCALATION_NAMESPACE, &name))
    }
}

uuid_id!(
    /// A tenant's heartbeat (issue 19); derived from its name, see
    /// [`HeartbeatId::for_name`].
    HeartbeatId,
    "heartbeat_id"
);

/// The fixed UUIDv5 namespace of [`HeartbeatId::for_name`]. Permanent.
pub const HEARTBEAT_NAMESPACE: Uuid = Uuid::from_u128(0x1f6e_8a43_7c21_4d0b_a5e9_3b7d_c2f4_9e18);

impl HeartbeatId {
    /// The id of `tenant`'s heartbeat `name`: one name, one heartbeat, so
    /// the first beats of two concurrent requests meet on one aggregate.
    pub fn for_name(tenant: &TenantId, name: &str) -> Self {
        let mut seed = Vec::with_capacity(16 + name.len());
        seed.extend_from_slice(tenant.as_bytes());
        seed.extend_from_slice(name.as_bytes());
        Self(Uuid::new_v5(&HEARTBEAT_NAMESPACE, &seed))
    }
}

/// The fixed UUIDv5 namespace of [`AlertId::for_delivery`]. Permanent: changing
/// it would give every future delivery a new id and break idempotency across
/// versions.
pub const ALERT_DELIVERY_NAMESPACE: Uuid =
    Uuid::from_u128(0x6d0b_3c55_2f7e_4a1b_9c3d_58e2_a41f_07c9);

impl AlertId {
    /// The alert id of a delivery: UUIDv5 under [`ALERT_DELIVERY_NAMESPACE`] over
    /// the tenant's 16 UUID bytes, a `\n`, then the delivery key's UTF-8 bytes.
    ///
    /// This is how webhook idempotency works: the same delivery of the same
    /// tenant always maps to the same alert aggregate, so a repeat (even a
    /// concurrent one) collides with the first on the aggregate key in the event
    /// store instead of creating a second alert. Different tenants never share
    /// an id for the same key.
    pub fn for_delivery(tenant: &TenantId, key: &DeliveryKey) -> AlertId {
        let key = key.as_str().as_bytes();
        let mut name = Vec::with_capacity(16 + 1 + key.len());
        name.extend_from_slice(tenant.as_bytes());
        name.push(b'\n');
        name.extend_from_slice(key);
        AlertId(Uuid::new_v5(&ALERT_DELIVERY_NAMESPACE, &name))
    }
}
