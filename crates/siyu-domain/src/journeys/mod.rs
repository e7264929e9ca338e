//! Journeys: automated paths customers take — a trigger enters them, waits hold them, branches and
//! splits route them, actions send messages, tag them, set traits and hand them to agents — each
//! a versioned graph ([`definition`]) checked as a whole when it is published.
//!
//! A customer's place on a journey is an entry ([`store`]): its node and, while it waits, when it
//! runs next, so the entries are the journey's timers and live in the database (a restart loses
//! none, several processes share them: the step worker claims due entries under a lease, `FOR
//! UPDATE SKIP LOCKED` on PostgreSQL). [`engine`] runs a claimed entry from its node to the next
//! wait or the end, and writes what it did in one transaction — the entry's new place, the
//! messages its send nodes made (with their send jobs), agent tasks, counts — so a step is never
//! half applied; each message's idempotency key is derived from the journey, version, node and
//! entry, so a step run again after a crash queues nothing twice.
//!
//! Triggers hear appended events on the events' feed (an event trigger, `Segment Entered`/
//! `Exited` for segment triggers, the goal event for conversions) and enter customers by the
//! triggering event's id, so the same event enters a customer once; [`position`] keeps their
//! durable position in the event log and reads the log again from it after a crash. Broadcasts and anniversaries
//! are fired by [`schedule`] at their occurrences, each occurrence entering a customer once. A cohort
//! entered at once starts in [`pace`]d slots, so that its waits end no faster than the step worker
//! ends them.

pub mod definition;
pub mod engine;
pub mod pace;
mod personal_data;
pub mod position;
pub mod schedule;
pub mod service;
pub mod store;

pub use definition::{Condition, Definition, Node, Reentry, Trigger};
pub use service::{JourneyInput, JourneyView, Journeys};
