//! Closed sets of values: severity, risk, role, statuses and webhook sources.
//! Each parses case-insensitively and serializes as its canonical string.

use serde::{Deserialize, Serialize};

use super::{string_conversions, ValueError};

macro_rules! string_enum {
    (
        $(#[$doc:meta])* $name:ident, $field:literal {
            $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical (serialized) spelling.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses one of the canonical spellings, ignoring case and surrounding space.
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                let wanted = raw.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| {
                        let accepted: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        ValueError::new(
                            $field,
                            format!("must be one of {}", accepted.join(", ")),
                        )
                    })
            }
        }

        string_conversions!($name);
    };
}

string_enum!(
    /// How bad an alert is; the base of the priority score.
    Severity, "severity" {
        /// Service down or data at risk.
        Critical => "critical",
        /// Degraded; act soon.
        High => "high",
        /// Needs attention.
        Medium => "medium",
        /// Informational.
        Low => "low",
    }
);

impl Severity {
    /// The priority score an incident of this severity starts from.
    pub fn base_priority(&self) -> u8 {
        match self {
            Severity::Critical => 90,
            Severity::High => 60,
            Severity::Medium => 30,
            Severity::Low => 10,
        }
    }
}

string_enum!(
    /// How dangerous a runbook is; decides who must approve running it.
    Risk, "risk" {
        /// Runs without approval.
        Low => "low",
        /// A tenant admin (or MSP admin) approves.
        Medium => "medium",
        /// Only an MSP admin approves.
        High => "high",
    }
);

impl Risk {
    /// Whether running a runbook of this risk needs an approval first.
    pub fn requires_approval(&self) -> bool {
        !matches!(self, Risk::Low)
    }

    /// Its place from low (0) to high (2), to tell a lowering from a raising.
    pub fn rank(&self) -> u8 {
        match self {
            Risk::Low => 0,
            Risk::Medium => 1,
            Risk::High => 2,
        }
    }
}

string_enum!(
    /// What a person may do (the JWT `role` claim).
    Role, "role" {
        /// Does everything for every tenant; alone approves high risk.
        MspAdmin => "msp_admin",
        /// Configures its tenant; approves medium risk.
        TenantAdmin => "tenant_admin",
        /// Acknowledges, assigns, resolves, comments; runs low-risk runbooks.
        Technician => "technician",
        /// Reads only.
        Viewer => "viewer",
    }
);

impl Role {
    /// Whether this role may approve (or reject) a runbook run of the given risk.
    pub fn may_approve(&self, risk: Risk) -> bool {
        match risk {
            Risk::Low => matches!(self, Role::MspAdmin | Role::TenantAdmin | Role::Technician),
            Risk::Medium => matches!(self, Role::MspAdmin | Role::TenantAdmin),
            Risk::High => matches!(self, Role::MspAdmin),
        }
    }

    /// Whether this role may work incidents and alerts (acknowledge, assign, resolve, comment).
    pub fn may_operate(&self) -> bool {
        !matches!(self, Role::Viewer)
    }

    /// Whether this role may change a tenant's configuration.
    pub fn may_configure(&self) -> bool {
        matches!(self, Role::MspAdmin | Role::TenantAdmin)
    }
}

string_enum!(
    /// Whether the source still reports the alert.
    AlertStatus, "status" {
        /// The condition holds.
        Firing => "firing",
        /// The source reports it cleared.
        Resolved => "resolved",
    }
);

string_enum!(
    /// The webhook route an alert arrived on (`/api/v1/webhooks/{source}`),
    /// which decides how its body was read.
    WebhookSource, "source" {
        /// Our own simple JSON shape.
        Generic => "generic",
        /// Prometheus Alertmanager, webhook version 4.
        Alertmanager => "alertmanager",
        /// Grafana unified alerting (Alertmanager shape).
        Grafana => "grafana",
        /// Datadog webhook.
        Datadog => "datadog",
        /// AWS CloudWatch alarm via SNS.
        Cloudwatch => "cloudwatch",
        /// Zabbix media type.
        Zabbix => "zabbix",
        /// PagerDuty Events API v2.
        Pagerduty => "pagerduty",
        /// The built-in demo generator.
        Demo => "demo",
        /// A heartbeat that went quiet (raised by the heartbeat checker).
        Heartbeat => "heartbeat",
    }
);

string_enum!(
    /// The status of one SSM command invocation on one instance, spelled as SSM
    /// reports it (`GetCommandInvocation`).
    InvocationStatus, "invocation_status" {
        /// Not yet started on the instance.
        Pending => "Pending",
        /// Running.
        InProgress => "InProgress",
        /// The instance was unreachable; SSM retries.
        Delayed => "Delayed",
        /// Finished with exit code 0.
        Success => "Success",
        /// Cancelled before finishing.
        Cancelled => "Cancelled",
        /// Exceeded its execution timeout.
        TimedOut => "TimedOut",
        /// Finished with a non-zero exit code or could not run.
        Failed => "Failed",
        /// A cancel was requested and is under way.
        Cancelling => "Cancelling",
    }
);

impl InvocationStatus {
    /// Whether SSM will report no further change for this invocation.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            InvocationStatus::Success
                | InvocationStatus::Cancelled
                | InvocationStatus::TimedOut
                | InvocationStatus::Failed
        )
    }
}
