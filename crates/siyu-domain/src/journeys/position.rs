//! The triggers' durable position in the event log, so that no trigger is lost across a crash.
//!
//! Triggers, goals and event waits hear appended events on the in-memory feed. Each workspace
//! with active journeys also keeps a position in its event log (`journey_positions`): the
//! `journeys.position` worker saves, every few seconds, the log's checkpoint it read on its
//! previous round, or an older one — every event before it was published to the feed by then, and
//! the save waits until the hits queued by then are applied (the entry worker paces them) — and at start (or when hits were dropped because too many waited) reads the
//! log from the saved position and applies what those events hit. Entries are keyed by the
//! triggering event, so an event heard twice — on the feed and again from the log — enters a
//! customer once; an event is only a trigger for a journey that was active when it arrived.

use super::service::{Heard, Journeys, Read, hits_of, trigger_key};

/// The most checkpoints a workspace keeps waiting for their hits to be applied (a newer one is not
/// kept meanwhile: an older one is saved instead, and a crash reads a little more of the log).
const MAX_READY: usize = 64;
use crate::error::DomainResult;
use siyu_core::WorkspaceId;

impl Journeys {
    /// Reads the events appended since the workspace's saved position and applies what they hit
    /// (the first time, only notes the log's end); saves the position after them. Returns how many
    /// events were read.
    pub async fn replay(&self, ws: WorkspaceId) -> DomainResult<u64> {
        let now = self.access.now();
        let Some(from) = self.store.trigger_position(ws).await? else {
            let end = self.events.log_checkpoint(ws).await?;
            self.store.set_trigger_position(ws, &end, now).await?;
            return Ok(0);
        };
        let live = self.live.lock().expect("live journeys").get(&ws).cloned().unwrap_or_default();
        let mut hits = Vec::new();
        let mut read = 0u64;
        let after = self
            .events
            .read_log_since(ws, &from, &mut |event| {
                read += 1;
                let arrived = event.received_us;
                // A journey hears only the events that arrived while it was active.
                let active = live.iter().filter(|j| j.since.as_microsecond() <= arrived);
                let heard = Heard { customer: event.customer, name: event.name, properties: event.properties };
                hits_of(active, &heard, || trigger_key(event.message_id, event.name, event.ts_us), &mut hits);
            })
            .await?;
        if !hits.is_empty() {
            tracing::info!(
                workspace = ws.0,
                events = read,
                hits = hits.len(),
                "journey triggers replayed from the log"
            );
            self.apply(hits.into_iter().map(|hit| (ws, hit)).collect()).await?;
        }
        self.store.set_trigger_position(ws, &after, now).await?;
        Ok(read)
    }

    /// The position worker's round: replays the workspaces that need it (the first round after
    /// start, those whose hits were dropped), then saves for each workspace with active journeys
    /// the newest checkpoint read on an earlier round whose hits the entry worker has applied, and
    /// reads the next.
    pub async fn save_positions(&self) -> DomainResult<()> {
        let workspaces: Vec<WorkspaceId> = self
            .live
            .lock()
            .expect("live journeys")
            .iter()
            .filter(|(_, live)| !live.is_empty())
            .map(|(ws, _)| *ws)
            .collect();
        let replay: Vec<WorkspaceId> = {
            let mut positions = self.positions.lock().expect("positions");
            workspaces
                .iter()
                .copied()
                .filter(|ws| !positions.read.contains_key(ws) || positions.replay.remove(ws))
                .collect()
        };
        for ws in &replay {
            self.replay(*ws).await?;
        }
        // The entry worker applies hits at its own pace (it gives way to due timers): a checkpoint
        // is saved once the hits queued before it are applied, not before.
        let (queued, applied) = {
            let pending = self.pending.lock().expect("pending hits");
            (pending.queued, pending.applied)
        };
        let now = self.access.now();
        for ws in workspaces {
            let current = self.events.log_checkpoint(ws).await?;
            let save = {
                let mut positions = self.positions.lock().expect("positions");
                match positions.read.get_mut(&ws) {
                    None => {
                        positions.read.insert(ws, Read { last: current, ready: Default::default() });
                        None
                    }
                    Some(read) => {
                        // Every event before the last round's checkpoint has been heard by now.
                        let last = std::mem::replace(&mut read.last, current);
                        if read.ready.len() < MAX_READY {
                            read.ready.push_back((last, queued));
                        }
                        let mut save = None;
                        while read.ready.front().is_some_and(|(_, needed)| *needed <= applied) {
                            save = read.ready.pop_front().map(|(checkpoint, _)| checkpoint);
                        }
                        save
                    }
                }
            };
            if let Some(checkpoint) = save
                && !replay.contains(&ws)
            {
                self.store.set_trigger_position(ws, &checkpoint, now).await?;
            }
        }
        Ok(())
    }
}
