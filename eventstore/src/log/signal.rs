//! "Something was appended": the wake-up hint for log tailers.
//!
//! The hint is only an optimisation: tailers poll as a fallback, so a lost hint
//! costs latency, never correctness. In-process tailers are woken directly;
//! other processes hear a PostgreSQL NOTIFY on [`LOG_CHANNEL`], sent outside the
//! appending transaction and at most once per throttle interval, because NOTIFY
//! on every append serialises commits under load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// The PostgreSQL channel on which processes announce appends.
pub const LOG_CHANNEL: &str = "alertledger_log";

/// How often at most one process sends a NOTIFY.
const NOTIFY_THROTTLE: Duration = Duration::from_millis(20);
/// Pause before re-opening a lost LISTEN connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// Which appends wake a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WakeOn {
    /// Every append.
    #[default]
    AllAppends,
    /// Appends other than alert receipts (the hot path), for readers that only
    /// follow configuration and decisions.
    NonReceiptAppends,
}

/// NOTIFY payloads: what kind of append a peer announces.
const RECEIPTS_ONLY: &str = "receipts";
const OTHER: &str = "other";

/// Wakes log tailers after appends, locally and across processes. Cheap to clone.
#[derive(Clone)]
pub struct LogSignal {
    inner: Arc<Inner>,
}

struct Inner {
    wakes: Arc<Wakes>,
    publish: Arc<Publish>,
    tasks: Vec<JoinHandle<()>>,
}

/// One counter per [`WakeOn`] kind.
struct Wakes {
    all: watch::Sender<u64>,
    non_receipts: watch::Sender<u64>,
}

impl Wakes {
    fn new() -> Self {
        Self {
            all: watch::channel(0_u64).0,
            non_receipts: watch::channel(0_u64).0,
        }
    }

    fn wake(&self, receipts_only: bool) {
        self.all.send_modify(|count| *count = count.wrapping_add(1));
        if !receipts_only {
            self.non_receipts
                .send_modify(|count| *count = count.wrapping_add(1));
        }
    }
}

/// Pending announcements to peers, coalesced.
struct Publish {
    due: Notify,
    other: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl LogSignal {
    /// A signal that also listens for, and sends, NOTIFY hints through `pool`.
    pub fn start(pool: PgPool) -> Self {
        let wakes = Arc::new(Wakes::new());
        let publish = Arc::new(Publish::new());
        let tasks = vec![
            tokio::spawn(listen(pool.clone(), Arc::clone(&wakes))),
            tokio::spawn(announce(pool, Arc::clone(&publish))),
        ];
        Self {
            inner: Arc::new(Inner {
                wakes,
                publish,
                tasks,
            }),
        }
    }

    /// A signal for this process only (tests, tools that need no peers).
    pub fn local() -> Self {
        Self {
            inner: Arc::new(Inner {
                wakes: Arc::new(Wakes::new()),
                publish: Arc::new(Publish::new()),
                tasks: Vec::new(),
            }),
        }
    }

    /// Call after committing events: wakes local tailers and, throttled, peers.
    pub fn appended(&self) {
        self.inner.wakes.wake(false);
        self.inner.publish.announce(false);
    }

    /// Call after committing only alert receipts: wakes only the tailers that
    /// follow every append.
    pub fn appended_receipts(&self) {
        self.inner.wakes.wake(true);
        self.inner.publish.announce(true);
    }

    /// A receiver that changes whenever a hint of the `wake_on` kind arrives.
    pub fn subscribe(&self, wake_on: WakeOn) -> watch::Receiver<u64> {
        match wake_on {
            WakeOn::AllAppends => self.inner.wakes.all.subscribe(),
            WakeOn::NonReceiptAppends => self.inner.wakes.non_receipts.subscribe(),
        }
    }
}

impl Publish {
    fn new() -> Self {
        Self {
            due: Notify::new(),
            other: AtomicBool::new(false),
        }
    }

    fn announce(&self, receipts_only: bool) {
        if !receipts_only {
            self.other.store(true, Ordering::Relaxed);
        }
        self.due.notify_one();
    }
}

async fn listen(pool: PgPool, wakes: Arc<Wakes>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(LOG_CHANNEL).await {
                Ok(()) => loop {
                    match listener.recv().await {
                        Ok(notification) => wakes.wake(notification.payload() == RECEIPTS_ONLY),
                        Err(error) => {
                            tracing::warn!(%error, "lost the log LISTEN connection; tailers poll meanwhile");
                            break;
                        }
                    }
                },
                Err(error) => tracing::warn!(%error, "cannot LISTEN for log hints"),
            },
            Err(error) => tracing::warn!(%error, "cannot open the log LISTEN connection"),
        }
        // Whatever was announced while we were deaf is found by the next read.
        wakes.wake(false);
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

async fn announce(pool: PgPool, publish: Arc<Publish>) {
    loop {
        publish.due.notified().await;
        let other = publish.other.swap(false, Ordering::Relaxed);
        let kind = if other { OTHER } else { RECEIPTS_ONLY };
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LOG_CHANNEL)
            .bind(kind)
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "could not NOTIFY peers of an append");
        }
        // Hints arriving meanwhile leave one stored permit: one NOTIFY covers them.
        tokio::time::sleep(NOTIFY_THROTTLE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn receipt_appends_wake_only_subscribers_of_every_append() {
        let signal = LogSignal::local();
        let mut every = signal.subscribe(WakeOn::AllAppends);
        let configuration = signal.subscribe(WakeOn::NonReceiptAppends);

        signal.appended_receipts();
        assert!(every.has_changed().unwrap_or(false));
        assert!(!configuration.has_changed().unwrap_or(true));
        every.borrow_and_update();

        signal.appended();
        assert!(every.has_changed().unwrap_or(false));
        assert!(configuration.has_changed().unwrap_or(false));
    }
}
