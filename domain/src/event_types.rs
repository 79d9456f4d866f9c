//! The stored names of every event type, owned here so that consumers,
//! feed kinds and SQL filters refer to them instead of retyping strings.
//!
//! Each aggregate's event enum gets, through [`event_type_names!`], one
//! constant per variant (`AlertEvent::RECEIVED == "AlertReceived"`), `TYPES`
//! listing them all, and `type_name()`, which `DomainEvent::event_type`
//! returns. The match in `type_name` is exhaustive, so a new variant cannot
//! be added without its name. Stored names are permanent: never rename one.

use cqrs_es::Aggregate;

use crate::alert::{Alert, AlertEvent};
use crate::approval::{Approval, ApprovalEvent};
use crate::change_report::{ChangeReport, ChangeReportEvent};
use crate::delivery::{Delivery, DeliveryEvent};
use crate::escalation::{Escalation, EscalationEvent, EscalationSetup, EscalationSetupEvent};
use crate::execution::{Execution, ExecutionEvent};
use crate::heartbeat::{Heartbeat, HeartbeatEvent};
use crate::incident::{Incident, IncidentEvent};
use crate::maintenance::{MaintenanceWindow, MaintenanceWindowEvent};
use crate::notification::{
    NotificationDelivery, NotificationDeliveryEvent, NotificationSetup, NotificationSetupEvent,
};
use crate::quarantine::{ConsumerQuarantine, QuarantineEvent};
use crate::runbook::{Runbook, RunbookEvent};
use crate::tenant::{Tenant, TenantEvent};
use crate::user::{User, UserEvent};

/// Declares the stored type names of one event enum (see the module doc).
macro_rules! event_type_names {
    ($event:ident { $($variant:ident => $constant:ident),+ $(,)? }) => {
        impl $event {
            $(
                #[doc = concat!("`", stringify!($variant), "`, as stored.")]
                pub const $constant: &'static str = stringify!($variant);
            )+

            /// Every event type of this enum, as stored.
            pub const TYPES: &'static [&'static str] = &[$(Self::$constant),+];

            /// This event's stored type name.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => Self::$constant,)+
                }
            }
        }
    };
}
pub(crate) use event_type_names;

/// Every aggregate type with the event types it records: all the log can
/// contain.
pub const ALL: &[(&str, &[&str])] = &[
    (<Tenant as Aggregate>::TYPE, TenantEvent::TYPES),
    (<Alert as Aggregate>::TYPE, AlertEvent::TYPES),
    (<Incident as Aggregate>::TYPE, IncidentEvent::TYPES),
    (<Runbook as Aggregate>::TYPE, RunbookEvent::TYPES),
    (<Approval as Aggregate>::TYPE, ApprovalEvent::TYPES),
    (<Execution as Aggregate>::TYPE, ExecutionEvent::TYPES),
    (
        <ConsumerQuarantine as Aggregate>::TYPE,
        QuarantineEvent::TYPES,
    ),
    (<Delivery as Aggregate>::TYPE, DeliveryEvent::TYPES),
    (<ChangeReport as Aggregate>::TYPE, ChangeReportEvent::TYPES),
    (<User as Aggregate>::TYPE, UserEvent::TYPES),
    (
        <NotificationSetup as Aggregate>::TYPE,
        NotificationSetupEvent::TYPES,
    ),
    (
        <MaintenanceWindow as Aggregate>::TYPE,
        MaintenanceWindowEvent::TYPES,
    ),
    (
        <EscalationSetup as Aggregate>::TYPE,
        EscalationSetupEvent::TYPES,
    ),
    (<Escalation as Aggregate>::TYPE, EscalationEvent::TYPES),
    (<Heartbeat as Aggregate>::TYPE, HeartbeatEvent::TYPES),
    (
        <NotificationDelivery as Aggregate>::TYPE,
        NotificationDeliveryEvent::TYPES,
    ),
];

/// The aggregate type that records `event_type`, if any does.
pub fn aggregate_of(event_type: &str) -> Option<&'static str> {
    ALL.iter()
        .find(|(_, types)| types.contains(&event_type))
        .map(|(aggregate, _)| *aggregate)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn no_two_aggregates_share_an_event_type_name() {
        let mut seen = HashSet::new();
        for (aggregate, types) in ALL {
            for event_type in *types {
                assert!(
                    seen.insert(*event_type),
                    "{event_type} of {aggregate} is also another aggregate's"
                );
            }
        }
    }

    #[test]
    fn constants_are_the_variant_names() {
        assert_eq!(AlertEvent::RECEIVED, "AlertReceived");
        assert_eq!(IncidentEvent::ALL_ALERTS_RESOLVED, "AllAlertsResolved");
        assert_eq!(ExecutionEvent::DISPATCHING, "ExecutionDispatching");
        assert_eq!(aggregate_of("ApprovalExpired"), Some("Approval"));
        assert_eq!(aggregate_of("NoSuchEvent"), None);
    }
}
