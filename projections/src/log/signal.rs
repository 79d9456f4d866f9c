//! "Something was appended": the wake-up hint for log tailers.
//!
//! The hint is only an optimisation: tailers poll as a fallback, so a lost hint
//! costs latency, never correctness. In-process tailers are woken directly;
//! other processes hear a PostgreSQL NOTIFY on [`LOG_CHANNEL`], sent outside the
//! appending transaction and at most once per throttle interval, because NOTIFY
//! on every append serialises commits under load.

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

/// Wakes log tailers after appends, locally and across processes. Cheap to clone.
#[derive(Clone)]
pub struct LogSignal {
    inner: Arc<Inner>,
}

struct Inner {
    wake: Arc<watch::Sender<u64>>,
    publish: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
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
        let wake = Arc::new(watch::channel(0_u64).0);
        let publish = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(listen(pool.clone(), Arc::clone(&wake))),
            tokio::spawn(announce(pool, Arc::clone(&publish))),
        ];
        Self {
            inner: Arc::new(Inner {
                wake,
                publish,
                tasks,
            }),
        }
    }

    /// A signal for this process only (tests, tools that need no peers).
    pub fn local() -> Self {
        Self {
            inner: Arc::new(Inner {
                wake: Arc::new(watch::channel(0_u64).0),
                publish: Arc::new(Notify::new()),
                tasks: Vec::new(),
            }),
        }
    }

    /// Call after committing events: wakes local tailers and, throttled, peers.
    pub fn appended(&self) {
        self.inner
            .wake
            .send_modify(|count| *count = count.wrapping_add(1));
        self.inner.publish.notify_one();
    }

    /// A receiver that changes whenever a hint arrives.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.wake.subscribe()
    }
}

async fn listen(pool: PgPool, wake: Arc<watch::Sender<u64>>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(LOG_CHANNEL).await {
                Ok(()) => loop {
                    match listener.recv().await {
                        Ok(_) => wake.send_modify(|count| *count = count.wrapping_add(1)),
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
        wake.send_modify(|count| *count = count.wrapping_add(1));
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

async fn announce(pool: PgPool, publish: Arc<Notify>) {
    loop {
        publish.notified().await;
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(LOG_CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "could not NOTIFY peers of an append");
        }
        // Hints arriving meanwhile leave one stored permit: one NOTIFY covers them.
        tokio::time::sleep(NOTIFY_THROTTLE).await;
    }
}
