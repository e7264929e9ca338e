//! Personal data, slice by slice: each slice that keeps data about customers says where
//! ([`PersonalData::holds`]), exports what it holds about one customer, and erases it. The facade
//! registers every such slice in one list ([`crate::Services::personal_data`]), in the order the
//! slices depend on each other; exporting and erasing a customer walk that list, so a slice added
//! later (journeys, campaigns, loyalty) is exported and erased once it is registered, and a test
//! (`personal_data` in the storage contract) fails when a table that names customers is held by no
//! registered slice.

use crate::access::Principal;
use crate::error::DomainResult;
use async_trait::async_trait;
use siyu_core::{CustomerId, WorkspaceId};

/// The customer whose data is exported or erased: the live profile and every profile merged into
/// it (their data became its data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The live profile.
    pub customer: CustomerId,
    /// Profiles merged into it, directly or through others.
    pub merged: Vec<CustomerId>,
}

impl Subject {
    /// The live profile and every profile merged into it.
    pub fn ids(&self) -> Vec<CustomerId> {
        std::iter::once(self.customer).chain(self.merged.iter().copied()).collect()
    }

    /// Whether `id` is the subject or one of the profiles merged into it.
    pub fn is(&self, id: CustomerId) -> bool {
        id == self.customer || self.merged.contains(&id)
    }
}

/// What a slice keeps about customers, and how it gives it out and forgets it.
#[async_trait]
pub trait PersonalData: Send + Sync {
    /// The name of the slice's part of an export (its noun: `customers`, `events`, …).
    fn part(&self) -> &'static str;

    /// Where the slice keeps customer data at rest: the tables (and, for the embedded event log,
    /// `log files`) its stores write. Every table with a customer column must be named by one
    /// registered slice.
    fn holds(&self) -> &'static [&'static str];

    /// Returns everything the slice holds about the subject, unmasked (the caller checked that
    /// the principal may read personal data and audits the export).
    async fn export(&self, principal: &Principal, subject: &Subject) -> DomainResult<serde_json::Value>;

    /// Erases what the slice holds about the subject. Slices are erased in the order they were
    /// registered (the order they depend on each other): customers first, so no new write can
    /// reach the profile while the later slices forget it.
    async fn erase(&self, principal: &Principal, subject: &Subject) -> DomainResult<()>;
}
