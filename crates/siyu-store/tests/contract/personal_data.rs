//! Personal data: every table that names customers is held by a registered slice; a customer's
//! export holds what every slice keeps about them, needs `pii:read` and is audited; an erasure
//! removes them from every slice.

use crate::Fixture;
use serde_json::json;
use siyu_core::PageRequest;
use siyu_domain::DomainError;
use siyu_domain::access::{Principal, Role};
use siyu_domain::customers::{ConsentChange, CustomerInput};
use siyu_domain::events::{EventKind, NewEvent};
use siyu_domain::segments::SegmentInput;
use std::collections::BTreeSet;

crate::contract!(
    every_table_that_names_customers_is_held_by_a_registered_slice,
    an_export_holds_what_every_slice_keeps_and_is_audited,
    an_erased_customer_is_gone_from_every_slice,
    the_log_keeps_no_identifier_in_the_clear_and_an_erasure_shreds_it,
    events_an_older_siyu_logged_in_the_clear_are_sealed_at_start;
    flushing:
    an_erased_customer_is_gone_from_every_slice
);

/// Columns that say a table holds data about customers: ids of customers, sealed values, members.
const CUSTOMER_COLUMNS: [&str; 6] = ["customer_id", "survivor_id", "merged_id", "merged_into", "sealed", "members"];

async fn every_table_that_names_customers_is_held_by_a_registered_slice(f: Fixture) {
    let held: BTreeSet<&str> =
        f.services.personal_data().iter().flat_map(|slice| slice.holds().iter().copied()).collect();
    let mut unregistered = BTreeSet::new();
    let mut seen = 0;
    for (table, column) in f.columns().await {
        if CUSTOMER_COLUMNS.contains(&column.as_str()) {
            seen += 1;
            if !held.contains(table.as_str()) {
                unregistered.insert(format!("{table}.{column}"));
            }
        }
    }
    assert!(seen >= 8, "the schema was read ({seen} customer columns)");
    assert!(
        unregistered.is_empty(),
        "tables hold customer data that no slice exports or erases (implement PersonalData and list them in \
         its `holds`, then register the slice in Services::personal_data): {unregistered:?}"
    );
}

fn input(value: serde_json::Value) -> CustomerInput {
    serde_json::from_value(value).unwrap()
}

/// A customer with a merged-away profile, a note, consent, a tag, two events and a segment.
async fn known_customer(f: &Fixture, owner: &Principal) -> siyu_core::CustomerId {
    let customers = &f.services.customers;
    customers.create_tag_group(owner, "价值", "consumption_preference").await.unwrap();
    customers.create_tag(owner, "价值", "VIP").await.unwrap();
    let a = customers
        .upsert_customer(
            owner,
            input(json!({"identities": [{"type": "phone", "value": "13812345678"}],
                "traits": {"name": "王丽丽", "city": "上海"}, "tags": ["VIP"]})),
        )
        .await
        .unwrap()
        .id;
    let b = customers
        .upsert_customer(owner, input(json!({"identities": [{"type": "user_id", "value": "u-export-1"}]})))
        .await
        .unwrap()
        .id;
    // b merges into a (the oldest survives).
    let both = input(json!({"identities": [{"type": "phone", "value": "13812345678"},
        {"type": "user_id", "value": "u-export-1"}]}));
    assert_eq!(customers.upsert_customer(owner, both).await.unwrap().merged, vec![b]);
    customers.add_note(owner, a, "prefers oolong").await.unwrap();
    let grant = ConsentChange {
        purpose: "marketing".into(),
        channel: "sms".into(),
        granted: true,
        source: None,
        policy_version: "2026-01".into(),
    };
    customers.change_consent(owner, a, vec![grant]).await.unwrap();
    let now_us = f.services.now().as_microsecond();
    let event = |customer, name: &str, i: i64| NewEvent {
        customer,
        kind: EventKind::Track,
        name: name.into(),
        ts_us: now_us - 1_000_000 + i,
        received_us: now_us,
        message_id: format!("m-{name}-{i}"),
        user_id: "u-export-1".into(),
        anonymous_id: String::new(),
        properties: r#"{"sku": "oolong-250g"}"#.into(),
        context: r#"{"ip": "203.0.113.7"}"#.into(),
    };
    f.services
        .events
        .append_events(owner, &[event(b, "Product Viewed", 0), event(a, "Order Completed", 1)])
        .await
        .unwrap();
    let segment = SegmentInput { key: "vip".into(), name: None, definition: None, text: Some("tag(\"VIP\")".into()) };
    f.services.segments.save_segment(owner, &segment, false).await.unwrap();
    a
}

async fn an_export_holds_what_every_slice_keeps_and_is_audited(f: Fixture) {
    let owner = f.workspace("brand").await;
    let a = known_customer(&f, &owner).await;
    let other = f.workspace("other").await;
    let analyst = Principal::key(owner.workspace_id(), Role::Analyst, siyu_core::ApiKeyId(1), "sk_test");
    assert!(matches!(f.services.export_customer(&analyst, a).await, Err(DomainError::Forbidden(_))));
    assert!(matches!(f.services.export_customer(&other, a).await, Err(DomainError::NotFound(_))));

    let export = f.services.export_customer(&owner, a).await.unwrap();
    assert_eq!(export["customer_id"], json!(a.0));
    assert_eq!(export["merged_ids"].as_array().unwrap().len(), 1);
    let profile = &export["customers"]["profile"];
    let identities: Vec<_> = profile["identities"].as_array().unwrap().iter().map(|i| i["value"].clone()).collect();
    assert!(
        identities.contains(&json!("+8613812345678")) && identities.contains(&json!("u-export-1")),
        "{identities:?}"
    );
    assert_eq!(profile["traits"]["name"]["value"], json!("王丽丽"), "unmasked");
    assert_eq!(profile["tags"][0]["name"], json!("VIP"));
    assert_eq!(export["customers"]["notes"][0]["body"], json!("prefers oolong"));
    assert_eq!(export["customers"]["consent"]["history"].as_array().unwrap().len(), 1);
    assert_eq!(export["customers"]["merges"].as_array().unwrap().len(), 1);
    // Both events, the merged-away profile's too, with what they carried (and, once the upkeep
    // recorded it, the customer's `Segment Entered`).
    let events = export["events"]["events"].as_array().unwrap();
    assert_eq!(export["events"]["total"], json!(events.len()));
    let names: BTreeSet<_> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(names.is_superset(&BTreeSet::from(["Order Completed", "Product Viewed"])), "{names:?}");
    let viewed = events.iter().find(|e| e["event"] == json!("Product Viewed")).unwrap();
    assert_eq!((&viewed["context"]["ip"], &viewed["userId"]), (&json!("203.0.113.7"), &json!("u-export-1")));
    assert_eq!(export["segments"], json!([{"key": "vip", "name": "vip"}]));
    assert!(export.get("models").is_some());

    let audit = f.services.access.audit_log(&owner, &PageRequest::first(10)).await.unwrap().items;
    assert_eq!((audit[0].action.as_str(), audit[0].target.clone()), ("customer.export", format!("customer:{a}")));
}

async fn an_erased_customer_is_gone_from_every_slice(f: Fixture) {
    let owner = f.workspace("brand").await;
    let a = known_customer(&f, &owner).await;
    f.services.erase_customer(&owner, a).await.unwrap();
    assert!(matches!(f.services.export_customer(&owner, a).await, Err(DomainError::NotFound(_))));
    assert!(matches!(f.services.customers.customer(&owner, a).await, Err(DomainError::NotFound(_))));
    // The sender is a stranger again (segments' members: `segments::membership_follows_events…`).
    let again = f.services.events.customers_for_user_ids(&owner, &["u-export-1".to_string()]).await.unwrap();
    assert_ne!(again[0], a);
    let audit = f.services.access.audit_log(&owner, &PageRequest::first(10)).await.unwrap().items;
    assert_eq!((audit[0].action.as_str(), audit[0].target.clone()), ("customer.delete", format!("customer:{a}")));
}

/// The log seals each event's ids, properties and context under its customer's key; erasing the
/// customer destroys the key: the raw log files, the database and the snapshot hold none of their
/// identifiers, before or after, and after it nobody can open their events.
async fn the_log_keeps_no_identifier_in_the_clear_and_an_erasure_shreds_it(f: Fixture) {
    let owner = f.workspace("brand").await;
    let users: Vec<String> = (0..100).map(|i| format!("member-{i}")).collect();
    let mut ids = f.services.events.customers_for_user_ids(&owner, &users).await.unwrap();
    let gone = f.services.events.customers_for_user_ids(&owner, &["u-forget-me-42".to_string()]).await.unwrap()[0];
    ids.push(gone);
    let now_us = f.services.now().as_microsecond();
    // 120 events each: more than a snapshot needs.
    let batch: Vec<NewEvent> = ids
        .iter()
        .flat_map(|id| {
            (0..120).map(move |i| NewEvent {
                customer: *id,
                kind: EventKind::Track,
                name: if *id == gone { "Forgettable Viewed".into() } else { "Product Viewed".into() },
                ts_us: now_us - 10_000_000 + i,
                received_us: now_us,
                message_id: format!("m-{id}-{i}"),
                user_id: if *id == gone { "u-forget-me-42".into() } else { format!("member-{id}") },
                anonymous_id: String::new(),
                properties: if *id == gone {
                    r#"{"email": "forget.me@example.com"}"#.into()
                } else {
                    r#"{"sku": "oolong-250g"}"#.into()
                },
                context: if *id == gone { r#"{"ip": "198.51.100.42"}"#.into() } else { "{}".into() },
            })
        })
        .collect();
    f.services.events.append_events(&owner, &batch).await.unwrap();
    let index = f.services.events.event_index(&owner).await.unwrap();
    assert_eq!(index.columns.event_count(), 101 * 120);
    assert!(f.services.stores.events.load_snapshot(owner.workspace_id()).await.unwrap().is_some(), "a snapshot");
    let secrets = ["u-forget-me-42", "forget.me@example.com", "198.51.100.42"];
    for needle in secrets {
        assert_eq!(f.found_at_rest(needle).await, Vec::<String>::new(), "{needle} is at rest in the clear");
    }
    // What is not personal stays readable (and shows the search reads the log).
    assert!(!f.found_at_rest("Forgettable Viewed").await.is_empty(), "event names are kept in the clear");
    // The owner reads them back opened.
    let mut opener = f.services.events.event_opener(&owner, None).await.unwrap();
    let mut emails = Vec::new();
    f.services
        .stores
        .events
        .scan(owner.workspace_id(), &mut |e| {
            let opened = opener.open(e);
            if opened.view().customer == gone {
                emails.push(opened.view().properties.to_string());
            }
        })
        .await
        .unwrap();
    assert_eq!(emails.len(), 120);
    assert!(emails.iter().all(|p| p.contains("forget.me@example.com")));

    f.services.erase_customer(&owner, gone).await.unwrap();
    for needle in secrets {
        assert_eq!(f.found_at_rest(needle).await, Vec::<String>::new(), "{needle} is at rest after the erasure");
    }
    // Nobody can open the erased customer's events any more; the others' still open.
    let mut opener = f.services.events.event_opener(&owner, None).await.unwrap();
    let (mut theirs, mut others) = (0, 0);
    f.services
        .stores
        .events
        .scan(owner.workspace_id(), &mut |e| {
            let opened = opener.open(e);
            let view = opened.view();
            if view.customer == gone {
                assert_eq!((view.user_id, view.properties, view.context), ("", "{}", "{}"));
                theirs += 1;
            } else if view.properties.contains("oolong") {
                others += 1;
            }
        })
        .await
        .unwrap();
    assert_eq!((theirs, others), (120, 100 * 120));
    // Their events still count, for no one; the index was rebuilt from the log.
    let index = f.services.events.event_index(&owner).await.unwrap();
    assert_eq!(index.columns.event_count(), 101 * 120);
}

/// An older siyu logged events as they came (ids, properties and context in the clear): the upgrade
/// at start seals each under its customer's key — one for a customer erased since under a key
/// nobody keeps —, keeps every event countable and readable by the owner, and runs once.
async fn events_an_older_siyu_logged_in_the_clear_are_sealed_at_start(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ws = owner.workspace_id();
    let users = ["old-member-1".to_string(), "old-member-2".to_string()];
    let ids = f.services.events.customers_for_user_ids(&owner, &users).await.unwrap();
    let now_us = f.services.now().as_microsecond();
    let old = |customer: siyu_core::CustomerId, i: i64, user: &str, phone: &str| NewEvent {
        customer,
        kind: EventKind::Track,
        name: "Order Completed".into(),
        ts_us: now_us - 1_000_000 + i,
        received_us: now_us,
        message_id: format!("old-{customer}-{i}"),
        user_id: user.into(),
        anonymous_id: "anon-old-7".into(),
        properties: format!(r#"{{"revenue": 9.5, "phone": "{phone}"}}"#),
        context: r#"{"ip": "203.0.113.77"}"#.into(),
    };
    // As an older siyu wrote them: straight into the store, unsealed; one of a customer since
    // erased (no profile, no key), and sealed events of today's siyu beside them.
    let mut events: Vec<NewEvent> = (0..3).map(|i| old(ids[0], i, "old-member-1", "13811112222")).collect();
    events.push(old(ids[1], 9, "old-member-2", "13833334444"));
    events.push(old(siyu_core::CustomerId(987_654), 10, "old-erased-9", "13855556666"));
    f.services.stores.events.append(ws, &events).await.unwrap();
    f.services.events.append_events(&owner, &[old(ids[1], 20, "old-member-2", "13877778888")]).await.unwrap();
    f.unmark_sealed_log(ws);
    for needle in ["13811112222", "13855556666", "old-erased-9", "203.0.113.77"] {
        assert!(!f.found_at_rest(needle).await.is_empty(), "{needle} was staged in the clear");
    }
    assert_eq!(f.services.stores.events.workspaces_with_clear_events().await.unwrap(), vec![ws]);

    assert_eq!(f.services.events.seal_clear_events().await.unwrap(), 5);
    for needle in ["13811112222", "13833334444", "13855556666", "old-erased-9", "anon-old-7", "203.0.113.77"] {
        assert_eq!(f.found_at_rest(needle).await, Vec::<String>::new(), "{needle} is at rest in the clear");
    }
    assert!(f.services.stores.events.workspaces_with_clear_events().await.unwrap().is_empty(), "done once");
    assert_eq!(f.services.events.seal_clear_events().await.unwrap(), 0);
    // An append after the rewrite is kept (the file rewritten was the one this process appended to).
    f.services.events.append_events(&owner, &[old(ids[0], 30, "old-member-1", "13899990000")]).await.unwrap();
    // Every event still counts; the owner opens the living customers' and not the erased one's.
    assert_eq!(f.services.events.event_index(&owner).await.unwrap().columns.event_count(), 7);
    let mut opener = f.services.events.event_opener(&owner, None).await.unwrap();
    let mut seen = Vec::new();
    f.services
        .stores
        .events
        .scan(ws, &mut |e| {
            let opened = opener.open(e);
            let view = opened.view();
            seen.push((view.message_id.to_string(), view.user_id.to_string(), view.properties.to_string()));
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), 7);
    let after = format!("old-{}-30", ids[0]);
    assert!(seen.iter().any(|(m, _, _)| *m == after), "the append after the rewrite is in the log");
    let of = |id: &str| seen.iter().find(|(m, _, _)| m == id).unwrap().clone();
    let first = of(&format!("old-{}-0", ids[0]));
    assert_eq!(first.1, "old-member-1");
    assert!(first.2.contains("13811112222"), "{first:?}");
    assert!(of(&format!("old-{}-20", ids[1])).2.contains("13877778888"), "today's sealed event is untouched");
    let erased = of("old-987654-10");
    assert_eq!((erased.1.as_str(), erased.2.as_str()), ("", "{}"), "nobody opens an erased customer's event");
}
