//! Shared vocabulary of siyu: ids, time, pages, store errors and the PII cipher; no I/O, no runtime.
//!
//! Modules, in reading order: [`ids`], [`clock`], [`page`], [`error`], [`crypto`], [`email`].

pub mod clock;
pub mod crypto;
pub mod email;
pub mod error;
pub mod ids;
pub mod page;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use ids::*;
pub use page::{Page, PageRequest};
