//! What a connection is doing, for the header-read and idle timeouts: the
//! connection's reads and the requests it serves report here, and
//! [`Activity::expired`] resolves once the connection has spent too long
//! receiving a request's headers or waiting for its next request.
//!
//! hyper's own `header_read_timeout` starts when the connection begins to
//! wait for a request, so it would also bound the idle time between
//! keep-alive requests; keeping both clocks here lets each have its own
//! setting. A request in progress (including a long-lived SSE response) is
//! never timed out by this: its body has its own deadline
//! ([`super::body_deadline`]) and responses may stream for as long as they
//! need.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::limits::ConnectionLimits;

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A request's headers did not arrive in time.
    HeaderRead,
    /// No request came within the idle timeout.
    Idle,
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HeaderRead => "the request headers did not arrive within the header-read timeout",
            Self::Idle => "no request within the idle timeout",
        })
    }
}

#[derive(Debug)]
struct State {
    /// Requests whose responses have not finished.
    in_flight: usize,
    /// When the connection last had no request in flight.
    idle_since: Instant,
    /// When the first byte of the next request arrived, while none is in
    /// flight.
    head_started: Option<Instant>,
}

/// One connection's activity.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: between requests, they start the next request's head.
    fn received(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request's headers were read; the returned guard ends it when the
    /// response is finished (dropped).
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.state();
        state.in_flight += 1;
        state.head_started = None;
        drop(state);
        self.changed.notify_one();
        RequestGuard(Arc::clone(self))
    }

    /// Resolves when the connection has overrun a timeout of `limits`.
    pub async fn expired(&self, limits: &ConnectionLimits) -> Expiry {
        loop {
            let deadline = {
                let state = self.state();
                if state.in_flight > 0 {
                    None
                } else if let Some(started) = state.head_started {
                    Some((started + limits.header_read, Expiry::HeaderRead))
                } else {
                    Some((state.idle_since + limits.idle, Expiry::Idle))
                }
            };
            match deadline {
                None => self.changed.notified().await,
                Some((when, expiry)) => {
                    if Instant::now() >= when {
                        return expiry;
                    }
                    tokio::select! {
                        () = self.changed.notified() => {}
                        () = tokio::time::sleep_until(when) => {}
                    }
                }
            }
        }
    }
}

/// A request in progress; dropping it (when its response body is done)
/// makes the connection idle again if it was the last.
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// A connection's stream that reports its reads and holds the connection's
/// place under the cap for as long as the stream lives (also after a
/// WebSocket upgrade took it over).
pub struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Arc<Activity>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            inner,
            activity,
            _permit: permit,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.received();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read: Duration::from_secs(5),
            idle: Duration::from_secs(30),
            ..ConnectionLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_expires_as_idle() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.expired(&limits()).await, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_has_the_header_timeout_and_a_request_none() {
        let activity = Activity::new();
        tokio::time::advance(Duration::from_secs(20)).await;
        activity.received();
        let started = Instant::now();
        assert_eq!(activity.expired(&limits()).await, Expiry::HeaderRead);
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        // While a request is in flight nothing expires, however long.
        let guard = activity.request_started();
        let limits = limits();
        let waited = tokio::time::timeout(Duration::from_secs(3600), activity.expired(&limits));
        assert!(waited.await.is_err());
        // Once it is done, the idle clock starts from then.
        drop(guard);
        let started = Instant::now();
        assert_eq!(activity.expired(&limits).await, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
