//! Messages sent as durable jobs: a job of kind [`SEND_KIND`] names one queued message by its
//! idempotency key (the message's templates and data are sealed in its row, never in the job);
//! [`SendHandler`] runs [`Messaging::deliver`], which holds it to the guardrails and makes one
//! attempt through the channel's adapter. Accepted, blocked or recorded completes the job; a
//! retryable failure retries it with back-off (no sooner than the provider's `Retry-After`);
//! quiet hours put it off to the minute they end; a refusal buries it with the reason (the dead
//! letters).
//!
//! Delivery to the provider is at least once: a process that stops after the provider accepted a
//! message and before it was recorded sends it again once the lease ends, under the same
//! idempotency key, which the adapter passes on (the webhook's `Idempotency-Key`) so that the
//! receiver sees it once. A message recorded as sent is never sent again.

use crate::queue::{Failure, Handler};
use async_trait::async_trait;
use jiff::SignedDuration;
use siyu_domain::channels::messaging::{Attempt, Messaging};
use siyu_domain::jobs::Job;

pub use siyu_domain::channels::messaging::{SEND_ATTEMPTS, SEND_KIND};

/// What a send job holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendPayload {
    /// The message's idempotency key.
    pub key: String,
}

/// Runs send jobs.
pub struct SendHandler {
    messaging: Messaging,
}

impl SendHandler {
    /// Sends through `messaging`'s configured channels.
    pub fn new(messaging: Messaging) -> Self {
        Self { messaging }
    }
}

#[async_trait]
impl Handler for SendHandler {
    async fn handle(&self, job: &Job) -> Result<(), Failure> {
        let payload: SendPayload = serde_json::from_str(&job.payload)
            .map_err(|e| Failure::Permanent(format!("the send job's payload is unreadable: {e}")))?;
        let last = job.attempts >= job.max_attempts;
        match self.messaging.deliver(job.workspace_id, &payload.key, last).await {
            Ok(Attempt::Done) => Ok(()),
            Ok(Attempt::Retry { reason, after: Some(after) }) => {
                Err(Failure::RetryAfter(reason, SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX)))
            }
            Ok(Attempt::Retry { reason, after: None }) => Err(Failure::Retry(reason)),
            Ok(Attempt::Defer { until }) => {
                Err(Failure::At(format!("waits until {until} (quiet hours or the channel's rate)"), until))
            }
            Ok(Attempt::Failed { reason }) => Err(Failure::Permanent(reason)),
            Err(error) => Err(Failure::Retry(error.to_string())),
        }
    }
}
