//! The customers slice: profiles with their identities (with transitive merge), typed traits, tags,
//! notes, consent and merge history, the CSV import, and their use cases.
//!
//! [`model`] holds the rules (normalisation, masking, drafts), [`store`] the persistence contract,
//! [`tags`] and [`consent`] their own rules, [`csv`] the import's layout, `service` and `import`
//! the use cases.

pub mod consent;
pub mod csv;
mod import;
mod import_bounds;
pub mod model;
mod service;
pub mod store;
pub mod tags;

pub use import::{ImportReport, RowError};
pub use import_bounds::{MAX_FIELD_BYTES, MAX_ROW_BYTES};
pub use model::*;
pub use service::{ConsentChange, ConsentView, CustomerQuery, CustomerView, IdentityView, TraitView, UpsertResult};
pub use store::*;
