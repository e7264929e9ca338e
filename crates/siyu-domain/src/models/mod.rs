//! The models slice: built-in customer models (RFM, lifecycle, value tier, churn warning, health,
//! LTV). [`settings`] holds their thresholds, names and answers (re-exported here); `service`
//! computes them from the live index and keeps the last result per workspace.

mod service;
pub mod settings;

pub(crate) use service::KeptModels;
pub use service::{
    ComputedModels, CustomerLtv, CustomerModelView, LtvAnswer, LtvFit, LtvOutcome, LtvState, LtvStatus, RecallEntry,
};
pub use settings::*;
