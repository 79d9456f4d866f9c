//! The revocation list: which sessions and users' tokens this process
//! refuses, learned from the log so that every process agrees.
//!
//! `UserSessionsRevoked` (logout, a session signed out, a password change,
//! a reused refresh token) revokes access tokens by their `sid`;
//! `UserDisabled` revokes every token whose `sub` is the user and that was
//! issued (`iat`) at or before the disabling, including tokens the CLI
//! minted. At start-up the list is loaded from the log's recent revocation
//! events, then kept current from the live feed's tailer, which already
//! reads every event once per process. A session entry is dropped once no
//! token of that session can still be valid (its revocation time plus the
//! longest access token lifetime); user entries stay (they are few).
//!
//! Every change bumps a counter that open streams watch: a stream re-checks
//! its token on each change and ends when the token is revoked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alertledger_domain::user::UserEvent;
use alertledger_eventstore::log::LogEvent;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::feed::FeedHub;

/// Revoked sessions and users. Cheap to clone.
#[derive(Clone)]
pub struct RevocationList {
    inner: Arc<Inner>,
}

struct Inner {
    state: RwLock<State>,
    changed: watch::Sender<u64>,
    /// How long after its revocation a session can still hold a valid token.
    retention: Duration,
}

#[derive(Default)]
struct State {
    /// Session id -> when its entry may be dropped (Unix seconds).
    sessions: HashMap<Uuid, i64>,
    /// `sub` -> tokens issued at or before this time (Unix seconds) are refused.
    users: HashMap<String, i64>,
}

impl RevocationList {
    /// An empty list whose session entries live `retention` (the longest
    /// access token lifetime plus clock leeway).
    pub fn new(retention: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(State::default()),
                changed: watch::channel(0).0,
                retention,
            }),
        }
    }

    /// A list loaded from the log and kept current from `hub`'s tailer.
    pub async fn load_and_follow(
        pool: &PgPool,
        hub: &FeedHub,
        retention: Duration,
    ) -> Result<Self, sqlx::Error> {
        let list = Self::new(retention);
        // Subscribe first: what is committed while history loads reaches the
        // receiver; applying an event twice changes nothing.
        let (mut receiver, _) = hub.subscribe();
        let retention_seconds = retention.as_secs_f64();
        let rows: Vec<(String, serde_json::Value, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "SELECT event_type, payload, recorded_at FROM events
              WHERE aggregate_type = 'User' AND event_type = ANY($1)
                AND (event_type <> $2 OR recorded_at > now() - make_interval(secs => $3))
              ORDER BY position",
        )
        .bind(vec![UserEvent::SESSIONS_REVOKED, UserEvent::DISABLED])
        .bind(UserEvent::SESSIONS_REVOKED)
        .bind(retention_seconds)
        .fetch_all(pool)
        .await?;
        for (_, payload, _) in rows {
            if let Ok(event) = serde_json::from_value::<UserEvent>(payload) {
                list.apply(&event);
            }
        }
        let follower = list.clone();
        let weak = Arc::downgrade(&follower.inner);
        drop(follower);
        tokio::spawn(async move {
            loop {
                let batch = match receiver.recv().await {
                    Ok(batch) => batch,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        // Only reachable if this task stalls for the whole
                        // feed buffer; say so loudly, the next batches count.
                        tracing::error!(missed, "the revocation list missed feed batches");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                let list = RevocationList { inner };
                for event in batch.iter() {
                    list.apply_log_event(&event.event);
                }
            }
        });
        Ok(list)
    }

    /// Applies one log event (anything but a revocation is ignored).
    pub fn apply_log_event(&self, event: &LogEvent) {
        if event.aggregate_type != "User"
            || (event.event_type != UserEvent::SESSIONS_REVOKED
                && event.event_type != UserEvent::DISABLED)
        {
            return;
        }
        match event.payload_as::<UserEvent>() {
            Ok(event) => self.apply(&event),
            Err(error) => tracing::error!(%error, "a revocation event does not decode"),
        }
    }

    /// Applies one user event.
    pub fn apply(&self, event: &UserEvent) {
        let now = chrono::Utc::now().timestamp();
        let retention = i64::try_from(self.inner.retention.as_secs()).unwrap_or(i64::MAX / 4);
        {
            let mut state = self
                .inner
                .state
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match event {
                UserEvent::UserSessionsRevoked {
                    session_ids, at, ..
                } => {
                    let until = at.timestamp().saturating_add(retention);
                    if until <= now {
                        return;
                    }
                    for id in session_ids {
                        state.sessions.insert(*id, until);
                    }
                    state.sessions.retain(|_, until| *until > now);
                }
                UserEvent::UserDisabled { user_id, at, .. } => {
                    let entry = state.users.entry(user_id.to_string()).or_default();
                    *entry = (*entry).max(at.timestamp());
                }
                _ => return,
            }
        }
        self.inner
            .changed
            .send_modify(|generation| *generation += 1);
    }

    /// Whether a token of `sub`, session `sid`, issued at `iat`, is revoked.
    pub fn is_revoked(&self, sub: &str, sid: Option<&Uuid>, iat: i64) -> bool {
        let state = self
            .inner
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sid.is_some_and(|sid| state.sessions.contains_key(sid))
            || state.users.get(sub).is_some_and(|revoked| iat <= *revoked)
    }

    /// Changes whenever the list does (for open streams).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Resolves once the token of `sub`/`sid`/`iat` is revoked: what an open
    /// stream waits on to end (a disabled user's streams close).
    pub fn revoked(
        &self,
        sub: String,
        sid: Option<Uuid>,
        iat: i64,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let list = self.clone();
        let mut changes = self.watch();
        async move {
            loop {
                if list.is_revoked(&sub, sid.as_ref(), iat) {
                    return;
                }
                if changes.changed().await.is_err() {
                    // The list is gone with the server: never resolves.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use alertledger_domain::user::PLATFORM_TENANT;
    use alertledger_domain::values::{Actor, Role, UserId};

    use super::*;

    fn actor() -> Actor {
        Actor::new(UserId::parse("admin").unwrap(), "Admin", Role::MspAdmin)
    }

    #[test]
    fn a_revoked_session_and_a_disabled_user_are_refused_and_others_are_not() {
        let list = RevocationList::new(Duration::from_secs(900));
        let user = Uuid::now_v7();
        let session = Uuid::now_v7();
        let now = chrono::Utc::now();
        list.apply(&UserEvent::UserSessionsRevoked {
            tenant_id: PLATFORM_TENANT,
            user_id: user,
            session_ids: vec![session],
            reason: "logout".into(),
            actor: actor(),
            at: now,
        });
        assert!(list.is_revoked(&user.to_string(), Some(&session), now.timestamp()));
        assert!(!list.is_revoked(&user.to_string(), Some(&Uuid::now_v7()), now.timestamp()));
        list.apply(&UserEvent::UserDisabled {
            tenant_id: PLATFORM_TENANT,
            user_id: user,
            actor: actor(),
            at: now,
        });
        assert!(list.is_revoked(&user.to_string(), None, now.timestamp() - 60));
        assert!(!list.is_revoked(&user.to_string(), None, now.timestamp() + 60));
        assert!(!list.is_revoked("someone-else", None, now.timestamp()));
    }

    #[test]
    fn a_session_revoked_longer_ago_than_any_token_lives_is_not_kept() {
        let list = RevocationList::new(Duration::from_secs(60));
        let session = Uuid::now_v7();
        list.apply(&UserEvent::UserSessionsRevoked {
            tenant_id: PLATFORM_TENANT,
            user_id: Uuid::now_v7(),
            session_ids: vec![session],
            reason: "logout".into(),
            actor: actor(),
            at: chrono::Utc::now() - chrono::Duration::hours(1),
        });
        assert!(!list.is_revoked("u", Some(&session), 0));
    }
}
