//! The events slice: what a stored event is ([`model`]), the Segment-spec tracking messages senders
//! give ([`tracking`]), the durable log they live in ([`store`]), property filters, the analytics
//! answers ([`analytics`]), and the state it keeps: ingestion's de-duplication and identity cache
//! (`ingest`) and the live index built from the log (`live`).

pub mod analytics;
pub mod filters;
mod ingest;
mod live;
pub mod model;
pub mod store;
pub mod tracking;

pub use analytics::EventIndex;
pub(crate) use ingest::IngestState;
pub use ingest::{IngestOutcome, RejectedMessage};
pub(crate) use live::{LiveIndex, PositionedEvent, UpkeepView, ViewState};
pub use model::{EventKind, EventView, NewEvent, ORDER_COMPLETED, ORDER_REFUNDED, order_cents, order_id, refund_cents};
pub use store::EventStore;
pub use tracking::{Envelope, TrackingMessage, new_message_id, parse_message};
