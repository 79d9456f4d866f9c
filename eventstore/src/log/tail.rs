//! A never-ending stream of the log: catch up from a cursor, then follow.

use std::time::Duration;

use futures_util::Stream;
use tokio::sync::watch;

use super::cursor::LogCursor;
use super::reader::{LogEvent, LogFilter, LogReader};
use super::signal::{LogSignal, WakeOn};

/// How a tailer reads and waits.
#[derive(Debug, Clone)]
pub struct TailSettings {
    /// Most events per read.
    pub batch_size: usize,
    /// Longest wait between reads when no hint arrives (the fallback poll).
    pub poll_interval: Duration,
    /// First re-read delay after a hint that found nothing readable yet (an
    /// older transaction still open holds the horizon); doubles up to
    /// `poll_interval`.
    pub hint_retry: Duration,
    /// Which appends wake the tailer before its next poll.
    pub wake_on: WakeOn,
}

impl Default for TailSettings {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            poll_interval: Duration::from_millis(500),
            hint_retry: Duration::from_millis(5),
            wake_on: WakeOn::AllAppends,
        }
    }
}

/// Follows the log, waking on [`LogSignal`] hints and polling as a fallback.
#[derive(Clone)]
pub struct LogTailer {
    reader: LogReader,
    signal: LogSignal,
    settings: TailSettings,
}

struct TailState {
    reader: LogReader,
    filter: LogFilter,
    settings: TailSettings,
    cursor: LogCursor,
    wake: watch::Receiver<u64>,
    /// Set while a hint promised events the horizon does not show yet.
    retry_delay: Option<Duration>,
}

impl LogTailer {
    pub fn new(reader: LogReader, signal: LogSignal, settings: TailSettings) -> Self {
        Self {
            reader,
            signal,
            settings,
        }
    }

    /// Batches of events after `after` that pass `filter`, in log order, each
    /// exactly once; never ends. A read error is yielded and the tailer goes on
    /// from the same cursor after the poll interval.
    pub fn batches(
        &self,
        after: LogCursor,
        filter: LogFilter,
    ) -> impl Stream<Item = Result<Vec<LogEvent>, sqlx::Error>> + Send + 'static {
        let state = TailState {
            reader: self.reader.clone(),
            filter,
            settings: self.settings.clone(),
            cursor: after,
            wake: self.signal.subscribe(self.settings.wake_on),
            retry_delay: None,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_batch().await;
            Some((item, state))
        })
    }
}

impl TailState {
    async fn next_batch(&mut self) -> Result<Vec<LogEvent>, sqlx::Error> {
        loop {
            // Mark hints seen *before* reading, so one arriving during the read
            // triggers another read rather than being lost.
            self.wake.borrow_and_update();
            let batch = match self
                .reader
                .read(self.cursor, self.settings.batch_size, &self.filter)
                .await
            {
                Ok(batch) => batch,
                Err(error) => {
                    tokio::time::sleep(self.settings.poll_interval).await;
                    return Err(error);
                }
            };
            self.cursor = batch.next;
            if !batch.events.is_empty() {
                self.retry_delay = None;
                return Ok(batch.events);
            }
            self.wait().await;
        }
    }

    async fn wait(&mut self) {
        let poll = self.settings.poll_interval;
        let timeout = self.retry_delay.unwrap_or(poll);
        tokio::select! {
            changed = self.wake.changed() => {
                if changed.is_ok() {
                    self.retry_delay = Some(self.settings.hint_retry);
                } else {
                    // The signal is gone: fall back to plain polling.
                    tokio::time::sleep(poll).await;
                }
            }
            () = tokio::time::sleep(timeout) => {
                self.retry_delay = self.retry_delay.map(|delay| (delay * 2).min(poll)).filter(|delay| *delay < poll);
            }
        }
    }
}
