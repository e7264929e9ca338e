//! siyu's background work: a [`Worker`] does one round at a time (`run_once(now)`, which says
//! whether there is more or when it is next due), and one shared [`Runner`] drives every worker —
//! it sleeps until a worker is due or woken, backs off after errors, paces busy workers, stops them
//! gracefully and publishes each one's status. Tests drive workers by calling `run_once` with a
//! `ManualClock`'s time, never by sleeping.
//!
//! Modules, in reading order: [`worker`] (the trait), [`runner`] (the loop), [`every`] (a task on
//! a fixed interval), [`woken`] (a task run when woken, while it finds work), [`queue`] (durable jobs from `siyu_domain::jobs`: claimed under a lease,
//! retried with backoff, buried with the reason), [`send`] (messages sent through a channel adapter as
//! durable jobs: the dead letters are the buried ones), [`journeys`] (the journeys' step worker:
//! due entries claimed under a lease and run).

pub mod every;
pub mod journeys;
pub mod queue;
pub mod runner;
pub mod send;
pub mod woken;
pub mod worker;

pub use every::Every;
pub use queue::{Failure, Handler, JobWorker};
pub use runner::{Runner, Wake};
pub use woken::OnWake;
pub use worker::{Backlog, Outcome, WorkError, Worker, Yielding};
