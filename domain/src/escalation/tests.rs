#![allow(clippy::unwrap_used)]

use chrono::Duration;
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::testing::{actor, now, services, tenant_id};
use crate::values::{
    EscalationId, EscalationPolicyId, IncidentId, NotificationChannelId, Role, ScheduleId,
};

fn admin() -> crate::values::Actor {
    actor("admin-1", Role::TenantAdmin)
}

fn schedule_id() -> ScheduleId {
    ScheduleId::from_uuid(Uuid::from_u128(10))
}

fn policy_id() -> EscalationPolicyId {
    EscalationPolicyId::from_uuid(Uuid::from_u128(20))
}

fn incident_id() -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(30))
}

fn schedule() -> ScheduleSpec {
    ScheduleSpec::new(ScheduleFields {
        name: "Primary".to_owned(),
        timezone: "Europe/Berlin".to_owned(),
        rotation: RotationFields {
            handoff: Handoff::Weekly,
            handoff_time: "09:00".to_owned(),
            start_date: "2026-03-02".parse().unwrap(),
        },
        participants: vec![Participant {
            name: "Alice".to_owned(),
            channel_id: NotificationChannelId::from_uuid(Uuid::from_u128(1)),
        }],
    })
    .unwrap()
}

fn policy_on_schedule() -> PolicySpec {
    PolicySpec::new(PolicyFields {
        name: "Primary".to_owned(),
        levels: vec![Level {
            delay_minutes: 10,
            channels: None,
            schedule: Some(schedule_id()),
        }],
        repeat: 0,
    })
    .unwrap()
}

fn schedule_created() -> EscalationSetupEvent {
    EscalationSetupEvent::OnCallScheduleCreated {
        tenant_id: tenant_id(),
        schedule_id: schedule_id(),
        schedule: schedule(),
        actor: admin(),
        at: now(),
    }
}

fn policy_created() -> EscalationSetupEvent {
    EscalationSetupEvent::EscalationPolicyCreated {
        tenant_id: tenant_id(),
        policy_id: policy_id(),
        policy: policy_on_schedule(),
        actor: admin(),
        at: now(),
    }
}

#[test]
fn a_policy_may_only_name_a_schedule_the_tenant_has() {
    TestFramework::<EscalationSetup>::with(services())
        .given(vec![])
        .when(EscalationSetupCommand::CreatePolicy {
            tenant_id: tenant_id(),
            policy_id: policy_id(),
            spec: policy_on_schedule(),
            actor: admin(),
        })
        .then_expect_error(EscalationSetupError::PolicyNamesUnknownSchedule {
            field: "levels[0].schedule".to_owned(),
            schedule_id: schedule_id(),
        });
    TestFramework::<EscalationSetup>::with(services())
        .given(vec![schedule_created()])
        .when(EscalationSetupCommand::CreatePolicy {
            tenant_id: tenant_id(),
            policy_id: policy_id(),
            spec: policy_on_schedule(),
            actor: admin(),
        })
        .then_expect_events(vec![policy_created()]);
}

#[test]
fn a_schedule_a_policy_names_cannot_be_deleted() {
    TestFramework::<EscalationSetup>::with(services())
        .given(vec![schedule_created(), policy_created()])
        .when(EscalationSetupCommand::DeleteSchedule {
            schedule_id: schedule_id(),
            actor: admin(),
        })
        .then_expect_error(EscalationSetupError::ScheduleInUse {
            policy_id: policy_id(),
        });
}

fn escalation_id() -> EscalationId {
    EscalationId::for_incident(&incident_id(), &policy_id())
}

fn started(run: u32) -> EscalationEvent {
    EscalationEvent::EscalationStarted {
        tenant_id: tenant_id(),
        escalation_id: escalation_id(),
        incident_id: incident_id(),
        policy_id: policy_id(),
        run,
        cause: EscalationCause::Manual { note: None },
        actor: admin(),
        at: now(),
    }
}

fn start() -> EscalationCommand {
    EscalationCommand::StartEscalation {
        tenant_id: tenant_id(),
        incident_id: incident_id(),
        policy_id: policy_id(),
        cause: EscalationCause::Manual { note: None },
        actor: admin(),
    }
}

fn reached(step: Step, next: Option<chrono::DateTime<chrono::Utc>>) -> ReachedLevel {
    ReachedLevel {
        step,
        due_at: now(),
        targets: vec![],
        unresolved: vec![],
        reason: "not acknowledged within 10 minutes".to_owned(),
        next_due_at: next,
    }
}

fn level_reached(step: Step, next: Option<chrono::DateTime<chrono::Utc>>) -> EscalationEvent {
    EscalationEvent::EscalationLevelReached {
        tenant_id: tenant_id(),
        escalation_id: escalation_id(),
        incident_id: incident_id(),
        policy_id: policy_id(),
        run: 1,
        round: step.round,
        level: step.level,
        due_at: now(),
        targets: vec![],
        unresolved: vec![],
        reason: "not acknowledged within 10 minutes".to_owned(),
        next_due_at: next,
        at: now(),
    }
}

#[test]
fn an_escalation_starts_once_while_it_runs_and_again_after_it_stopped() {
    TestFramework::<Escalation>::with(services())
        .given(vec![])
        .when(start())
        .then_expect_events(vec![started(1)]);
    TestFramework::<Escalation>::with(services())
        .given(vec![started(1)])
        .when(start())
        .then_expect_error(EscalationError::AlreadyRunning);
    let stopped = EscalationEvent::EscalationStopped {
        tenant_id: tenant_id(),
        escalation_id: escalation_id(),
        incident_id: incident_id(),
        policy_id: policy_id(),
        run: 1,
        reason: StopReason::IncidentAcknowledged,
        at: now(),
    };
    TestFramework::<Escalation>::with(services())
        .given(vec![started(1), stopped])
        .when(start())
        .then_expect_events(vec![started(2)]);
}

#[test]
fn a_level_is_recorded_once_per_run() {
    let next = Some(now() + Duration::minutes(10));
    TestFramework::<Escalation>::with(services())
        .given(vec![started(1)])
        .when(EscalationCommand::RecordLevelReached {
            run: 1,
            reached: reached(Step::FIRST, next),
        })
        .then_expect_events(vec![level_reached(Step::FIRST, next)]);
    TestFramework::<Escalation>::with(services())
        .given(vec![started(1), level_reached(Step::FIRST, next)])
        .when(EscalationCommand::RecordLevelReached {
            run: 1,
            reached: reached(Step::FIRST, next),
        })
        .then_expect_error(EscalationError::StepAlreadyRecorded);
    // The last step (no next due time) ends the run: nothing more is recorded.
    TestFramework::<Escalation>::with(services())
        .given(vec![started(1), level_reached(Step::FIRST, None)])
        .when(EscalationCommand::RecordLevelReached {
            run: 1,
            reached: reached(Step { round: 0, level: 2 }, None),
        })
        .then_expect_error(EscalationError::NotRunning);
}
