//! Group commit for profile writes. Concurrent writes of one workspace (the Tracking API's
//! requests from new senders, an import, API upserts) queue up and are committed together, one
//! transaction for all of them, as the event log groups its fsyncs: new profiles' identities are
//! keyed by a blind index, random by design, so a transaction dirties about a page per identity,
//! and one transaction for several requests' profiles dirties and syncs each page once.
//!
//! The commit runs in a task of its own, so a caller that goes away (a client that hung up) never
//! abandons the others' writes half-way; each caller gets its own drafts' outcomes, and a group
//! that fails is retried caller by caller, so one caller's failure is never another's.

use super::{Customers, SealedDraft, UpsertOutcome};
use crate::error::{DomainError, DomainResult};
use siyu_core::{StoreError, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Drafts committed in one grouped transaction at most (a caller's batch is never split).
const MAX_GROUP_DRAFTS: usize = 20_000;

type Reply = oneshot::Sender<Result<Vec<UpsertOutcome>, StoreError>>;

/// The write queues, one per workspace.
#[derive(Default)]
pub(crate) struct WriteGroups {
    workspaces: Mutex<HashMap<WorkspaceId, Arc<WriteGroup>>>,
}

#[derive(Default)]
struct WriteGroup {
    /// Callers' drafts waiting for a commit, in arrival order.
    waiting: Mutex<Vec<(Vec<SealedDraft>, Reply)>>,
    /// Held by the task committing; the next one takes everything that queued meanwhile.
    writer: tokio::sync::Mutex<()>,
}

impl WriteGroups {
    fn group(&self, ws: WorkspaceId) -> Arc<WriteGroup> {
        let mut all = self.workspaces.lock().expect("write group lock is never poisoned");
        all.entry(ws).or_default().clone()
    }
}

impl Customers {
    /// Upserts sealed drafts, in one transaction with whatever other writes of the workspace are
    /// waiting; publishes the outcomes on the feed once committed.
    pub(super) async fn upsert_grouped(
        &self,
        ws: WorkspaceId,
        drafts: Vec<SealedDraft>,
    ) -> DomainResult<Vec<UpsertOutcome>> {
        let group = self.write_groups.group(ws);
        let (reply, answer) = oneshot::channel();
        group.waiting.lock().expect("write queue lock is never poisoned").push((drafts, reply));
        let this = self.clone();
        tokio::spawn(async move { this.commit_waiting(ws, &group).await });
        match answer.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(DomainError::internal("the profile write was abandoned by its commit task")),
        }
    }

    /// Commits every waiting write, a group at a time, and answers each caller.
    async fn commit_waiting(&self, ws: WorkspaceId, group: &WriteGroup) {
        let _writer = group.writer.lock().await;
        loop {
            let taken: Vec<(Vec<SealedDraft>, Reply)> = {
                let mut waiting = group.waiting.lock().expect("write queue lock is never poisoned");
                let mut drafts = 0;
                let count = waiting
                    .iter()
                    .take_while(|(batch, _)| {
                        let first = drafts == 0;
                        drafts += batch.len();
                        first || drafts <= MAX_GROUP_DRAFTS
                    })
                    .count();
                waiting.drain(..count).collect()
            };
            if taken.is_empty() {
                return;
            }
            let now = self.access.now();
            let mut lengths = Vec::with_capacity(taken.len());
            let mut replies = Vec::with_capacity(taken.len());
            let mut all = Vec::new();
            for (drafts, reply) in taken {
                lengths.push(drafts.len());
                all.extend(drafts);
                replies.push(reply);
            }
            match self.stores.customers.upsert(ws, &all, now).await {
                Ok(outcomes) => {
                    self.publish_upserts(ws, &outcomes);
                    let mut outcomes = outcomes.into_iter();
                    for (length, reply) in lengths.into_iter().zip(replies) {
                        let _ = reply.send(Ok(outcomes.by_ref().take(length).collect()));
                    }
                }
                Err(error) if replies.len() == 1 => {
                    let _ = replies.pop().expect("one reply").send(Err(error));
                }
                Err(_) => {
                    // Nothing was written; each caller's drafts go alone, so a failure is its own.
                    let mut start = 0;
                    for (length, reply) in lengths.into_iter().zip(replies) {
                        let part = &all[start..start + length];
                        start += length;
                        let result = self.stores.customers.upsert(ws, part, now).await;
                        if let Ok(outcomes) = &result {
                            self.publish_upserts(ws, outcomes);
                        }
                        let _ = reply.send(result);
                    }
                }
            }
        }
    }
}
