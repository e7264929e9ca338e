//! Messages sent as durable jobs: a job of kind [`SEND_KIND`] holds one rendered message and the
//! name of the channel to send it on, keyed by the message's idempotency key — so scheduling the
//! same message twice gives one job. Its handler makes one attempt through the channel's adapter:
//! accepted completes the job, a retryable failure retries it with back-off (no sooner than the
//! provider's `Retry-After`), a rejection buries it with the reason (the dead letters).
//!
//! Delivery to the provider is at least once: a process that stops after the provider accepted a
//! message and before its job was completed (jobs of a batch are completed together) sends it
//! again once the lease ends, under the same idempotency key, which the adapter passes on (the
//! webhook's `Idempotency-Key`) so that the receiver sees it once.

use crate::queue::{Failure, Handler};
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use siyu_domain::channels::{ChannelAdapter, Delivery, OutgoingMessage};
use siyu_domain::jobs::{Job, NewJob};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The kind of a send job.
pub const SEND_KIND: &str = "channels.send";
/// Attempts a message gets before it is buried (with back-off from 10 s doubling to an hour, about
/// a day).
pub const SEND_ATTEMPTS: u32 = 30;

/// What a send job holds.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SendPayload {
    /// The channel's name, as the handler's adapters are keyed.
    pub channel: String,
    /// The message.
    pub message: OutgoingMessage,
}

/// Returns the job that sends `message` on `channel` at `at`.
pub fn send_job(channel: &str, message: &OutgoingMessage, at: Timestamp) -> NewJob {
    let payload = SendPayload { channel: channel.to_string(), message: message.clone() };
    NewJob {
        kind: SEND_KIND.into(),
        key: message.idempotency_key.clone(),
        payload: serde_json::to_string(&payload).expect("a payload always serializes"),
        run_at: at,
        max_attempts: SEND_ATTEMPTS,
    }
}

/// Runs send jobs through the adapters it knows, by channel name.
#[derive(Default)]
pub struct SendHandler {
    adapters: BTreeMap<String, Arc<dyn ChannelAdapter>>,
}

impl SendHandler {
    /// Sends on `name` through `adapter`.
    pub fn with(mut self, name: impl Into<String>, adapter: Arc<dyn ChannelAdapter>) -> Self {
        self.adapters.insert(name.into(), adapter);
        self
    }
}

#[async_trait]
impl Handler for SendHandler {
    async fn handle(&self, job: &Job) -> Result<(), Failure> {
        let payload: SendPayload = serde_json::from_str(&job.payload)
            .map_err(|e| Failure::Permanent(format!("the send job's payload is unreadable: {e}")))?;
        // A message names its workspace twice (the job's and its own); a mismatch is never sent.
        if payload.message.workspace != job.workspace_id {
            return Err(Failure::Permanent(format!(
                "the message belongs to workspace {}, not to the job's workspace {}",
                payload.message.workspace, job.workspace_id
            )));
        }
        let adapter = self
            .adapters
            .get(&payload.channel)
            .ok_or_else(|| Failure::Permanent(format!("no channel \"{}\" is configured", payload.channel)))?;
        match adapter.send(&payload.message).await {
            Delivery::Accepted { .. } => Ok(()),
            Delivery::Retry { reason, after: Some(after) } => {
                Err(Failure::RetryAfter(reason, SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX)))
            }
            Delivery::Retry { reason, after: None } => Err(Failure::Retry(reason)),
            Delivery::Rejected { reason } => Err(Failure::Permanent(reason)),
        }
    }
}
