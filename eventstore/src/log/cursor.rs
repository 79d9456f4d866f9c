//! Where a reader is in the log.

use super::xid8::Xid8;

/// A point in log order: "after the event at `position`, written by
/// transaction `transaction_id`".
///
/// Clients only ever see positions; the server turns a position back into a
/// cursor with [`super::LogReader::cursor_after_position`]. A cursor may also
/// stand between events (`position` 0 of a transaction id): "everything of every
/// transaction below this id has been read".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogCursor {
    transaction_id: u64,
    position: i64,
}

impl LogCursor {
    /// Before the first event.
    pub const START: LogCursor = LogCursor {
        transaction_id: 0,
        position: 0,
    };

    pub(crate) fn new(transaction_id: u64, position: i64) -> Self {
        Self {
            transaction_id,
            position,
        }
    }

    /// After every event of transactions older than `transaction_id`.
    pub(crate) fn before_transaction(transaction_id: u64) -> Self {
        Self::new(transaction_id, 0)
    }

    /// The position of the last event this cursor is after (0 for none, or when
    /// the cursor stands between transactions).
    pub fn position(&self) -> i64 {
        self.position
    }

    /// The transaction id part of the cursor.
    pub fn transaction_id(&self) -> u64 {
        self.transaction_id
    }

    pub(crate) fn xid8(&self) -> Xid8 {
        Xid8(self.transaction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_order_by_transaction_then_position() {
        let early_commit_high_position = LogCursor::new(10, 900);
        let late_commit_low_position = LogCursor::new(11, 5);
        assert!(early_commit_high_position < late_commit_low_position);
        assert!(LogCursor::before_transaction(11) < late_commit_low_position);
        assert!(LogCursor::before_transaction(11) > early_commit_high_position);
        assert!(LogCursor::START < early_commit_high_position);
    }
}
