//! The live feed: one log tailer per process, fanned out to every SSE and
//! WebSocket subscriber.
//!
//! - [`FeedHub`] — follows the global log once and broadcasts each batch it
//!   reads; remembers the last position it broadcast (the "live position").
//! - [`Subscription`] — one subscriber's view: catch-up from the database
//!   after a resume position, then live from the hub, with no gap and no
//!   duplicate at the seam; filtered by tenant and event type; told to resync
//!   when it falls further behind than the hub's bounded buffer.
//! - [`FeedEvent`] — one event as the feed sends it, with its SSE and
//!   WebSocket frames rendered once and shared by every subscriber.
//! - [`FeedSettings`] — buffer size, heartbeat, retry hint, history read
//!   bounds, stream caps.
//! - [`StreamCounter`] — concurrent streams per user and per tenant, capped.

mod event;
mod hub;
mod limits;
mod subscription;

pub use event::{feed_kind, FeedEvent, FEED_KINDS, UNNAMED_IN_FEED, UNNAMED_KIND};
pub use hub::{until_closed, FeedBatch, FeedHub, FeedSettings};
pub use limits::{StreamCounter, StreamLimits, StreamPermit, StreamRefused};
pub use subscription::{FeedItem, Subscription};
