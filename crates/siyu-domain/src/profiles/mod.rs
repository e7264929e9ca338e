//! Customer profiles: identities (with transitive merge), typed traits, tags, notes and merge history.
//!
//! [`model`] holds the rules (normalisation, masking, drafts), [`store`] the persistence contract.

pub mod model;
pub mod store;

pub use model::*;
pub use store::*;
