//! Behavioural events: what a stored event is, the durable log it lives in, and how the analytics
//! index is built from it.

pub mod analytics;
pub mod filters;
pub mod model;
pub mod segment;
pub mod store;

pub use analytics::EventIndex;
pub use model::{EventKind, EventView, NewEvent, ORDER_COMPLETED, ORDER_REFUNDED, order_cents, order_id, refund_cents};
pub use segment::{Envelope, SegmentMessage, new_message_id, parse_message};
pub use store::EventStore;
