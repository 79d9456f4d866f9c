//! A scripted [`SsmService`] for tests of paths moto cannot produce:
//! failures, timeouts, throttling, and a crash between SendCommand and
//! recording its id. Unscripted calls succeed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use alertledger_domain::values::{InstanceId, InvocationStatus, SsmCommandId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::service::{
    CommandRequest, InvocationReport, PatchState, SsmError, SsmService, TenantAccount,
};

/// What the next SendCommand does.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// SSM accepts it.
    Accept,
    /// The call fails with this error (nothing is sent).
    Fail(SsmError),
    /// SSM accepts it, but the answer never arrives: the caller hangs, as a
    /// process that crashed right after sending would.
    AcceptThenHang,
}

#[derive(Default)]
struct Script {
    sends: VecDeque<SendOutcome>,
    /// Per instance: answers in order; the last one repeats.
    invocations: HashMap<InstanceId, VecDeque<Result<InvocationReport, SsmError>>>,
    sent: Vec<(SsmCommandId, CommandRequest, DateTime<Utc>)>,
    send_calls: usize,
    invocation_calls: usize,
    patch_states: Vec<PatchState>,
}

/// The scripted double. Share it (`Arc`) between the code under test and the test.
#[derive(Default)]
pub struct ScriptedSsm {
    script: Mutex<Script>,
}

impl ScriptedSsm {
    pub fn new() -> Self {
        Self::default()
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues what the next SendCommand calls do.
    pub fn script_sends(&self, outcomes: impl IntoIterator<Item = SendOutcome>) {
        self.script().sends.extend(outcomes);
    }

    /// Queues GetCommandInvocation answers for one instance (the last repeats).
    pub fn script_invocations(
        &self,
        instance_id: &InstanceId,
        answers: impl IntoIterator<Item = Result<InvocationReport, SsmError>>,
    ) {
        self.script()
            .invocations
            .entry(instance_id.clone())
            .or_default()
            .extend(answers);
    }

    /// Sets what DescribeInstancePatchStates answers.
    pub fn set_patch_states(&self, states: Vec<PatchState>) {
        self.script().patch_states = states;
    }

    /// Every command SSM accepted, in order.
    pub fn sent(&self) -> Vec<CommandRequest> {
        self.script()
            .sent
            .iter()
            .map(|(_, request, _)| request.clone())
            .collect()
    }

    /// How many times SendCommand was called (accepted or not).
    pub fn send_calls(&self) -> usize {
        self.script().send_calls
    }

    /// How many times GetCommandInvocation was called.
    pub fn invocation_calls(&self) -> usize {
        self.script().invocation_calls
    }
}

/// An invocation in a given state.
pub fn report(
    status: InvocationStatus,
    response_code: Option<i32>,
    stdout: &str,
) -> InvocationReport {
    InvocationReport {
        status,
        response_code,
        stdout: stdout.to_owned(),
        stderr: String::new(),
    }
}

#[async_trait]
impl SsmService for ScriptedSsm {
    async fn send_command(
        &self,
        _account: &TenantAccount,
        request: &CommandRequest,
    ) -> Result<SsmCommandId, SsmError> {
        let outcome =
            {
                let mut script = self.script();
                script.send_calls += 1;
                let outcome = script.sends.pop_front().unwrap_or(SendOutcome::Accept);
                if let SendOutcome::Fail(error) = outcome {
                    return Err(error);
                }
                let number = script.sent.len() + 1;
                let command_id = SsmCommandId::parse(&format!("scripted-command-{number}"))
                    .map_err(|error| SsmError::Transient {
                        message: error.to_string(),
                    })?;
                script
                    .sent
                    .push((command_id.clone(), request.clone(), Utc::now()));
                (outcome, command_id)
            };
        match outcome {
            (SendOutcome::AcceptThenHang, _) => std::future::pending().await,
            (_, command_id) => Ok(command_id),
        }
    }

    async fn command_invocation(
        &self,
        _account: &TenantAccount,
        command_id: &SsmCommandId,
        instance_id: &InstanceId,
    ) -> Result<InvocationReport, SsmError> {
        let mut script = self.script();
        script.invocation_calls += 1;
        if !script.sent.iter().any(|(id, _, _)| id == command_id) {
            return Err(SsmError::InvocationNotFound);
        }
        let Some(answers) = script.invocations.get_mut(instance_id) else {
            return Ok(report(InvocationStatus::Success, Some(0), "ok"));
        };
        if answers.len() > 1 {
            if let Some(answer) = answers.pop_front() {
                return answer;
            }
        }
        answers
            .front()
            .cloned()
            .unwrap_or_else(|| Ok(report(InvocationStatus::Success, Some(0), "ok")))
    }

    async fn find_command(
        &self,
        _account: &TenantAccount,
        comment: &str,
        sent_after: DateTime<Utc>,
    ) -> Result<Option<SsmCommandId>, SsmError> {
        Ok(self
            .script()
            .sent
            .iter()
            .find(|(_, request, at)| request.comment == comment && *at >= sent_after)
            .map(|(id, _, _)| id.clone()))
    }

    async fn patch_states(
        &self,
        _account: &TenantAccount,
        instance_ids: &[InstanceId],
    ) -> Result<Vec<PatchState>, SsmError> {
        Ok(self
            .script()
            .patch_states
            .iter()
            .filter(|state| {
                instance_ids
                    .iter()
                    .any(|id| id.as_str() == state.instance_id)
            })
            .cloned()
            .collect())
    }
}
