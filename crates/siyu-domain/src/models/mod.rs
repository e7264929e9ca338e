//! The models slice: built-in customer models (RFM, lifecycle, value tier, churn warning, health,
//! LTV). [`settings`] holds their thresholds, names and answers (re-exported here); `service`
//! computes them from the live index and keeps the last result per workspace.

mod personal_data;
mod service;
pub mod settings;

pub use crate::error::ModelError;
pub(crate) use service::KeptModels;
pub use service::{
    ComputedModels, CustomerLtv, CustomerModelView, LtvAnswer, LtvFit, LtvOutcome, LtvState, LtvStatus, RecallEntry,
};
pub use settings::*;

use crate::access::Access;
use crate::customers::Customers;
use crate::events::Events;
use std::sync::Arc;

/// The models slice: settings, models computed from the live index and kept per workspace, LTV
/// fits, and their answers.
#[derive(Clone)]
pub struct Models {
    pub(crate) access: Access,
    pub(crate) customers: Customers,
    pub(crate) events: Events,
    pub(crate) computed: Arc<KeptModels>,
}

impl Models {
    pub(crate) fn new(access: Access, customers: Customers, events: Events) -> Self {
        Self { access, customers, events, computed: Default::default() }
    }
}
