//! Runs journeys: claims due entries (under a lease, so several processes share them) and runs
//! each from its node to the next wait or the end, then writes the whole batch in one transaction
//! — entries moved on, the messages their send nodes made with their send jobs, agent tasks,
//! counts. A batch whose lease was lost writes nothing (another process runs it again); a batch
//! cut short by a crash runs again from where its entries were, and since every message's key is
//! derived from the journey, version, node and entry, and tags and traits set twice are set once,
//! nothing reaches a customer twice.

use super::definition::{Arm, Condition, Definition, Node, WEEKDAYS, parse_duration};
use super::service::{JOURNEY_ARM_ASSIGNED, Journeys};
use super::store::{Advance, EntryState, EntryUpdate, NewTask, StoredEntry};
use crate::access::Principal;
use crate::channels::guardrails::MessageClass;
use crate::channels::messaging::MessageRequest;
use crate::customers::consent::{Purpose, current_state};
use crate::customers::{CustomerInput, CustomerView};
use crate::error::{DomainError, DomainResult};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use roaring::RoaringTreemap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use siyu_core::{CustomerId, WorkspaceId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How long a claimed batch is held before another process may take it.
pub const LEASE: SignedDuration = SignedDuration::from_secs(120);
/// The most nodes one entry runs in one claim (a graph's cycles all wait, so this is a guard).
pub(crate) const MAX_STEPS: usize = 64;

/// What a round of the step worker did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// Entries claimed.
    pub claimed: usize,
    /// Nodes run.
    pub executions: usize,
    /// How late the latest of the claimed entries was (zero when none was).
    pub late: SignedDuration,
}

/// The next instant at local `time` (`HH:MM`) on one of `days` (any day when empty) after `now`.
pub fn next_local_time(now: Timestamp, time: &str, days: &[String], tz: &TimeZone) -> Timestamp {
    let Some((h, m)) = time.split_once(':').and_then(|(h, m)| Some((h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)))
    else {
        return now;
    };
    let Ok(at) = jiff::civil::Time::new(h, m, 0, 0) else { return now };
    let today = now.to_zoned(tz.clone()).date();
    for offset in 0..15 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else { break };
        let weekday = WEEKDAYS[usize::from(date.weekday().to_monday_zero_offset() as u8)];
        if !days.is_empty() && !days.iter().any(|d| d == weekday) {
            continue;
        }
        if let Ok(zoned) = date.to_datetime(at).to_zoned(tz.clone())
            && zoned.timestamp() > now
        {
            return zoned.timestamp();
        }
    }
    now
}

/// The key an action of an entry gives under: the journey, its version, the node and the entry, so
/// the step run again after a crash gives nothing twice.
fn grant_key(entry: &StoredEntry, node: &str) -> String {
    format!("journey:{}:{}:{node}:{}", entry.journey_id, entry.version, entry.id)
}

/// The split arm a customer takes: the same for a customer of a journey's node every time.
pub fn pick_arm<'a>(journey: i64, node: &str, customer: CustomerId, arms: &'a [Arm]) -> Option<&'a Arm> {
    let digest = Sha256::digest(format!("{journey}:{node}:{}", customer.0).as_bytes());
    let point = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) % 100;
    let mut upper = 0;
    for arm in arms {
        upper += u64::from(arm.percent);
        if point < upper {
            return Some(arm);
        }
    }
    arms.last()
}

/// What one customer's conditions read, loaded once per batch.
struct Facts {
    view: CustomerView,
    consent: Vec<crate::customers::consent::ConsentRecord>,
}

/// A batch's memo of what conditions need.
#[derive(Default)]
struct Memo {
    segments: HashMap<String, RoaringTreemap>,
    customers: HashMap<CustomerId, Option<Arc<Facts>>>,
}

fn compare(value: &Value, op: &str, wanted: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (value, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        "eq" => value == wanted,
        "ne" => value != wanted,
        "gt" => order == Some(Ordering::Greater),
        "gte" => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        "lt" => order == Some(Ordering::Less),
        "lte" => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        _ => false,
    }
}

/// The message a send or webhook node queues for an entry, keyed by journey, version, node and
/// entry (so a step run again queues it once).
fn node_message(
    entry: &StoredEntry,
    node_id: &str,
    node: &Node,
    channel: &str,
    class: MessageClass,
    now: Timestamp,
) -> MessageRequest {
    MessageRequest {
        key: format!("journey:{}:v{}:{}:{}", entry.journey_id, entry.version, node_id, entry.id),
        channel: channel.to_string(),
        customer: entry.customer,
        class,
        content: node.content().unwrap_or_default(),
        source: json!({"journey": entry.journey_id, "version": entry.version, "node": node_id, "entry": entry.id}),
        at: now,
    }
}

impl Journeys {
    /// One round of the step worker: claims up to `limit` due entries as `owner` and runs them.
    pub async fn run_due(&self, owner: &str, now: Timestamp, limit: usize) -> DomainResult<Round> {
        let until = now.checked_add(LEASE).unwrap_or(Timestamp::MAX);
        let started = std::time::Instant::now();
        let claimed = self.store.claim_entries(owner, now, until, limit).await?;
        let claim_ms = started.elapsed().as_millis();
        let late =
            claimed.iter().map(|e| now.duration_since(e.due_at)).max().unwrap_or_default().max(SignedDuration::ZERO);
        let mut round = Round { claimed: claimed.len(), executions: 0, late };
        let mut by_workspace: BTreeMap<WorkspaceId, Vec<StoredEntry>> = BTreeMap::new();
        for entry in claimed {
            by_workspace.entry(entry.workspace_id).or_default().push(entry);
        }
        for (ws, entries) in by_workspace {
            round.executions += self.run_workspace(ws, owner, entries, now).await?;
        }
        self.pace.observe(round.claimed, round.executions, started.elapsed(), round.late);
        if round.claimed > 0 {
            tracing::debug!(
                claimed = round.claimed,
                executions = round.executions,
                claim_ms,
                late_ms = round.late.as_millis(),
                round_ms = started.elapsed().as_millis(),
                "journey round"
            );
        }
        Ok(round)
    }

    /// When the next entry is due (for the step worker's sleep).
    pub async fn next_due(&self) -> DomainResult<Option<Timestamp>> {
        Ok(self.store.next_entry_due().await?)
    }

    async fn facts(&self, ws: WorkspaceId, customer: CustomerId, memo: &mut Memo) -> DomainResult<Option<Arc<Facts>>> {
        if let Some(found) = memo.customers.get(&customer) {
            return Ok(found.clone());
        }
        let facts = match self.customers.stores.customers.find(ws, customer).await? {
            Some(stored) => {
                let key = self.access.data_key(ws).await?;
                let view = self.customers.open_customer(&key, stored, true)?;
                let consent = current_state(&self.customers.stores.consent.history(ws, customer).await?);
                Some(Arc::new(Facts { view, consent }))
            }
            None => None,
        };
        memo.customers.insert(customer, facts.clone());
        Ok(facts)
    }

    /// Whether the condition holds for the customer now (iteratively deep only to the checked
    /// limit of nesting).
    fn holds<'a>(
        &'a self,
        ws: WorkspaceId,
        condition: &'a Condition,
        customer: CustomerId,
        memo: &'a mut Memo,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = DomainResult<bool>> + Send + 'a>> {
        Box::pin(async move {
            Ok(match condition {
                Condition::All(items) => {
                    for item in items {
                        if !self.holds(ws, item, customer, memo).await? {
                            return Ok(false);
                        }
                    }
                    true
                }
                Condition::Any(items) => {
                    for item in items {
                        if self.holds(ws, item, customer, memo).await? {
                            return Ok(true);
                        }
                    }
                    false
                }
                Condition::Not(inner) => !self.holds(ws, inner, customer, memo).await?,
                Condition::Segment(key) => {
                    if !memo.segments.contains_key(key) {
                        let members = self.segments.members_now(ws, key).await.or_else(|e| match e {
                            DomainError::NotFound(_) => Ok(RoaringTreemap::new()),
                            other => Err(other),
                        })?;
                        memo.segments.insert(key.clone(), members);
                    }
                    memo.segments[key].contains(customer.0 as u64)
                }
                Condition::Tag(tag) => match self.facts(ws, customer, memo).await? {
                    Some(facts) => facts.view.tags.iter().any(|t| t.name == *tag),
                    None => false,
                },
                Condition::Consent(channel) => match self.facts(ws, customer, memo).await? {
                    Some(facts) => facts
                        .consent
                        .iter()
                        .any(|r| r.purpose == Purpose::Marketing && r.channel.as_str() == channel && r.granted),
                    None => false,
                },
                Condition::Trait(test) => match self.facts(ws, customer, memo).await? {
                    Some(facts) => match facts.view.traits.get(&test.key) {
                        Some(found) => test.op == "exists" || compare(&found.value, &test.op, &test.value),
                        None => false,
                    },
                    None => false,
                },
            })
        })
    }

    /// Runs one workspace's claimed entries and writes what they did; returns the nodes run.
    async fn run_workspace(
        &self,
        ws: WorkspaceId,
        owner: &str,
        entries: Vec<StoredEntry>,
        now: Timestamp,
    ) -> DomainResult<usize> {
        let tz = self.access.time_zone(ws).await?;
        let automation = Principal::automation(ws);
        let mut memo = Memo::default();
        let mut advance = Advance::default();
        let mut requests = Vec::new();
        let mut arm_events = Vec::new();
        let mut counts: HashMap<(i64, i64, String, &'static str), i64> = HashMap::new();
        let mut executions = 0;
        let mut lateness = Vec::new();
        for entry in entries {
            if entry.waiting {
                lateness.push(now.duration_since(entry.due_at).as_micros().max(0) as i64);
            }
            let definition: Arc<Definition> = self.definition(ws, entry.journey_id, entry.version).await?;
            let (mut node_id, mut waiting, mut arm) = (entry.node.clone(), entry.waiting, entry.arm.clone());
            let (mut state, mut due) = (EntryState::Active, now);
            let mut count = |node: &str, outcome: &'static str| {
                *counts.entry((entry.journey_id, entry.version, node.to_string(), outcome)).or_default() += 1;
            };
            let mut steps = 0;
            loop {
                if steps == MAX_STEPS {
                    // Runs on at the next round (a guard: every cycle of a published graph waits).
                    break;
                }
                steps += 1;
                let Some(node) = definition.nodes.get(&node_id) else {
                    state = EntryState::Done;
                    break;
                };
                executions += 1;
                if !waiting {
                    count(&node_id, "entered");
                }
                let next: Option<String> = match node {
                    Node::Wait { duration, next } => {
                        if waiting {
                            waiting = false;
                            next.clone()
                        } else {
                            let wait = parse_duration(duration).unwrap_or(SignedDuration::ZERO);
                            due = now.checked_add(wait).unwrap_or(Timestamp::MAX);
                            waiting = true;
                            break;
                        }
                    }
                    Node::WaitUntil { time, days, next } => {
                        if waiting {
                            waiting = false;
                            next.clone()
                        } else {
                            due = next_local_time(now, time, days, &tz);
                            waiting = true;
                            break;
                        }
                    }
                    Node::WaitForEvent { timeout, next, timeout_next, .. } => {
                        if waiting {
                            waiting = false;
                            if entry.event_seen {
                                next.clone()
                            } else {
                                count(&node_id, "timed_out");
                                timeout_next.clone()
                            }
                        } else {
                            let wait = parse_duration(timeout).unwrap_or(SignedDuration::ZERO);
                            due = now.checked_add(wait).unwrap_or(Timestamp::MAX);
                            waiting = true;
                            break;
                        }
                    }
                    Node::Branch { condition, yes, no } => {
                        let holds = self.holds(ws, condition, entry.customer, &mut memo).await?;
                        Some(if holds { yes.clone() } else { no.clone() })
                    }
                    Node::Split { arms } => match pick_arm(entry.journey_id, &node_id, entry.customer, arms) {
                        Some(chosen) => {
                            arm = Some(chosen.name.clone());
                            let properties = json!({
                                "journey": entry.journey_id, "version": entry.version, "node": node_id, "arm": chosen.name,
                            });
                            arm_events.push(self.event(entry.customer, JOURNEY_ARM_ASSIGNED, properties.to_string()));
                            chosen.next.clone()
                        }
                        None => None,
                    },
                    Node::Send { channel, class, next, .. } => {
                        requests.push(node_message(&entry, &node_id, node, channel, *class, now));
                        next.clone()
                    }
                    Node::Webhook { channel, next, .. } => {
                        // A call to a system, not a message to the customer: no guardrail holds it.
                        requests.push(node_message(&entry, &node_id, node, channel, MessageClass::Transactional, now));
                        next.clone()
                    }
                    Node::AddTag { tag, next } => {
                        self.customers.add_tags(&automation, entry.customer, std::slice::from_ref(tag), "rule").await?;
                        next.clone()
                    }
                    Node::RemoveTag { tag, next } => {
                        match self.customers.remove_tag(&automation, entry.customer, tag).await {
                            Ok(()) | Err(DomainError::NotFound(_)) => {}
                            Err(other) => return Err(other),
                        }
                        next.clone()
                    }
                    Node::SetTrait { key, value, next } => {
                        let input: CustomerInput =
                            serde_json::from_value(json!({"traits": {key.as_str(): value}, "source": "journey"}))
                                .map_err(|e| DomainError::internal(e.to_string()))?;
                        match self.customers.update_customer(&automation, entry.customer, input).await {
                            Ok(_) | Err(DomainError::NotFound(_)) => {}
                            // A value the trait's rule refuses is the definition's fault: the
                            // journey goes on.
                            Err(DomainError::Invalid(errors)) => {
                                tracing::warn!(journey = entry.journey_id, node = %node_id, ?errors, "trait not set");
                            }
                            Err(other) => return Err(other),
                        }
                        next.clone()
                    }
                    Node::IssueCoupon { coupon_template, next } => {
                        let key = grant_key(&entry, &node_id);
                        match self.campaigns.issue_for_journey(ws, *coupon_template, entry.customer, key).await {
                            Ok(_) => {}
                            // The customer was erased or merged away meanwhile: nothing to give.
                            Err(DomainError::NotFound(_)) => {}
                            Err(DomainError::Campaigns(refusal)) => {
                                tracing::info!(journey = entry.journey_id, node = %node_id, %refusal, "no coupon given");
                                count(&node_id, "refused");
                            }
                            Err(other) => return Err(other),
                        }
                        next.clone()
                    }
                    Node::GrantLotteryChance { lottery, chances, next } => {
                        let key = grant_key(&entry, &node_id);
                        match self
                            .campaigns
                            .grant_chances_for_journey(ws, *lottery, entry.customer, *chances, &key)
                            .await
                        {
                            Ok(_) | Err(DomainError::NotFound(_)) => {}
                            Err(other) => return Err(other),
                        }
                        next.clone()
                    }
                    Node::Task { reason, next } => {
                        advance.tasks.push(NewTask {
                            customer: entry.customer,
                            journey_id: entry.journey_id,
                            entry_id: entry.id,
                            node: node_id.clone(),
                            reason: reason.clone(),
                        });
                        next.clone()
                    }
                    Node::Exit {} => None,
                };
                count(&node_id, "passed");
                match next {
                    Some(next) => node_id = next,
                    None => {
                        state = EntryState::Done;
                        break;
                    }
                }
            }
            advance.entries.push(EntryUpdate { id: entry.id, node: node_id, waiting, state, due_at: due, arm });
        }
        if !requests.is_empty() {
            let key = self.access.data_key(ws).await?;
            advance.messages = self.messaging.prepare(&key, &requests)?;
        }
        // Staff hear of each new task on the workspace's staff channel, written with the task.
        for task in &advance.tasks {
            let (id, journey, reason) = (task.customer.0, task.journey_id, &task.reason);
            let link =
                self.messaging.console_url(&format!("/customers/{id}")).map(|u| format!("\n{u}")).unwrap_or_default();
            let text = format!(
                "【siyu】新的跟进任务：{reason}（客户 #{id}，旅程 #{journey}）\n\
                 New follow-up task: {reason} (customer #{id}, journey #{journey}){link}"
            );
            let key = format!("staff:task:{}:{}", task.entry_id, task.node);
            // Not `journey`/`node`: those would count the notice among the journey's messages.
            let source = json!({"notice": "task", "entry": task.entry_id});
            if let Some(notice) = self.messaging.staff_notice(ws, key, text, source).await? {
                advance.messages.push(notice);
            }
        }
        advance.counts = counts.into_iter().map(|((j, v, node, outcome), n)| (j, v, node, outcome, n)).collect();
        // Counter rows are shared by every batch of the journey: written in one order, two
        // processes' batches wait for each other instead of deadlocking.
        advance.counts.sort();
        let writing = std::time::Instant::now();
        let written = self.store.advance(ws, owner, &advance, now).await;
        tracing::debug!(
            entries = advance.entries.len(),
            messages = advance.messages.len(),
            write_ms = writing.elapsed().as_millis(),
            "journey round written"
        );
        match written {
            Ok(()) => {}
            Err(siyu_core::StoreError::Conflict(reason)) => {
                // Another process took the batch over after the lease ended: it runs it again.
                tracing::warn!(%reason, "journey batch not written: its lease was lost");
                return Ok(0);
            }
            Err(other) => return Err(other.into()),
        }
        self.probe.executions.fetch_add(executions as u64, std::sync::atomic::Ordering::Relaxed);
        self.probe.late(&lateness);
        if !advance.messages.is_empty() {
            self.messaging.queued();
        }
        if !arm_events.is_empty() {
            self.events.append_and_index(ws, &arm_events).await?;
        }
        Ok(executions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_is_the_next_one_on_an_allowed_day() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let at = |t: &str| t.parse::<jiff::civil::DateTime>().unwrap().to_zoned(tz.clone()).unwrap().timestamp();
        // 2026-12-02 is a Wednesday.
        let now = at("2026-12-02T11:00:00");
        assert_eq!(next_local_time(now, "10:00", &[], &tz), at("2026-12-03T10:00:00"));
        assert_eq!(next_local_time(now, "12:30", &[], &tz), at("2026-12-02T12:30:00"));
        assert_eq!(next_local_time(now, "09:00", &["sat".into()], &tz), at("2026-12-05T09:00:00"));
        assert_eq!(next_local_time(now, "12:00", &["wed".into()], &tz), at("2026-12-02T12:00:00"));
        assert_eq!(next_local_time(now, "10:00", &["wed".into()], &tz), at("2026-12-09T10:00:00"));
    }

    #[test]
    fn arms_are_chosen_by_share_and_always_the_same() {
        let arms: Vec<Arm> = serde_json::from_value(json!([
            {"name": "a", "percent": 45, "next": "x"},
            {"name": "b", "percent": 45, "next": "y"},
            {"name": "control", "percent": 10},
        ]))
        .unwrap();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for c in 0..10_000 {
            let arm = pick_arm(7, "ab", CustomerId(c), &arms).unwrap();
            assert_eq!(arm.name, pick_arm(7, "ab", CustomerId(c), &arms).unwrap().name);
            *seen.entry(arm.name.as_str()).or_default() += 1;
        }
        for (name, share) in [("a", 4500), ("b", 4500), ("control", 1000)] {
            assert!(seen[name].abs_diff(share) < 300, "{name}: {}", seen[name]);
        }
    }

    #[test]
    fn trait_comparisons_are_typed() {
        assert!(compare(&json!(5), "gt", &json!(3)));
        assert!(!compare(&json!("5"), "gt", &json!(3)));
        assert!(compare(&json!("上海"), "eq", &json!("上海")));
        assert!(compare(&json!(2.5), "lte", &json!(2.5)));
        assert!(!compare(&json!(null), "lt", &json!(1)));
    }
}
