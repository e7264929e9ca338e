//! The access slice: who may do what in which workspace. The principal and its roles × permissions
//! ([`principal`], re-exported here), workspaces, staff users with their sessions and invitations,
//! API keys, the audit log, and their use cases ([`service`]).

pub mod api_keys;
pub mod audit;
pub mod principal;
mod service;
pub mod users;
pub mod workspaces;

pub use principal::*;
pub use service::{Acceptance, InvitationOutcome, LoginClient, LoginOutcome};
