//! siyu's domain: the rules of workspaces, access, customer profiles, tags, consent and audit.
//! It knows no HTTP and no SQL; stores are traits implemented by `siyu-store`.
//!
//! Modules, in reading order: [`error`], [`access`], [`workspaces`], [`users`], [`api_keys`],
//! [`profiles`] (identities, traits, merge), [`events`] (the event log), [`models`] (RFM, lifecycle, tiers, churn, health, LTV settings and answers), [`tags`], [`consent`], [`audit`], [`imports`], [`jobs`] (durable jobs), [`stores`],
//! [`services`].

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod consent;
pub mod error;
pub mod events;
pub mod imports;
pub mod jobs;
pub mod models;
pub mod profiles;
pub mod segments;
pub mod services;
pub mod stores;
pub mod tags;
pub mod users;
pub mod workspaces;

pub use error::{DomainError, FieldError};
pub use services::Services;
pub use stores::Stores;
