//! The triggers' durable position in the event log, so that no trigger is lost across a crash.
//!
//! Triggers, goals and event waits hear appended events on the in-memory feed. Each workspace
//! with active journeys also keeps a position in its event log (`journey_positions`): the
//! `journeys.position` worker saves, every few seconds, the log's checkpoint it read on its
//! previous round — every event before it was published to the feed by then and its hits applied
//! before the save — and at start (or when hits were dropped because too many waited) reads the
//! log from the saved position and applies what those events hit. Entries are keyed by the
//! triggering event, so an event heard twice — on the feed and again from the log — enters a
//! customer once; an event is only a trigger for a journey that was active when it arrived.

use super::service::{Heard, Journeys, hits_of, trigger_key};
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
    /// start, those whose hits were dropped), applies the waiting hits, then saves for each
    /// workspace with active journeys the checkpoint read on the previous round and reads the next.
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
        self.apply_hits().await?;
        let now = self.access.now();
        for ws in workspaces {
            let current = self.events.log_checkpoint(ws).await?;
            let previous = self.positions.lock().expect("positions").read.insert(ws, current);
            if let Some(previous) = previous
                && !replay.contains(&ws)
            {
                self.store.set_trigger_position(ws, &previous, now).await?;
            }
        }
        Ok(())
    }
}
