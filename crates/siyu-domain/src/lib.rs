//! siyu's domain: the rules and use cases of workspaces, access, customers, events, segments and
//! models. It knows no HTTP and no SQL; stores are traits implemented by `siyu-store`.
//!
//! One folder per slice, each with its model, its store trait, its use cases and the state it
//! keeps: [`access`] (principals, workspaces, users, API keys, audit), [`customers`] (profiles,
//! identities, traits, tags, notes, consent, CSV import), [`events`] (tracking messages, the log,
//! ingestion, the live index, analytics answers), [`segments`] (the language, checks, evaluation,
//! upkeep), [`models`] (RFM, lifecycle, tiers, churn, health, LTV), [`channels`] (a message on its
//! way out and the port channel adapters implement, configured channels and the messages sent on
//! them), [`journeys`] (versioned graphs customers are taken through, their entries and engine), [`campaigns`] (activities customers take part in: customer tokens, flash sales). Beside them: [`error`], [`background`] (heavy work at a lower priority),
//! [`jobs`] (durable jobs), [`stores`] (the bundle of store traits the facade hands out), [`feed`]
//! (typed changes instead of calls between slices), [`personal_data`] (what each slice holds about
//! a customer, exported and erased through one registry) and [`facade`] ([`Services`], which composes the
//! slices).

pub mod access;
pub mod background;
pub mod campaigns;
pub mod channels;
pub mod customers;
pub mod error;
pub mod events;
pub mod facade;
pub mod feed;
pub mod jobs;
pub mod journeys;
pub mod models;
pub mod personal_data;
pub mod segments;
pub mod stores;

pub use error::{DomainError, FieldError};
pub use facade::Services;
pub use stores::{Maintenance, Stores};
