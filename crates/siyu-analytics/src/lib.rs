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

/// The earliest instant the engine reads as real data: 2000-01-01T00:00:00Z, in microseconds.
/// Ingestion refuses events before it (docs/EVENTS.md) and a query's default range never reaches
/// before it; events of older logs are skipped by the queries whose range they fall outside.
pub const EARLIEST_US: i64 = 946_684_800_000_000;

/// The most cohorts (and so periods) one retention matrix has.
pub const MAX_RETENTION_BUCKETS: i64 = 400;
/// The most buckets one event segmentation has.
pub const MAX_SEGMENTATION_BUCKETS: i64 = 1_000;
/// The most numbers one event segmentation holds: series × breakdown values × buckets.
pub const MAX_SEGMENTATION_CELLS: usize = 500_000;
/// The most distinct breakdown values one funnel counts.
pub const MAX_FUNNEL_GROUPS: usize = 10_000;
/// The longest funnel conversion window, microseconds (366 days).
pub const MAX_FUNNEL_WINDOW_US: i64 = 366 * DAY_US;
/// The most distinct step-to-step links one paths query counts.
pub const MAX_PATH_LINKS: usize = 100_000;
/// The deepest paths query, in steps from the anchor.
pub const MAX_PATH_DEPTH: usize = 10;

/// The events that are not a customer's own activity (siyu's bookkeeping events such as `Segment
/// Entered`, messages the brand sent, coupons it issued), by event id. Activity measures (active
/// customers, first seen, retention on any event, the latest active day) skip them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passive(Vec<bool>);

impl Passive {
    /// The passive set of the given event ids.
    pub fn of(ids: impl IntoIterator<Item = u16>) -> Self {
        let mut flags = Vec::new();
        for id in ids {
            let i = usize::from(id);
            if flags.len() <= i {
                flags.resize(i + 1, false);
            }
            flags[i] = true;
        }
        Self(flags)
    }

    /// Whether the event is passive.
    pub fn contains(&self, event: u16) -> bool {
        self.0.get(usize::from(event)).copied().unwrap_or(false)
    }
}

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
