//! Segments over a real store: definitions in text and JSON give the same members; traits, tags,
//! consent, identities, events and models all count; parse errors carry line and column; cycles and
//! unknown references are refused whole; unknown names warn.

use crate::Fixture;
use serde_json::json;
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::DomainError;
use siyu_domain::access::Principal;
use siyu_domain::customers::ConsentChange;
use siyu_domain::customers::CustomerInput;
use siyu_domain::events::{EventKind, NewEvent};
use siyu_domain::segments::{DefinitionInput, SegmentInput};

const DAY_US: i64 = 86_400_000_000;

fn input(value: serde_json::Value) -> CustomerInput {
    serde_json::from_value(value).unwrap()
}

fn text(t: &str) -> DefinitionInput {
    DefinitionInput { definition: None, text: Some(t.into()) }
}

fn event(customer: CustomerId, name: &str, days_ago: i64, n: usize, now: i64) -> NewEvent {
    NewEvent {
        customer,
        kind: EventKind::Track,
        name: name.into(),
        ts_us: now - days_ago * DAY_US,
        received_us: now,
        message_id: format!("m-{}-{name}-{n}", customer.0),
        user_id: String::new(),
        anonymous_id: String::new(),
        properties: json!({"revenue": 100 * (n + 1), "category": if n.is_multiple_of(2) { "tea" } else { "cake" }})
            .to_string(),
        context: "{}".into(),
    }
}

/// Five customers: 0 VIP in 上海 with 3 recent orders and SMS consent; 1 in 上海 with 1 order;
/// 2 VIP in 北京 who opened a message; 3 with a WeCom contact and no events; 4 in 上海, old order.
async fn seed(f: &Fixture, owner: &Principal) -> Vec<CustomerId> {
    let s = &f.services;
    s.customers.create_tag_group(owner, "价值", "consumption_preference").await.unwrap();
    s.customers.create_tag(owner, "价值", "VIP").await.unwrap();
    let people = [
        json!({"identities": [{"type": "user_id", "value": "c0"}], "traits": {"city": "上海", "age": 31}, "tags": ["VIP"]}),
        json!({"identities": [{"type": "user_id", "value": "c1"}], "traits": {"city": "上海", "age": 22}}),
        json!({"identities": [{"type": "user_id", "value": "c2"}], "traits": {"city": "北京"}, "tags": ["VIP"]}),
        json!({"identities": [{"type": "wecom_external_userid", "value": "wm-3"}]}),
        json!({"identities": [{"type": "user_id", "value": "c4"}], "traits": {"city": "上海", "signup": "2020-01-01"}}),
    ];
    let mut ids = Vec::new();
    for p in people {
        ids.push(s.customers.upsert_customer(owner, input(p)).await.unwrap().id);
    }
    let consent = |granted| ConsentChange {
        purpose: "marketing".into(),
        channel: "sms".into(),
        granted,
        source: None,
        policy_version: "v1".into(),
    };
    s.customers.change_consent(owner, ids[0], vec![consent(true)]).await.unwrap();
    s.customers.change_consent(owner, ids[1], vec![consent(true)]).await.unwrap();
    s.customers.change_consent(owner, ids[1], vec![consent(false)]).await.unwrap();
    let now = s.now().as_microsecond();
    let mut events = Vec::new();
    for n in 0..3 {
        events.push(event(ids[0], "Order Completed", 2 + n as i64, n, now));
    }
    events.push(event(ids[1], "Order Completed", 5, 1, now));
    events.push(event(ids[2], "Message Opened", 3, 0, now));
    events.push(event(ids[4], "Order Completed", 300, 0, now));
    s.events.append_events(owner, &events).await.unwrap();
    ids
}

async fn members(f: &Fixture, owner: &Principal, definition: &str) -> Vec<CustomerId> {
    let key = format!("k{}", definition.len());
    let _ = f.services.segments.delete_segment(owner, &key).await;
    let input = SegmentInput { key: key.clone(), name: None, definition: None, text: Some(definition.into()) };
    f.services.segments.save_segment(owner, &input, false).await.unwrap_or_else(|e| panic!("{definition}: {e}"));
    let (_, page) = f.services.segments.segment_members(owner, &key, PageRequest::first(100)).await.unwrap();
    f.services.segments.delete_segment(owner, &key).await.unwrap();
    page.items
}

async fn every_kind_of_condition_selects_the_right_customers(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ids = seed(&f, &owner).await;
    let pick = |which: &[usize]| which.iter().map(|i| ids[*i]).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<usize>)> = vec![
        ("tag(\"VIP\")", vec![0, 2]),
        ("trait.city = \"上海\"", vec![0, 1, 4]),
        ("trait.city != \"上海\"", vec![2, 3]),
        ("trait.age >= 25", vec![0]),
        ("trait.city in [\"北京\", \"广州\"]", vec![2]),
        ("trait.age not exists", vec![2, 3, 4]),
        ("trait.signup before 2021-01-01", vec![4]),
        ("consent(\"marketing\", \"sms\")", vec![0]),
        ("has_identity(\"wecom_external_userid\")", vec![3]),
        ("did(\"Order Completed\", count >= 2, within 30d)", vec![0]),
        ("did(\"Order Completed\", within 30d)", vec![0, 1]),
        ("not did(\"Order Completed\")", vec![2, 3]),
        ("did(\"Order Completed\", sum(revenue) >= 500)", vec![0]),
        ("did(\"Order Completed\", where category = \"cake\")", vec![0, 1]),
        ("did(\"Order Completed\", last before 100d)", vec![4]),
        ("did(\"Order Completed\", count = 0, within 30d)", vec![2, 3, 4]),
        (
            "tag(\"VIP\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d) and not did(\"Message Opened\", within 14d)",
            vec![0],
        ),
        ("tag(\"VIP\") or has_identity(\"wecom_external_userid\")", vec![0, 2, 3]),
        ("lifecycle = \"churned\"", vec![4]),
        ("tier = \"vip\"", vec![0]),
        ("rfm.class in [\"important_value\", \"important_keep\"]", vec![0]),
    ];
    for (definition, expected) in cases {
        let mut got = members(&f, &owner, definition).await;
        got.sort();
        assert_eq!(got, pick(&expected), "{definition}");
    }
    // JSON and text are one definition.
    let tree = json!({"and": [{"tag": "VIP"}, {"trait": {"name": "city", "op": "=", "value": "上海"}}]});
    let preview = f
        .services
        .segments
        .preview_segment(
            &owner,
            &DefinitionInput { definition: Some(serde_json::from_value(tree).unwrap()), text: None },
        )
        .await
        .unwrap();
    assert_eq!((preview.size, preview.text.as_str()), (1, "tag(\"VIP\") and trait.city = \"上海\""));
}

async fn bad_definitions_are_refused_whole_and_unknown_names_warn(f: Fixture) {
    let owner = f.workspace("brand").await;
    seed(&f, &owner).await;
    let s = &f.services;
    let Err(DomainError::Invalid(errors)) =
        s.segments.preview_segment(&owner, &text("tag(\"VIP\") and\n  trait.city ==")).await
    else {
        panic!("a parse error")
    };
    assert_eq!(errors[0].field, "text");
    assert!(errors[0].reason.starts_with("line 2, column 15: expected a value"), "{}", errors[0].reason);

    let preview = s
        .segments
        .preview_segment(&owner, &text("tag(\"Gold\") or did(\"Bought A Yacht\") or trait.planet = \"mars\""))
        .await
        .unwrap();
    assert_eq!(preview.size, 0);
    assert_eq!(
        preview.warnings,
        [
            "unknown events (nobody matches them yet): \"Bought A Yacht\"",
            "unknown tags (nobody matches them yet): \"Gold\"",
            "unknown traits (nobody matches them yet): \"planet\""
        ]
    );
    let Err(DomainError::Invalid(errors)) = s
        .segments
        .preview_segment(&owner, &text("consent(\"spam\", \"sms\") and lifecycle = \"asleep\" and trait.name = \"x\""))
        .await
    else {
        panic!("refused")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["definition.and[0].consent.purpose", "definition.and[1].model.value", "definition.and[2].trait.name"]
    );

    // Segments referring to each other in a cycle are refused, naming the cycle; nothing is saved.
    let save =
        |key: &str, t: &str| SegmentInput { key: key.into(), name: None, definition: None, text: Some(t.into()) };
    s.segments.save_segment(&owner, &save("a", "tag(\"VIP\")"), false).await.unwrap();
    s.segments.save_segment(&owner, &save("b", "segment(\"a\") and trait.city = \"上海\""), false).await.unwrap();
    let Err(DomainError::Invalid(errors)) = s.segments.save_segment(&owner, &save("a", "segment(\"b\")"), true).await
    else {
        panic!("a cycle")
    };
    assert!(errors[0].reason.contains("a → b → a"), "{}", errors[0].reason);
    assert_eq!(s.segments.segment(&owner, "a").await.unwrap().text, "tag(\"VIP\")", "unchanged");
    assert_eq!(s.segments.segment(&owner, "b").await.unwrap().size, 1);
    assert!(matches!(s.segments.delete_segment(&owner, "a").await, Err(DomainError::Conflict(_))));
    assert!(matches!(
        s.segments.save_segment(&owner, &save("a", "tag(\"VIP\")"), false).await,
        Err(DomainError::Conflict(_))
    ));
    let Err(DomainError::Invalid(errors)) =
        s.segments.save_segment(&owner, &save("Bad Key", "segment(\"zz\")"), false).await
    else {
        panic!("refused")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["key"]);
}

/// Runs the upkeep's rounds until nothing is queued, then returns the customer's Segment
/// Entered/Exited events, which must number at least `n`.
async fn segment_events(f: &Fixture, owner: &Principal, customer: CustomerId, n: usize) -> Vec<(String, String)> {
    crate::run_upkeep(&f.services).await;
    {
        let mut seen = Vec::new();
        let mut opener = f.services.events.event_opener(owner, None).await.unwrap();
        f.services
            .stores
            .events
            .scan_since(owner.workspace_id(), "", &mut |e| {
                let opened = opener.open(e);
                let e = opened.view();
                if e.customer == customer && e.name.starts_with("Segment ") {
                    seen.push((e.name.to_string(), e.properties.to_string()));
                }
            })
            .await
            .unwrap();
        assert!(seen.len() >= n, "{n} segment events for {customer}: {seen:?}");
        seen
    }
}

async fn membership_follows_events_and_records_entries_and_exits(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ids = seed(&f, &owner).await;
    let s = &f.services;
    let definition = "did(\"Order Completed\", count >= 1, within 30d) and not did(\"Refund Requested\")";
    let input = SegmentInput {
        key: "buyers".into(),
        name: Some("近期买家".into()),
        definition: None,
        text: Some(definition.into()),
    };
    let view = s.segments.save_segment(&owner, &input, false).await.unwrap();
    assert_eq!(view.size, 2);
    // Creating the segment records the entries of its first members.
    let entered = segment_events(&f, &owner, ids[0], 1).await;
    assert_eq!(entered[0].0, "Segment Entered");
    assert!(
        entered[0].1.contains("\"segment_key\":\"buyers\"") && entered[0].1.contains("近期买家"),
        "{}",
        entered[0].1
    );

    // Customer 2 orders: enters at once (upkeep), without a full pass.
    let now = s.now().as_microsecond();
    s.events.append_events(&owner, &[event(ids[2], "Order Completed", 0, 9, now)]).await.unwrap();
    let events = segment_events(&f, &owner, ids[2], 1).await;
    assert_eq!(events[0].0, "Segment Entered");
    // A windowed exit: customer 1 views a page, so "no page view in the last minute" no longer holds.
    let windowed = SegmentInput {
        key: "quiet-buyers".into(),
        name: None,
        definition: None,
        text: Some("did(\"Order Completed\") and not did(\"Page Viewed\", within 60s)".into()),
    };
    s.segments.save_segment(&owner, &windowed, false).await.unwrap();
    s.events.append_events(&owner, &[event(ids[1], "Page Viewed", 0, 7, s.now().as_microsecond())]).await.unwrap();
    let events = segment_events(&f, &owner, ids[1], 3).await;
    assert_eq!(events[2].0, "Segment Exited", "{events:#?}");
    assert!(events[2].1.contains("quiet-buyers"), "{events:?}");
    s.segments.delete_segment(&owner, "quiet-buyers").await.unwrap();
    // Customer 0 asks for a refund: exits.
    s.events.append_events(&owner, &[event(ids[0], "Refund Requested", 0, 9, now)]).await.unwrap();
    let events = segment_events(&f, &owner, ids[0], 3).await;
    assert!(events.iter().any(|(name, p)| name == "Segment Exited" && p.contains("\"buyers\"")), "{events:?}");
    let (total, page) = s.segments.segment_members(&owner, "buyers", PageRequest::first(10)).await.unwrap();
    let mut expected = vec![ids[1], ids[2]];
    expected.sort();
    assert_eq!((total, page.items), (2, expected));
    // The members and today's size survive a restart (another process's services read them). The
    // exit of customer 0 was recorded but its members not saved since (as after a crash): the
    // restart replays it rather than recording it twice.
    let other = f.reopen().await;
    other.segments.start_all_upkeep().await.unwrap();
    let (total, _) = other.segments.segment_members(&owner, "buyers", PageRequest::first(10)).await.unwrap();
    assert_eq!(total, 2);
    let exits = |events: Vec<(String, String)>| {
        events.iter().filter(|(name, p)| name == "Segment Exited" && p.contains("\"buyers\"")).count()
    };
    assert_eq!(exits(segment_events(&f, &owner, ids[0], 3).await), 1, "the exit is recorded once");
    let history = other.segments.segment(&owner, "buyers").await.unwrap().history;
    assert_eq!(history.last().map(|(_, n)| *n), Some(2));
}

/// Runs the upkeep's rounds until nothing is queued, then checks that the segment has exactly
/// `expected` members (kept by the upkeep).
async fn wait_members(f: &Fixture, owner: &Principal, key: &str, mut expected: Vec<CustomerId>) {
    expected.sort();
    crate::run_upkeep(&f.services).await;
    let got = f.services.segments.segment_members(owner, key, PageRequest::first(100)).await.unwrap().1.items;
    assert_eq!(got, expected, "{key}: members");
}

fn sms_granted() -> ConsentChange {
    ConsentChange {
        purpose: "marketing".into(),
        channel: "sms".into(),
        granted: true,
        source: None,
        policy_version: "v2".into(),
    }
}

async fn membership_follows_profile_changes_at_once(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ids = seed(&f, &owner).await;
    let s = &f.services;
    let segment = SegmentInput {
        key: "sh-vip-sms".into(),
        name: None,
        definition: None,
        text: Some("tag(\"VIP\") and trait.city = \"上海\" and consent(\"marketing\", \"sms\")".into()),
    };
    assert_eq!(s.segments.save_segment(&owner, &segment, false).await.unwrap().size, 1);
    wait_members(&f, &owner, "sh-vip-sms", vec![ids[0]]).await;
    // No full pass runs below: each change reaches the members through the upkeep alone.
    // Customer 1 (上海, SMS withdrawn) is tagged VIP, then grants SMS again: enters.
    s.customers.add_tags(&owner, ids[1], &["VIP".to_string()], "manual").await.unwrap();
    s.customers.change_consent(&owner, ids[1], vec![sms_granted()]).await.unwrap();
    let events = segment_events(&f, &owner, ids[1], 1).await;
    assert_eq!(events[0].0, "Segment Entered", "{events:?}");
    // Customer 0 moves to 北京: exits.
    s.customers.update_customer(&owner, ids[0], input(json!({"traits": {"city": "北京"}}))).await.unwrap();
    let events = segment_events(&f, &owner, ids[0], 2).await;
    assert_eq!(events[1].0, "Segment Exited", "{events:?}");
    wait_members(&f, &owner, "sh-vip-sms", vec![ids[1]]).await;
    // Customer 1 is erased: leaves the members, and no event is recorded about the erased profile.
    s.erase_customer(&owner, ids[1]).await.unwrap();
    wait_members(&f, &owner, "sh-vip-sms", vec![]).await;
    assert_eq!(segment_events(&f, &owner, ids[1], 1).await.len(), 1);
    // A tag removed: customer 2 (VIP in 北京) was never in; a new 上海 VIP with consent enters.
    let new = s
        .customers.upsert_customer(
            &owner,
            input(json!({"identities": [{"type": "user_id", "value": "c9"}], "traits": {"city": "上海"}, "tags": ["VIP"]})),
        )
        .await
        .unwrap()
        .id;
    s.customers.change_consent(&owner, new, vec![sms_granted()]).await.unwrap();
    wait_members(&f, &owner, "sh-vip-sms", vec![new]).await;
    s.customers.remove_tag(&owner, new, "VIP").await.unwrap();
    wait_members(&f, &owner, "sh-vip-sms", vec![]).await;
    // The full pass agrees with what the upkeep kept.
    assert_eq!(s.segments.preview_segment(&owner, &text(segment.text.as_deref().unwrap())).await.unwrap().size, 0);
}

crate::contract!(
    every_kind_of_condition_selects_the_right_customers,
    bad_definitions_are_refused_whole_and_unknown_names_warn,
    membership_follows_events_and_records_entries_and_exits,
    membership_follows_profile_changes_at_once,
    an_overflowing_upkeep_queue_is_caught_up_by_a_full_pass
);

/// With no worker draining it (`jobs.enabled = false`) or far behind, the upkeep's queue does not
/// grow without bound: past its limit it is emptied, and the next round's full pass finds every
/// change the dropped batches held.
async fn an_overflowing_upkeep_queue_is_caught_up_by_a_full_pass(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ids = seed(&f, &owner).await;
    let s = &f.services;
    s.segments.set_upkeep_queue_limit(2);
    let input = SegmentInput {
        key: "tea-buyers".into(),
        name: None,
        definition: None,
        text: Some("did(\"Tea Bought\")".into()),
    };
    assert_eq!(s.segments.save_segment(&owner, &input, false).await.unwrap().size, 0);
    let now = s.now().as_microsecond();
    // Three appends of one customer each: the third is past the limit of two.
    for (n, id) in ids.iter().take(3).enumerate() {
        s.events.append_events(&owner, &[event(*id, "Tea Bought", 0, n, now)]).await.unwrap();
    }
    wait_members(&f, &owner, "tea-buyers", ids[..3].to_vec()).await;
    let events = segment_events(&f, &owner, ids[2], 1).await;
    assert_eq!(events[0].0, "Segment Entered", "the pass records the entries the dropped batches held");
}
