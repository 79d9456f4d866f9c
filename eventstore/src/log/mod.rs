//! The global event log: every committed event of every aggregate in one
//! stable order.
//!
//! Log order is `(transaction_id, position)`, and a reader only returns rows whose
//! transaction is below `pg_snapshot_xmin(pg_current_snapshot())`: every
//! transaction below that horizon has finished, so nothing can later appear
//! before what was already read. `position` alone would not do: concurrent
//! transactions take positions in one order and commit in another, and a naive
//! `position > n` tail skips whatever commits late.

mod cursor;
mod reader;
mod signal;
mod tail;
mod xid8;

pub use cursor::LogCursor;
pub use reader::{LogBatch, LogEvent, LogFilter, LogReader};
pub use signal::{LogSignal, WakeOn, LOG_CHANNEL};
pub use tail::{LogTailer, TailSettings};
pub use xid8::Xid8;
