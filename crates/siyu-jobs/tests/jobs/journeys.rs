//! Journeys run by the step worker over a real store with a manual clock: an event triggers entries
//! (the same event once), a wait holds them until due, a branch routes them, a send queues one
//! message per entry that the send worker delivers to a receiver that verifies it, tags and tasks
//! follow, the goal converts, a paused journey holds its entries, a new version leaves entries on
//! theirs — and two step workers (two processes on PostgreSQL) never run an entry's step twice.

use crate::sends::{customer, receiver, services, worker};
use crate::{Fixture, start};
use jiff::SignedDuration;
use siyu_core::CustomerId;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::events::{EventKind, NewEvent};
use siyu_domain::journeys::JourneyInput;
use siyu_domain::journeys::store::{EntryState, JourneyStatus};
use siyu_jobs::journeys::{EnterWorker, StepWorker};
use siyu_jobs::{Backlog, Outcome, Worker};

fn event(customer: CustomerId, name: &str, id: &str, at: jiff::Timestamp) -> NewEvent {
    NewEvent {
        customer,
        kind: EventKind::Track,
        name: name.into(),
        ts_us: at.as_microsecond(),
        received_us: at.as_microsecond(),
        message_id: id.into(),
        user_id: String::new(),
        anonymous_id: String::new(),
        properties: r#"{"plan":"pro"}"#.into(),
        context: "{}".into(),
    }
}

async fn tag(services: &Services, owner: &Principal, name: &str) {
    services.customers.create_tag_group(owner, "旅程", "behaviour").await.ok();
    services.customers.create_tag(owner, "旅程", name).await.unwrap();
}

fn welcome() -> JourneyInput {
    serde_json::from_value(serde_json::json!({
        "name": "新客欢迎",
        "definition": {
            "trigger": {"type": "event", "event": "Signed Up", "where": {"plan": "pro"}},
            "start": "wait",
            "nodes": {
                "wait": {"type": "wait", "duration": "1d", "next": "check"},
                "check": {"type": "branch", "condition": {"consent": "sms"}, "yes": "send", "no": "end"},
                "send": {"type": "send", "channel": "hooks", "class": "marketing",
                         "body": "{{ customer.traits.name }}，新人礼已到账", "next": "tag"},
                "tag": {"type": "add_tag", "tag": "welcomed", "next": "follow"},
                "follow": {"type": "task", "reason": "回访新客"},
                "end": {"type": "exit"},
            },
            "goal": {"event": "Order Completed"},
        }
    }))
    .unwrap()
}

pub(crate) async fn a_journey_waits_branches_sends_once_and_converts(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    tag(&services, &owner, "welcomed").await;
    let journeys = &services.journeys;
    let id = journeys.create(&owner, &welcome()).await.unwrap().id;
    assert_eq!(journeys.publish(&owner, id).await.unwrap().version, 1);
    let fan = customer(&services, &owner, "+8613900000001", true).await;
    let shy = customer(&services, &owner, "+8613900000002", false).await;
    let buyer = customer(&services, &owner, "+8613900000003", true).await;
    let mut steps = StepWorker::new(services.journeys.clone(), "node-a", 100);
    let mut sends = worker(&services, "node-a");

    // The trigger enters each customer once, however often its event is delivered; a filter that
    // does not match enters nobody.
    let now = start();
    let mut signups: Vec<NewEvent> =
        [fan, shy, buyer].iter().map(|c| event(*c, "Signed Up", &format!("su-{}", c.0), now)).collect();
    signups.push(event(fan, "Signed Up", &format!("su-{}", fan.0), now));
    let mut free = event(shy, "Signed Up", "su-free", now);
    free.properties = r#"{"plan":"free"}"#.into();
    signups.push(free);
    services.events.append_events(&owner, &signups).await.unwrap();
    // The entry worker gives way while the step worker is behind (at most its limit), then enters.
    let behind = Backlog::default();
    behind.set(true);
    let mut enter = EnterWorker::new(services.journeys.clone()).yield_to(behind.clone());
    let look = now.checked_add(SignedDuration::from_millis(100)).unwrap();
    assert_eq!(enter.run_once(now).await.unwrap(), Outcome::Idle { next_due: Some(look) });
    assert!(journeys.customer_entries(&owner, fan).await.unwrap().is_empty(), "held back");
    behind.set(false);
    assert_eq!(enter.run_once(now).await.unwrap(), Outcome::Worked);
    assert_eq!(enter.run_once(now).await.unwrap(), Outcome::Idle { next_due: None }, "nothing left");
    // All three start waiting a day; the buyer orders meanwhile and converts.
    assert_eq!(steps.run_once(now).await.unwrap(), Outcome::Worked);
    let tomorrow = now.checked_add(SignedDuration::from_hours(24)).unwrap();
    assert_eq!(steps.run_once(now).await.unwrap(), Outcome::Idle { next_due: Some(tomorrow) });
    services.events.append_events(&owner, &[event(buyer, "Order Completed", "o-1", now)]).await.unwrap();
    assert!(journeys.apply_hits().await.unwrap());

    // A day later: the consenting customer gets the message, the tag and a task; the other leaves.
    f.clock.advance(SignedDuration::from_hours(24));
    assert_eq!(steps.run_once(tomorrow).await.unwrap(), Outcome::Worked);
    assert_eq!(sends.run_once(tomorrow).await.unwrap(), Outcome::Worked);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].0.starts_with(&format!("journey:{id}:v1:send:")) && seen[0].1 == fan.0 && seen[0].2, "{seen:?}");
    let view = services.customers.customer(&owner, fan).await.unwrap();
    assert!(view.tags.iter().any(|t| t.name == "welcomed"));
    let tasks = journeys.tasks(&owner, true).await.unwrap();
    assert_eq!((tasks.len(), tasks[0].customer_id, tasks[0].reason.as_str()), (1, fan, "回访新客"));

    let stats = journeys.stats(&owner, id).await.unwrap();
    assert_eq!(stats.nodes["wait"]["entered"], 3);
    assert_eq!(stats.nodes["wait"]["passed"], 2);
    assert_eq!(stats.nodes["check"]["entered"], 2);
    assert_eq!(stats.nodes["send"]["sent"], 1);
    assert_eq!(stats.nodes["end"]["entered"], 1);
    assert_eq!((stats.entries["done"], stats.entries["exited"], stats.converted), (2, 1, 1));
    let entries = journeys.customer_entries(&owner, buyer).await.unwrap();
    assert!(entries[0].converted);

    // Once per customer by default: the trigger again enters nobody.
    let again = event(fan, "Signed Up", "su-again", tomorrow);
    services.events.append_events(&owner, &[again]).await.unwrap();
    journeys.apply_hits().await.unwrap();
    assert_eq!(journeys.customer_entries(&owner, fan).await.unwrap().len(), 1);

    // A paused journey holds its entries; a new version leaves them on theirs.
    let late = customer(&services, &owner, "+8613900000004", true).await;
    journeys.enter_customers(&owner, id, &[late], "late-1").await.unwrap();
    assert_eq!(journeys.enter_customers(&owner, id, &[late], "late-1").await.unwrap(), 0, "the same key once");
    // Requests read the counts last made (fresh or not, never waiting for a new scan); a count
    // made now holds the new entry, and requests read it from then on.
    let shown = journeys.stats(&owner, id).await.unwrap();
    assert_eq!((shown.entries.get("active"), shown.counted_at), (None, stats.counted_at));
    assert_eq!(journeys.stats_now(&owner, id).await.unwrap().entries.get("active"), Some(&1));
    assert_eq!(journeys.stats(&owner, id).await.unwrap().entries.get("active"), Some(&1));
    steps.run_once(tomorrow).await.unwrap();
    journeys.set_status(&owner, id, JourneyStatus::Paused).await.unwrap();
    let mut input = welcome();
    input.definition.nodes.remove("follow");
    if let Some(siyu_domain::journeys::Node::AddTag { next, .. }) = input.definition.nodes.get_mut("tag") {
        *next = None;
    }
    journeys.update(&owner, id, &input).await.unwrap();
    let after = tomorrow.checked_add(SignedDuration::from_hours(25)).unwrap();
    f.clock.advance(SignedDuration::from_hours(25));
    assert!(matches!(steps.run_once(after).await.unwrap(), Outcome::Idle { .. }), "paused");
    journeys.set_status(&owner, id, JourneyStatus::Active).await.unwrap();
    assert_eq!(journeys.publish(&owner, id).await.unwrap().version, 2);
    assert_eq!(steps.run_once(after).await.unwrap(), Outcome::Worked);
    let entry = journeys.customer_entries(&owner, late).await.unwrap().remove(0);
    assert_eq!((entry.version, entry.node.as_str()), (1, "follow"), "finished on version 1, task and all");
    assert_eq!(journeys.tasks(&owner, true).await.unwrap().len(), 2);

    // Archived: nobody enters any more.
    journeys.set_status(&owner, id, JourneyStatus::Archived).await.unwrap();
    let other = customer(&services, &owner, "+8613900000005", true).await;
    assert!(journeys.enter_customers(&owner, id, &[other], "k").await.is_err());
}

pub(crate) async fn two_step_workers_never_run_an_entry_twice(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let journey: JourneyInput = serde_json::from_value(serde_json::json!({
        "name": "账单提醒",
        "definition": {
            "trigger": {"type": "api"},
            "start": "send",
            "nodes": {"send": {"type": "send", "channel": "hooks", "class": "transactional", "body": "账单已出"}},
        }
    }))
    .unwrap();
    let id = services.journeys.create(&owner, &journey).await.unwrap().id;
    services.journeys.publish(&owner, id).await.unwrap();
    let mut customers = Vec::new();
    for n in 0..120 {
        customers.push(customer(&services, &owner, &format!("+86137{n:08}"), false).await);
    }
    assert_eq!(services.journeys.enter_customers(&owner, id, &customers, "bill-1").await.unwrap(), 120);

    // A process claims a batch and stops before writing it; after its lease, the others run it.
    let lease = start().checked_add(SignedDuration::from_secs(120)).unwrap();
    let lost = services.stores.journeys.claim_entries("node-dead", start(), lease, 20).await.unwrap();
    assert_eq!(lost.len(), 20);
    // Node a says while it is behind (a whole batch claimed), so that its sends give way.
    let behind = siyu_jobs::Backlog::default();
    let mut a = StepWorker::new(services.journeys.clone(), "node-a", 7).reports(behind.clone());
    let mut b = StepWorker::new(services.journeys.clone(), "node-b", 7);
    let mut was_behind = false;
    loop {
        let (ra, rb) = tokio::join!(a.run_once(start()), b.run_once(start()));
        was_behind |= behind.is_behind();
        if matches!((ra.unwrap(), rb.unwrap()), (Outcome::Idle { .. }, Outcome::Idle { .. })) {
            break;
        }
    }
    assert!(was_behind && !behind.is_behind(), "behind while batches were full, not once idle");
    let after = lease.checked_add(SignedDuration::from_secs(1)).unwrap();
    f.clock.advance(SignedDuration::from_secs(121));
    loop {
        let (ra, rb) = tokio::join!(a.run_once(after), b.run_once(after));
        if matches!((ra.unwrap(), rb.unwrap()), (Outcome::Idle { .. }, Outcome::Idle { .. })) {
            break;
        }
    }
    let mut sends = worker(&services, "node-a");
    while sends.run_once(after).await.unwrap() == Outcome::Worked {}
    let seen = receiver.seen();
    let mut keys: Vec<&str> = seen.iter().map(|(k, ..)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((seen.len(), keys.len()), (120, 120), "every customer once, nobody twice");
    let stats = services.journeys.stats(&owner, id).await.unwrap();
    assert_eq!((stats.nodes["send"]["entered"], stats.entries["done"]), (120, 120));
}

pub(crate) async fn an_abandoned_cart_waits_for_the_order_or_reminds(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    tag(&services, &owner, "下单").await;
    let cart: JourneyInput = serde_json::from_value(serde_json::json!({
        "name": "弃购提醒",
        "definition": {
            "trigger": {"type": "event", "event": "Cart Abandoned"},
            "start": "wait",
            "nodes": {
                "wait": {"type": "wait_for_event", "event": "Order Completed", "where": {"plan": "pro"},
                         "timeout": "2h", "next": "bought", "timeout_next": "remind"},
                "bought": {"type": "add_tag", "tag": "下单"},
                "remind": {"type": "send", "channel": "hooks", "class": "marketing", "body": "购物车里的商品还在等你"},
            },
        }
    }))
    .unwrap();
    let journeys = &services.journeys;
    let id = journeys.create(&owner, &cart).await.unwrap().id;
    journeys.publish(&owner, id).await.unwrap();
    let buyer = customer(&services, &owner, "+8613600000001", true).await;
    let browser = customer(&services, &owner, "+8613600000002", true).await;
    let mut steps = StepWorker::new(journeys.clone(), "node-a", 100);
    let now = start();
    let carts = [event(buyer, "Cart Abandoned", "cart-1", now), event(browser, "Cart Abandoned", "cart-2", now)];
    services.events.append_events(&owner, &carts).await.unwrap();
    journeys.apply_hits().await.unwrap();
    assert_eq!(steps.run_once(now).await.unwrap(), Outcome::Worked);
    // The buyer orders half an hour later: on at once, without waiting out the two hours.
    let later = now.checked_add(SignedDuration::from_mins(30)).unwrap();
    f.clock.advance(SignedDuration::from_mins(30));
    services.events.append_events(&owner, &[event(buyer, "Order Completed", "o-9", later)]).await.unwrap();
    journeys.apply_hits().await.unwrap();
    assert_eq!(steps.run_once(later).await.unwrap(), Outcome::Worked);
    let view = services.customers.customer(&owner, buyer).await.unwrap();
    assert!(view.tags.iter().any(|t| t.name == "下单"));
    assert_eq!(journeys.customer_entries(&owner, buyer).await.unwrap()[0].state, EntryState::Done);
    // The other one is reminded once the two hours are up, not before.
    let deadline = now.checked_add(SignedDuration::from_hours(2)).unwrap();
    assert_eq!(steps.run_once(later).await.unwrap(), Outcome::Idle { next_due: Some(deadline) });
    f.clock.advance(SignedDuration::from_mins(90));
    assert_eq!(steps.run_once(deadline).await.unwrap(), Outcome::Worked);
    let mut sends = worker(&services, "node-a");
    while sends.run_once(deadline).await.unwrap() == Outcome::Worked {}
    let seen = receiver.seen();
    assert_eq!((seen.len(), seen[0].1), (1, browser.0), "{seen:?}");
    let stats = journeys.stats(&owner, id).await.unwrap();
    assert_eq!((stats.nodes["wait"]["passed"], stats.nodes["wait"]["timed_out"]), (2, 1));
}

/// A customer with a birthday (a sealed trait), a cohort (its year) and a membership time.
async fn born(services: &Services, owner: &Principal, phone: &str, birthday: &str, member_since: &str) -> CustomerId {
    let input = serde_json::from_value(serde_json::json!({
        "identities": [{"type": "phone", "value": phone}],
        "traits": {"birthday": birthday, "cohort": &birthday[..4], "member_since": member_since},
    }))
    .unwrap();
    services.customers.upsert_customer(owner, input).await.unwrap().id
}

fn scheduled(name: &str, trigger: serde_json::Value) -> JourneyInput {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "definition": {"trigger": trigger, "start": "end", "nodes": {"end": {"type": "exit"}}, "reentry": {"policy": "always"}},
    }))
    .unwrap()
}

pub(crate) async fn broadcasts_and_anniversaries_fire_once_per_occurrence(f: Fixture) {
    let (_, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let journeys = &services.journeys;
    // The fixture starts at 16:00 in Shanghai on 15 January 2027.
    let today = born(&services, &owner, "+8613700000001", "1990-01-15", "2024-03-01").await;
    // Joined on 15 January in Shanghai (14 January in UTC).
    let also_today = born(&services, &owner, "+8613700000002", "1985-01-15", "2020-01-14T18:30:00Z").await;
    let tomorrow = born(&services, &owner, "+8613700000003", "1990-01-16", "2020-01-14T15:30:00Z").await;
    let leap = born(&services, &owner, "+8613700000004", "2000-02-29", "2000-02-29").await;
    let segment = siyu_domain::segments::SegmentInput {
        key: "born-in-1990".into(),
        name: None,
        definition: None,
        text: Some("trait.cohort = \"1990\"".into()),
    };
    services.segments.save_segment(&owner, &segment, false).await.unwrap();

    let birthday = journeys
        .create(
            &owner,
            &scheduled("生日祝福", serde_json::json!({"type": "anniversary", "trait": "birthday", "time": "17:00"})),
        )
        .await
        .unwrap()
        .id;
    journeys.publish(&owner, birthday).await.unwrap();
    let joined = serde_json::json!({"type": "anniversary", "trait": "member_since", "time": "17:00"});
    let anniversary = journeys.create(&owner, &scheduled("入会周年", joined)).await.unwrap().id;
    journeys.publish(&owner, anniversary).await.unwrap();
    let weekly = serde_json::json!({"type": "broadcast", "segment": "born-in-1990", "cron": "30 17 * * FRI"});
    let broadcast = journeys.create(&owner, &scheduled("周五推送", weekly)).await.unwrap().id;
    journeys.publish(&owner, broadcast).await.unwrap();

    // 16:00: yesterday's 17:00 came before the journey was published, today's has not come.
    let next = journeys.fire_schedules().await.unwrap();
    assert_eq!(next, start().checked_add(SignedDuration::from_secs(60)).unwrap(), "at most a minute's sleep");
    let owner_ref = &owner;
    let entered = |c: CustomerId| async move { journeys.customer_entries(owner_ref, c).await.unwrap().len() };
    assert_eq!(entered(today).await, 0);

    // 17:00:05: the two born on 15 January enter the birthday journey, and the one who joined on
    // 15 January in Shanghai the membership one — once however often the round runs.
    f.clock.advance(SignedDuration::from_secs(3605));
    journeys.fire_schedules().await.unwrap();
    journeys.fire_schedules().await.unwrap();
    assert_eq!((entered(today).await, entered(also_today).await), (1, 2));
    assert_eq!((entered(tomorrow).await, entered(leap).await), (0, 0));

    // 17:30 on a Friday: the segment's members (born in 1990) enter the broadcast, once.
    f.clock.advance(SignedDuration::from_secs(30 * 60));
    journeys.fire_schedules().await.unwrap();
    journeys.fire_schedules().await.unwrap();
    assert_eq!((entered(today).await, entered(tomorrow).await, entered(also_today).await), (2, 1, 2));
    let firings = services.stores.journeys.firings(f.workspaces[0], broadcast, 10).await.unwrap();
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].1, 2);

    // A paused journey fires nothing; the next day's birthdays enter on the next day.
    journeys.set_status(&owner, broadcast, JourneyStatus::Paused).await.unwrap();
    f.clock.advance(SignedDuration::from_hours(24));
    journeys.fire_schedules().await.unwrap();
    assert_eq!(entered(tomorrow).await, 2, "the birthday journey, the next day");
    assert_eq!(services.stores.journeys.firings(f.workspaces[0], broadcast, 10).await.unwrap().len(), 1);

    // A broadcast needs at or cron, and a cron of five fields.
    let bad =
        scheduled("坏", serde_json::json!({"type": "broadcast", "segment": "born-in-1990", "cron": "0 0 9 * * *"}));
    let id = journeys.create(&owner, &bad).await.unwrap().id;
    let error = journeys.publish(&owner, id).await.unwrap_err().to_string();
    assert!(error.contains("trigger.cron") && error.contains("five fields"), "{error}");
    let both = scheduled("坏", serde_json::json!({"type": "broadcast", "segment": "nope"}));
    let id = journeys.create(&owner, &both).await.unwrap().id;
    let error = journeys.publish(&owner, id).await.unwrap_err().to_string();
    assert!(error.contains("trigger.segment") && error.contains("either at or cron"), "{error}");
}

pub(crate) async fn a_trigger_no_process_heard_is_read_again_from_the_log(f: Fixture) {
    let (_, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let journeys = &services.journeys;
    let ws = f.workspaces[0];
    let id = journeys.create(&owner, &welcome_without_tag()).await.unwrap().id;
    journeys.publish(&owner, id).await.unwrap();
    let heard = customer(&services, &owner, "+8613600000001", true).await;
    let lost = customer(&services, &owner, "+8613600000002", true).await;
    let old = customer(&services, &owner, "+8613600000003", true).await;

    // The position worker's first round notes where the log ends.
    journeys.save_positions().await.unwrap();
    services.events.append_events(&owner, &[event(heard, "Signed Up", "su-heard", start())]).await.unwrap();
    journeys.apply_hits().await.unwrap();
    // Appended to the log, then the process stopped before the feed carried them: no entry yet.
    let before = start().checked_sub(SignedDuration::from_hours(1)).unwrap();
    let unheard = [event(lost, "Signed Up", "su-lost", start()), event(old, "Signed Up", "su-old", before)];
    services.stores.events.append(ws, &unheard).await.unwrap();
    journeys.apply_hits().await.unwrap();
    let owner_ref = &owner;
    let entries = |c: CustomerId| async move { journeys.customer_entries(owner_ref, c).await.unwrap().len() };
    assert_eq!((entries(heard).await, entries(lost).await), (1, 0));

    // Read again from the saved position: the lost trigger enters, the heard one not twice, and an
    // event that arrived before the journey was active enters nobody.
    assert!(journeys.replay(ws).await.unwrap() >= 3);
    assert_eq!((entries(heard).await, entries(lost).await, entries(old).await), (1, 1, 0));
    // Again, and the same event on the feed: nothing more.
    journeys.replay(ws).await.unwrap();
    services.events.append_events(&owner, &[event(lost, "Signed Up", "su-lost", start())]).await.unwrap();
    journeys.apply_hits().await.unwrap();
    journeys.save_positions().await.unwrap();
    journeys.save_positions().await.unwrap();
    assert_eq!((entries(heard).await, entries(lost).await, entries(old).await), (1, 1, 0));

    // The entry worker paces what it applies: no position is saved past a hit still waiting.
    let saved = services.stores.journeys.trigger_position(ws).await.unwrap();
    let waiting = customer(&services, &owner, "+8613600000004", true).await;
    services.events.append_events(&owner, &[event(waiting, "Signed Up", "su-waiting", start())]).await.unwrap();
    journeys.save_positions().await.unwrap();
    journeys.save_positions().await.unwrap();
    assert_eq!(services.stores.journeys.trigger_position(ws).await.unwrap(), saved, "not past a waiting hit");
    assert_eq!(entries(waiting).await, 0);
    journeys.apply_hits().await.unwrap();
    journeys.save_positions().await.unwrap();
    assert_ne!(services.stores.journeys.trigger_position(ws).await.unwrap(), saved, "saved once it is applied");
    assert_eq!(entries(waiting).await, 1);
}

fn welcome_without_tag() -> JourneyInput {
    serde_json::from_value(serde_json::json!({
        "name": "新客",
        "definition": {
            "trigger": {"type": "event", "event": "Signed Up"},
            "start": "wait",
            "nodes": {"wait": {"type": "wait", "duration": "1d", "next": "end"}, "end": {"type": "exit"}},
        }
    }))
    .unwrap()
}

pub(crate) async fn a_webhook_node_calls_once_per_entry_whatever_the_consent(f: Fixture) {
    let (receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let journey = |channel: &str, event: &str| -> JourneyInput {
        serde_json::from_value(serde_json::json!({
            "name": "线索同步",
            "definition": {"trigger": {"type": "api"}, "start": "call", "nodes": {
                "call": {"type": "webhook", "channel": channel, "event": event,
                         "data": {"source": "siyu"}, "params": {"name": "{{ customer.traits.name }}"}},
            }},
        }))
        .unwrap()
    };
    // Published only with a webhook channel and a readable event name, each error at its node.
    let bad = services.journeys.create(&owner, &journey("nope", "crm lead!")).await.unwrap().id;
    match services.journeys.publish(&owner, bad).await {
        Err(siyu_domain::DomainError::Invalid(errors)) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert!(
                fields.contains(&"definition.nodes.call.channel") || fields.contains(&"nodes.call.channel"),
                "{errors:?}"
            );
            assert!(fields.iter().any(|f| f.ends_with("nodes.call.event")), "{errors:?}");
        }
        other => panic!("published a webhook node without its channel: {other:?}"),
    }
    let id = services.journeys.create(&owner, &journey("hooks", "crm.lead")).await.unwrap().id;
    services.journeys.publish(&owner, id).await.unwrap();
    // A customer without marketing consent: the call is not a message to them, so it goes.
    let shy = customer(&services, &owner, "+8613900000009", false).await;
    services.journeys.enter_customers(&owner, id, &[shy], "lead-1").await.unwrap();
    let mut steps = StepWorker::new(services.journeys.clone(), "node-a", 100);
    let mut sends = worker(&services, "node-a");
    let now = start();
    assert_eq!(steps.run_once(now).await.unwrap(), Outcome::Worked);
    assert_eq!(sends.run_once(now).await.unwrap(), Outcome::Worked);
    steps.run_once(now).await.unwrap();
    sends.run_once(now).await.unwrap();
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1, "once: {seen:?}");
    assert!(seen[0].0.starts_with(&format!("journey:{id}:v1:call:")) && seen[0].1 == shy.0 && seen[0].2, "{seen:?}");
    let body = &receiver.bodies()[0];
    assert_eq!((body["body"].as_str(), body["data"]["source"].as_str()), (Some("crm.lead"), Some("siyu")), "{body}");
    assert_eq!(body["params"]["name"], "王小明", "{body}");
    let stats = services.journeys.stats(&owner, id).await.unwrap();
    assert_eq!(stats.nodes["call"]["sent"], 1);
}

pub(crate) async fn each_reentry_policy_lets_a_customer_in_again_only_when_it_says(f: Fixture) {
    use siyu_core::clock::Clock as _;
    let (_, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let journeys = &services.journeys;
    let mut ids = Vec::new();
    for (name, reentry) in [
        ("从不", serde_json::json!({"policy": "never"})),
        ("总是", serde_json::json!({"policy": "always"})),
        ("两天后", serde_json::json!({"policy": "after_days", "days": 2})),
    ] {
        let input: JourneyInput = serde_json::from_value(serde_json::json!({
            "name": name,
            "definition": {
                "trigger": {"type": "api"},
                "start": "wait",
                "nodes": {"wait": {"type": "wait", "duration": "1h", "next": "end"}, "end": {"type": "exit"}},
                "reentry": reentry,
            }
        }))
        .unwrap();
        let id = journeys.create(&owner, &input).await.unwrap().id;
        journeys.publish(&owner, id).await.unwrap();
        ids.push(id);
    }
    let (a, b) = (
        customer(&services, &owner, "+8613900000001", true).await,
        customer(&services, &owner, "+8613900000002", true).await,
    );
    let enter = |key: &'static str| {
        let (journeys, owner, ids) = (journeys.clone(), owner.clone(), ids.clone());
        async move {
            let mut entered = Vec::new();
            for id in ids {
                entered.push(journeys.enter_customers(&owner, id, &[a, b, a], key).await.unwrap());
            }
            entered
        }
    };
    let mut steps = StepWorker::new(journeys.clone(), "node-a", 100);
    async fn finish(steps: &mut StepWorker, now: jiff::Timestamp) {
        while steps.run_once(now).await.unwrap() == Outcome::Worked {}
    }

    // A customer named twice in one call enters once; nobody enters again while on the journey.
    assert_eq!(enter("k1").await, [2, 2, 2]);
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(enter("k2").await, [0, 0, 0]);
    // Done an hour later: "always" lets them in again, "after 2 days" not yet, "never" never.
    f.clock.advance(SignedDuration::from_hours(1));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(enter("k3").await, [0, 2, 0]);
    finish(&mut steps, f.clock.now()).await;
    // The same trigger enters once, even after the entry it made is done.
    f.clock.advance(SignedDuration::from_hours(1));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(enter("k3").await, [0, 0, 0]);
    f.clock.advance(SignedDuration::from_hours(72));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(enter("k4").await, [0, 2, 2]);
}

/// A cohort entered at once starts in paced slots: no more customers start in a second than the
/// step worker's measured speed lets their waits end in a second, so the waits end on time; slots
/// of customers the re-entry policy keeps out are given back.
pub(crate) async fn a_large_cohort_starts_in_paced_slots_so_its_waits_end_on_time(f: Fixture) {
    use siyu_core::clock::Clock as _;
    let (services, owner) = services(&f, "http://127.0.0.1:9/unused", false).await;
    let journeys = &services.journeys;
    let input: JourneyInput = serde_json::from_value(serde_json::json!({
        "name": "新品",
        "definition": {
            "trigger": {"type": "api"},
            "start": "wait",
            "nodes": {"wait": {"type": "wait", "duration": "1m", "next": "end"}, "end": {"type": "exit"}},
        }
    }))
    .unwrap();
    let id = journeys.create(&owner, &input).await.unwrap().id;
    journeys.publish(&owner, id).await.unwrap();
    let inputs: Vec<siyu_domain::customers::CustomerInput> = (0..1_000)
        .map(|i| {
            serde_json::from_value(
                serde_json::json!({"identities": [{"type": "phone", "value": format!("+86139{i:08}")}]}),
            )
            .unwrap()
        })
        .collect();
    let customers: Vec<CustomerId> = services
        .customers
        .upsert_customers(&owner, inputs, "test", "")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    // The step worker was measured at 2,000 executions a second: a second holds 2,000 (the
    // floor); each customer costs 3 (the wait's start; its end: the wait and the exit).
    let pace = journeys.pace();
    pace.observe(5_000, 2_000, std::time::Duration::from_secs(1), SignedDuration::ZERO);
    let t0 = f.clock.now();
    assert_eq!(journeys.enter_customers(&owner, id, &customers, "launch").await.unwrap(), 1_000);
    let probe = journeys.probe();
    let last = probe.last_start_ms.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(last, t0.as_millisecond() + 1_000, "the last slot is a second on");

    let mut steps = StepWorker::new(journeys.clone(), "node-a", 1_000);
    async fn finish(steps: &mut StepWorker, now: jiff::Timestamp) {
        while steps.run_once(now).await.unwrap() == Outcome::Worked {}
    }
    let entries = |state: &'static str| {
        let (journeys, owner) = (journeys.clone(), owner.clone());
        async move { journeys.stats_now(&owner, id).await.unwrap().entries.get(state).copied().unwrap_or(0) }
    };
    let waiting = |journeys: &siyu_domain::journeys::Journeys, owner: &Principal| {
        let (journeys, owner) = (journeys.clone(), owner.clone());
        async move { journeys.stats_now(&owner, id).await.unwrap().nodes["wait"].get("entered").copied().unwrap_or(0) }
    };
    // 666 start now (666 × 3 = 1,998), the other 334 a second later.
    finish(&mut steps, t0).await;
    assert_eq!(waiting(journeys, &owner).await, 666);
    f.clock.advance(SignedDuration::from_secs(1));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(waiting(journeys, &owner).await, 1_000);
    // Each wait lasts its minute from its own start: 666 end at 60 s, the rest at 61 s.
    f.clock.advance(SignedDuration::from_secs(59));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(entries("done").await, 666);
    f.clock.advance(SignedDuration::from_secs(1));
    finish(&mut steps, f.clock.now()).await;
    assert_eq!(entries("done").await, 1_000);

    // Entered again, nobody gets in (never twice): the slots handed out are given back, so the
    // second now holds nothing (a customer as costly as a whole second still starts in it).
    let now = f.clock.now();
    assert_eq!(journeys.enter_customers(&owner, id, &customers, "again").await.unwrap(), 0);
    assert_eq!(pace.starts(now, SignedDuration::from_mins(1), pace.budget(), 1), vec![now]);
}

/// A journey that gives a coupon and lottery draws, entered by the API.
fn rewards(template: i64, lottery: i64) -> JourneyInput {
    serde_json::from_value(serde_json::json!({
        "name": "入会礼",
        "definition": {
            "trigger": {"type": "api"},
            "start": "coupon",
            "nodes": {
                "coupon": {"type": "issue_coupon", "coupon_template": template, "next": "draws"},
                "draws": {"type": "grant_lottery_chance", "lottery": lottery, "chances": 2},
            },
        }
    }))
    .unwrap()
}

pub(crate) async fn campaign_actions_give_a_coupon_and_draws_once_per_entry(f: Fixture) {
    let (_receiver, url) = receiver(&f.clock, Vec::new()).await;
    let (services, owner) = services(&f, &url, false).await;
    let campaigns = &services.campaigns;
    let template: siyu_domain::campaigns::coupon::TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "入会券", "benefit": {"kind": "fixed", "amount_fen": 1000}, "stock": 1,
        "validity": {"kind": "days_after_issue", "days": 7},
    }))
    .unwrap();
    let template = campaigns.create_coupon_template(&owner, template).await.unwrap().id;
    let now = start();
    let lottery: siyu_domain::campaigns::lottery::LotteryInput = serde_json::from_value(serde_json::json!({
        "name": "入会抽奖", "starts_at": now.to_string(),
        "ends_at": now.checked_add(SignedDuration::from_hours(240)).unwrap().to_string(),
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 10}],
        "no_prize_weight": 9, "per_day": 10, "total": 1,
    }))
    .unwrap();
    let lottery = campaigns.create_lottery(&owner, lottery).await.unwrap().id;
    // A definition naming what the workspace does not have is refused at the node.
    let journeys = &services.journeys;
    let wrong = journeys.create(&owner, &rewards(template + 100, lottery + 100)).await.unwrap().id;
    let Err(siyu_domain::DomainError::Invalid(errors)) = journeys.publish(&owner, wrong).await else {
        panic!("published a journey naming nothing")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["definition.nodes.coupon.coupon_template", "definition.nodes.draws.lottery"]);

    let id = journeys.create(&owner, &rewards(template, lottery)).await.unwrap().id;
    journeys.publish(&owner, id).await.unwrap();
    let first = customer(&services, &owner, "+8613900000011", true).await;
    let second = customer(&services, &owner, "+8613900000012", true).await;
    journeys.enter_customers(&owner, id, &[first, second], "join").await.unwrap();
    let mut steps = StepWorker::new(services.journeys.clone(), "node-a", 100);
    assert_eq!(steps.run_once(now).await.unwrap(), Outcome::Worked);

    // One coupon in stock: one customer has it, the other's is refused and counted; both go on.
    let mut held = Vec::new();
    for c in [first, second] {
        held.push(campaigns.customer_coupons(&owner, c).await.unwrap().len());
    }
    assert_eq!(held.iter().sum::<usize>(), 1, "{held:?}");
    let given = campaigns.coupon_template(&owner, template).await.unwrap();
    assert_eq!(given.issued, 1);
    let stats = journeys.stats_now(&owner, id).await.unwrap();
    assert_eq!((stats.nodes["coupon"]["passed"], stats.nodes["coupon"]["refused"]), (2, 1));
    assert_eq!(stats.nodes["draws"]["passed"], 2);

    // Two extra draws on top of the lottery's one: the fourth is refused.
    let token = campaigns
        .customer_token(&owner, first, &siyu_domain::campaigns::TokenInput { ttl_seconds: Some(600) })
        .await
        .unwrap()
        .token;
    let pass = campaigns.authenticate(Some(&token), None).await.unwrap();
    for n in 1..=3 {
        assert_eq!(campaigns.draw(&pass, lottery).await.unwrap().n, n);
    }
    let refused = campaigns.draw(&pass, lottery).await.unwrap_err();
    assert!(matches!(refused, siyu_domain::DomainError::Campaigns(_)), "{refused:?}");
}
