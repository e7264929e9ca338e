//! Use cases of behavioural events: resolving senders to customers, appending to the durable log,
//! and building the analytics index from it.

use super::Services;
use crate::access::{Permission, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::{EventIndex, EventKind, NewEvent, order_cents};
use crate::profiles::{CustomerInput, IdentityInput};
use siyu_analytics::{EventColumnsBuilder, RawEvent};
use siyu_core::CustomerId;
use std::collections::HashMap;

/// Profiles created per write transaction when senders are resolved in bulk.
const RESOLVE_CHUNK: usize = 5_000;

impl Services {
    /// Returns the customer of each Segment `userId`, creating a profile for each one not seen before.
    pub async fn customers_for_user_ids(
        &self,
        principal: &Principal,
        user_ids: &[String],
    ) -> DomainResult<Vec<CustomerId>> {
        principal.require(Permission::EventsWrite)?;
        let writer = Principal { role: crate::access::Role::Owner, ..principal.clone() };
        let mut ids = Vec::with_capacity(user_ids.len());
        for chunk in user_ids.chunks(RESOLVE_CHUNK) {
            let inputs = chunk
                .iter()
                .map(|value| CustomerInput {
                    identities: vec![IdentityInput { kind: "user_id".into(), value: value.clone() }],
                    traits: Default::default(),
                    tags: Vec::new(),
                    source: Some("events".into()),
                })
                .collect();
            for (value, result) in chunk.iter().zip(self.upsert_customers(&writer, inputs, "events", "").await?) {
                match result {
                    Ok(done) => ids.push(done.id),
                    Err(errors) => {
                        let reason = errors.first().map_or_else(String::new, |e| e.reason.clone());
                        return Err(DomainError::Invalid(vec![crate::FieldError::new(
                            "userId",
                            format!("\"{value}\": {reason}"),
                        )]));
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Appends events to the workspace's log; returns once they are durable.
    pub async fn append_events(&self, principal: &Principal, events: &[NewEvent]) -> DomainResult<()> {
        principal.require(Permission::EventsWrite)?;
        Ok(self.stores.events.append(principal.workspace_id, events).await?)
    }

    /// Builds the workspace's analytics index from its whole log; events of merged-away profiles
    /// count for the profile they were merged into.
    pub async fn event_index(&self, principal: &Principal) -> DomainResult<EventIndex> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id;
        let merged: HashMap<i64, i64> =
            self.stores.profiles.merged_customers(ws).await?.into_iter().map(|(from, to)| (from.0, to.0)).collect();
        let mut index = EventIndex::default();
        let mut builder = EventColumnsBuilder::default();
        let mut unnamed = 0u64;
        self.stores
            .events
            .scan(ws, &mut |event| {
                if !matches!(event.kind, EventKind::Track | EventKind::Page | EventKind::Screen) {
                    return;
                }
                let Some(name) = index.names.intern(event.name) else {
                    unnamed += 1;
                    return;
                };
                let customer = merged.get(&event.customer.0).copied().unwrap_or(event.customer.0);
                builder.push(RawEvent {
                    customer,
                    ts_us: event.ts_us,
                    event: name,
                    order_cents: order_cents(event.name, event.properties),
                });
            })
            .await?;
        index.unindexed_events = unnamed;
        index.columns = builder.build();
        Ok(index)
    }
}
