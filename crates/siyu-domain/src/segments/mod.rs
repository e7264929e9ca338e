//! The segments slice: the definition language ([`language`]), its checks ([`check`]: errors that
//! name the field, warnings that list unknown names), its evaluation into a compressed bitmap of
//! customers ([`evaluate`]) over the workspace's profile facts ([`ProfileFacts`]), event index and
//! models, the store contract ([`store`]), the use cases (`service`) and the upkeep that keeps
//! members current (`upkeep`).

pub mod check;
pub mod evaluate;
pub mod facts;
pub mod language;
mod service;
pub mod store;
#[cfg(test)]
mod tests;
mod upkeep;

pub use check::*;
pub use evaluate::*;
pub use facts::{ProfileFacts, TraitColumn};
pub(crate) use service::FactsCache;
pub use service::{DefinitionInput, MEMBER_COLUMNS, SegmentInput, SegmentPreview, SegmentView, member_row};
pub use store::*;
pub(crate) use upkeep::Upkeep;
pub use upkeep::{SEGMENT_ENTERED, SEGMENT_EXITED};
