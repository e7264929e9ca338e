//! siyu's analytics engine: every event of a workspace in memory, partitioned by customer and ordered
//! by time within each customer, stored column-wise (the layout of Mixpanel's and Amplitude's
//! engines), and the kernels that answer funnels, retention and RFM in one pass over it.
//!
//! Modules, in reading order: [`columns`] (customer-partitioned columns and their builder), [`index`]
//! (a base and a delta of recent events, seen as one), [`calendar`] (instants to
//! local days, weeks and months of a time zone), [`funnel`], [`retention`], [`rfm`],
//! [`segmentation`], [`paths`], [`cohort`] (customers by what they did), [`ltv`] (BG/NBD and Gamma-Gamma), [`models`] (RFM classes, lifecycle, tiers, churn, health), [`props`] (event properties as interned sets), [`kpi`], [`parallel`]
//! (splitting a scan over the cores).
//!
//! The crate depends on `siyu-core` only: it knows no storage, HTTP or runtime. Its definitions are
//! those of `scripts/reference/anchors.py` (ClickHouse `windowFunnel`, Monday weeks, RANK quintiles),
//! and its tests compare with answers DuckDB and ClickHouse gave on the same data.

pub mod calendar;
pub mod cohort;
pub mod columns;
pub mod funnel;
pub mod index;
pub mod kpi;
pub mod ltv;
pub mod models;
pub mod parallel;
pub mod paths;
pub mod props;
pub mod retention;
pub mod rfm;
pub mod segmentation;

pub use calendar::{Calendar, Granularity};
pub use columns::{EventColumns, EventColumnsBuilder, EventNames, Order, RawEvent};
pub use index::{CustomerEvents, Index};
pub use props::{PropTable, Scalar};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400 * 1_000_000;

/// What a query could not answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    /// A parameter is out of range; `field` names it.
    #[error("{field}: {reason}")]
    Invalid {
        /// The offending parameter.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The query names an event that no event of the workspace has.
    #[error("{field}: unknown event \"{name}\"")]
    UnknownEvent {
        /// The parameter that named it.
        field: String,
        /// The name as given.
        name: String,
    },
}
