//! Flapping in the correlator: every placed alert moves its key's state to
//! its own status (firing or resolved); a move to the other status is a
//! switch, counted at the alert's receipt time (`correlator_flaps`). When a
//! key switched more than the tenant's flapping policy allows within its
//! window, the key's open incident is marked `IncidentFlapping`, with the
//! count and the reason. The flap settler (a worker) records
//! `IncidentFlappingEnded` once the key has been stable for the window; the
//! correlator folds that end in log order and, should a switch have come
//! that the settler did not see, marks the incident again at once. Every
//! input is a log event and every instant an event's own time, so a replay
//! makes the same marks.

use alertledger_domain::incident::{IncidentCommand, IncidentError, IncidentEvent};
use alertledger_domain::values::AlertStatus;
use alertledger_eventstore::consumer::rows;
use alertledger_eventstore::consumer::ConsumerError;
use alertledger_eventstore::log::LogEvent;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{parse_uuid, CorrelationBatch, KeyId};
use crate::correlator::state::FlapRow;

impl CorrelationBatch<'_> {
    /// Counts the alert's status into its key's switches and marks the
    /// key's open incident flapping when the policy says so.
    pub(super) async fn track_flapping(
        &mut self,
        cause: &LogEvent,
        key_id: &KeyId,
        status: AlertStatus,
        at: DateTime<Utc>,
    ) -> Result<(), ConsumerError> {
        let policy = self.tenant(key_id.0).flapping;
        let status = status.as_str();
        let incident = self.key(key_id).await?.incident_id;
        let row = match self.flap(key_id).await? {
            Some(row) => row,
            None => {
                // The key's first alert is a state, not a switch.
                self.flaps.insert(
                    key_id.clone(),
                    FlapRow {
                        tenant_id: key_id.0,
                        key: key_id.1.clone(),
                        last_status: status.to_owned(),
                        changes: Vec::new(),
                        last_change_at: None,
                        window_minutes: i32::try_from(policy.window_minutes()).unwrap_or(i32::MAX),
                        flapping_incident: None,
                        flapping_since: None,
                    },
                );
                self.dirty_flaps.insert(key_id.clone());
                return Ok(());
            }
        };
        let mut row = row;
        if row.last_status != status {
            row.last_status = status.to_owned();
            row.changes.push(at);
            row.last_change_at = Some(at);
        }
        row.changes.retain(|change| at - *change <= policy.window());
        row.window_minutes = i32::try_from(policy.window_minutes()).unwrap_or(i32::MAX);
        let flapping = row.changes.len() > usize::try_from(policy.changes()).unwrap_or(usize::MAX);
        match (row.flapping_incident, incident) {
            // A new incident of a key that still flaps flaps too; the old
            // one (resolved meanwhile) is let go with the reason.
            (Some(marked), Some(open)) if marked != open => {
                let reason = format!(
                    "the flapping of key {} moved to incident {open}, opened for it",
                    key_id.1
                );
                self.end_flapping_of(cause, marked, row.last_change_at.unwrap_or(at), reason)
                    .await?;
                let reason = format!(
                    "key {} has been flapping since {}; a new incident inherits it",
                    key_id.1,
                    row.flapping_since.unwrap_or(at).to_rfc3339()
                );
                self.mark_flapping(cause, open, &mut row, policy.window_minutes(), at, reason)
                    .await?;
            }
            (None, Some(open)) if flapping => {
                let reason = format!(
                    "key {} switched between firing and resolved {} times within {} minutes \
                     (the flapping policy allows {})",
                    key_id.1,
                    row.changes.len(),
                    policy.window_minutes(),
                    policy.changes()
                );
                self.mark_flapping(cause, open, &mut row, policy.window_minutes(), at, reason)
                    .await?;
            }
            _ => {}
        }
        self.flaps.insert(key_id.clone(), row);
        self.dirty_flaps.insert(key_id.clone());
        Ok(())
    }

    /// Folds the settler's `IncidentFlappingEnded`: the key no longer flaps,
    /// unless a switch it did not see keeps it over the policy's count.
    pub(super) async fn flapping_ended(
        &mut self,
        cause: &LogEvent,
        event: IncidentEvent,
    ) -> Result<(), ConsumerError> {
        let IncidentEvent::IncidentFlappingEnded {
            tenant_id,
            key,
            stable_since,
            ..
        } = event
        else {
            return Ok(());
        };
        let incident_id = parse_uuid(cause, &cause.aggregate_id)?;
        let key_id = (tenant_id.into(), key);
        let Some(mut row) = self.flap(&key_id).await? else {
            return Ok(());
        };
        if row.flapping_incident != Some(incident_id) {
            return Ok(());
        }
        row.flapping_incident = None;
        row.flapping_since = None;
        let policy = self.tenant(key_id.0).flapping;
        let still = row.changes.len() > usize::try_from(policy.changes()).unwrap_or(usize::MAX)
            && row.last_change_at.is_some_and(|last| last > stable_since);
        if still {
            let at = row.last_change_at.unwrap_or(stable_since);
            let reason = format!(
                "key {} switched again at {} after the stable period that ended its flapping \
                 ({} switches within {} minutes)",
                key_id.1,
                at.to_rfc3339(),
                row.changes.len(),
                policy.window_minutes()
            );
            self.mark_flapping(
                cause,
                incident_id,
                &mut row,
                policy.window_minutes(),
                at,
                reason,
            )
            .await?;
        }
        self.flaps.insert(key_id.clone(), row);
        self.dirty_flaps.insert(key_id);
        Ok(())
    }

    async fn mark_flapping(
        &mut self,
        cause: &LogEvent,
        incident_id: Uuid,
        row: &mut FlapRow,
        window_minutes: u32,
        since: DateTime<Utc>,
        reason: String,
    ) -> Result<(), ConsumerError> {
        let command = IncidentCommand::MarkFlapping {
            key: row.key.clone(),
            changes: u32::try_from(row.changes.len()).unwrap_or(u32::MAX),
            window_minutes,
            since,
            reason,
        };
        let alert_id = parse_uuid(cause, &cause.aggregate_id)?;
        match self
            .execute_on_incident(cause, incident_id, command, alert_id)
            .await?
        {
            Ok(()) | Err(IncidentError::AlreadyFlapping) => {
                row.flapping_incident = Some(incident_id);
                row.flapping_since = Some(since);
                Ok(())
            }
            Err(error) => Err(ConsumerError::event(cause, error)),
        }
    }

    async fn end_flapping_of(
        &mut self,
        cause: &LogEvent,
        incident_id: Uuid,
        stable_since: DateTime<Utc>,
        reason: String,
    ) -> Result<(), ConsumerError> {
        let command = IncidentCommand::EndFlapping {
            stable_since,
            reason,
        };
        let alert_id = parse_uuid(cause, &cause.aggregate_id)?;
        match self
            .execute_on_incident(cause, incident_id, command, alert_id)
            .await?
        {
            Ok(()) | Err(IncidentError::NotFlapping) => Ok(()),
            Err(error) => Err(ConsumerError::event(cause, error)),
        }
    }

    /// The key's flap row: from this batch, else stored.
    async fn flap(&mut self, key_id: &KeyId) -> Result<Option<FlapRow>, ConsumerError> {
        if let Some(row) = self.flaps.get(key_id) {
            return Ok(Some(row.clone()));
        }
        let lookup = [serde_json::json!({ "tenant_id": key_id.0, "key": key_id.1 })];
        let stored = rows::load::<FlapRow>(self.conn, &self.target, &lookup)
            .await?
            .into_iter()
            .next();
        if let Some(row) = &stored {
            self.flaps.insert(key_id.clone(), row.clone());
        }
        Ok(stored)
    }
}
