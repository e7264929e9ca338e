//! The event log: appends read back in order, checkpoints resume where a scan stopped, workspaces
//! stay apart; and (SQLite) the analytics index restarts from its snapshot plus the log's tail.

use crate::Fixture;
use siyu_analytics::Granularity;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::events::analytics::{Dates, FunnelOptions, SegmentationOptions, SeriesSpec};
use siyu_domain::events::filters::parse_filter;
use siyu_domain::events::{EventKind, NewEvent};

/// 2026-01-01T00:00:00Z: test events lie after it (analytics reads instants from 2000 on).
const T0_US: i64 = 1_767_225_600_000_000;
/// The instant queries are asked at: a day after the test events.
const NOW_US: i64 = T0_US + 86_400_000_000;

fn events(customer: siyu_core::CustomerId, names: &[&str], from_us: i64) -> Vec<NewEvent> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| NewEvent {
            customer,
            kind: EventKind::Track,
            name: name.to_string(),
            ts_us: T0_US + from_us + i as i64,
            received_us: T0_US + from_us,
            message_id: format!("m-{from_us}-{i}"),
            user_id: "u".into(),
            anonymous_id: String::new(),
            properties: r#"{"revenue": 12.5}"#.into(),
            context: "{}".into(),
        })
        .collect()
}

async fn append_then_scan_since_a_checkpoint(fixture: Fixture) {
    let owner = fixture.workspace("brand").await;
    let other = fixture.workspace("other").await;
    let ids = fixture.services.events.customers_for_user_ids(&owner, &["u".to_string()]).await.unwrap();
    let store = &fixture.services.stores.events;
    store.append(owner.workspace_id(), &events(ids[0], &["A", "B"], 1_000)).await.unwrap();
    store.append(other.workspace_id(), &events(ids[0], &["X"], 1_000)).await.unwrap();
    let mut seen = Vec::new();
    let (n, checkpoint) =
        store.scan_since(owner.workspace_id(), "", &mut |e| seen.push(e.name.to_string())).await.unwrap();
    assert_eq!((n, seen.as_slice()), (2, ["A".to_string(), "B".to_string()].as_slice()));
    store.append(owner.workspace_id(), &events(ids[0], &["C"], 2_000)).await.unwrap();
    let mut later = Vec::new();
    let (n, _) =
        store.scan_since(owner.workspace_id(), &checkpoint, &mut |e| later.push(e.name.to_string())).await.unwrap();
    assert_eq!((n, later), (1, vec!["C".to_string()]));
}

/// Users u0..u199, each with 30 sign-ups and 30 orders: 12,000 events, enough for a snapshot.
async fn two_hundred_customers(fixture: &Fixture) -> (Principal, Vec<siyu_core::CustomerId>) {
    let owner = fixture.workspace("brand").await;
    let users: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
    let ids = fixture.services.events.customers_for_user_ids(&owner, &users).await.unwrap();
    let batch: Vec<NewEvent> =
        ids.iter().flat_map(|id| events(*id, &["Signed Up", "Order Completed"].repeat(30), 1_000)).collect();
    fixture.services.events.append_events(&owner, &batch).await.unwrap();
    (owner, ids)
}

async fn the_index_restarts_from_its_snapshot_and_sees_other_writers(fixture: Fixture) {
    let (owner, ids) = two_hundred_customers(&fixture).await;
    let first = fixture.services.events.event_index(&owner).await.unwrap();
    assert_eq!(first.columns.event_count(), 12_000);
    let store = &fixture.services.stores.events;
    assert!(store.load_snapshot(owner.workspace_id()).await.unwrap().is_some(), "a full load saves a snapshot");

    // Events after the snapshot, from this process and from another one.
    fixture.services.events.append_events(&owner, &events(ids[1], &["Signed Up"], 9_000)).await.unwrap();
    let other = fixture.reopen().await;
    other.events.append_events(&owner, &events(ids[0], &["Coupon Applied"], 5_000)).await.unwrap();
    if fixture.postgres {
        // (The segment log tells other processes' files by their process id; this test has one.)
        let seen = fixture.services.events.event_index(&owner).await.unwrap();
        assert_eq!(seen.columns.event_count(), 12_002, "another writer's event is seen by the next query");
        assert!(seen.names.id("Coupon Applied").is_some());
    }
    // A restart loads the snapshot and reads the events after its checkpoint.
    let restarted = fixture.reopen().await.events.event_index(&owner).await.unwrap();
    assert_eq!(restarted.columns.event_count(), 12_002);
    let steps = vec!["Signed Up".to_string(), "Order Completed".to_string()];
    let none = FunnelOptions::default();
    let customers = |index: &siyu_domain::events::EventIndex| -> Vec<u64> {
        index.funnel(&steps, 3_600, &none).unwrap().steps.iter().map(|s| s.customers).collect()
    };
    assert_eq!(customers(&restarted), vec![200, 200]);
    assert_eq!(customers(&restarted), customers(&first));
}

async fn the_delta_folds_into_the_base_in_the_background(fixture: Fixture) {
    fixture.services.events.set_index_fold_events(50);
    let owner = fixture.workspace("brand").await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let ids = fixture.services.events.customers_for_user_ids(&owner, &users).await.unwrap();
    let batch = |from_us: i64| -> Vec<NewEvent> {
        ids.iter().flat_map(|id| events(*id, &["Signed Up", "Order Completed"], from_us)).collect()
    };
    fixture.services.events.append_events(&owner, &batch(0)).await.unwrap();
    assert_eq!(fixture.services.events.event_index(&owner).await.unwrap().columns.event_count(), 40);
    // Every query sees every event, while folds run behind it.
    for round in 1..=10 {
        fixture.services.events.append_events(&owner, &batch(round * 1_000)).await.unwrap();
        let index = fixture.services.events.event_index(&owner).await.unwrap();
        assert_eq!(index.columns.event_count(), 40 * (round as usize + 1), "round {round}");
    }
    // The queries asked for a fold; the `index.upkeep` worker's round does it.
    assert!(fixture.services.events.upkeep_indexes().await, "a fold was asked for");
    let index = fixture.services.events.event_index(&owner).await.unwrap();
    assert_eq!(index.columns.event_count(), 440);
    assert!(index.columns.base().event_count() > 40, "the tail was folded into a new base");
    let steps = vec!["Signed Up".to_string(), "Order Completed".to_string()];
    let none = FunnelOptions::default();
    let live = fixture.services.events.event_index(&owner).await.unwrap();
    let rebuilt = fixture.reopen().await.events.event_index(&owner).await.unwrap();
    assert_eq!(live.funnel(&steps, 3_600, &none).unwrap(), rebuilt.funnel(&steps, 3_600, &none).unwrap());
    assert_eq!(live.rfm(None, NOW_US).unwrap(), rebuilt.rfm(None, NOW_US).unwrap());
}

async fn a_fold_saves_a_snapshot_that_a_restart_starts_from(fixture: Fixture) {
    fixture.services.events.set_index_fold_events(1_000);
    let owner = fixture.workspace("brand").await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let ids = fixture.services.events.customers_for_user_ids(&owner, &users).await.unwrap();
    let batch = |from_us: i64, pairs: usize| -> Vec<NewEvent> {
        ids.iter().flat_map(|id| events(*id, &["Signed Up", "Order Completed"].repeat(pairs), from_us)).collect()
    };
    fixture.services.events.append_events(&owner, &batch(0, 300)).await.unwrap();
    assert_eq!(fixture.services.events.event_index(&owner).await.unwrap().columns.event_count(), 12_000);
    // 6,000 more: past the fold threshold, and more than an eighth of the base, so the fold saves
    // a snapshot of the new base.
    for round in 1..=3 {
        fixture.services.events.append_events(&owner, &batch(round * 1_000_000, 50)).await.unwrap();
        assert_eq!(
            fixture.services.events.event_index(&owner).await.unwrap().columns.event_count(),
            12_000 + 2_000 * round as usize
        );
    }
    assert!(fixture.services.events.upkeep_indexes().await, "a fold was asked for");
    let restarted = fixture.reopen().await.events.event_index(&owner).await.unwrap();
    assert!(restarted.columns.base().event_count() > 12_000, "a restart starts from the snapshot the fold saved");
    // It holds every event: the snapshot's, and the log's after its checkpoint (none twice).
    assert_eq!(restarted.columns.event_count(), 18_000);
    let live = fixture.services.events.event_index(&owner).await.unwrap();
    let steps = vec!["Signed Up".to_string(), "Order Completed".to_string()];
    let none = FunnelOptions::default();
    assert_eq!(live.funnel(&steps, 3_600, &none).unwrap(), restarted.funnel(&steps, 3_600, &none).unwrap());
    assert_eq!(live.rfm(None, NOW_US).unwrap(), restarted.rfm(None, NOW_US).unwrap());
}

async fn a_merge_moves_indexed_events_and_a_restart_moves_them_in_its_snapshot(fixture: Fixture) {
    let (owner, ids) = two_hundred_customers(&fixture).await;
    // One more event of u1, in the tail after the snapshot the first load saves.
    let first = fixture.services.events.event_index(&owner).await.unwrap();
    assert_eq!(first.columns.customer_count(), 200);
    fixture.services.events.append_events(&owner, &events(ids[1], &["Coupon Applied"], 9_000)).await.unwrap();
    // u0 and u1 turn out to be one person.
    let both: siyu_domain::customers::CustomerInput = serde_json::from_value(serde_json::json!({
        "identities": [{"type": "user_id", "value": "u0"}, {"type": "user_id", "value": "u1"}]
    }))
    .unwrap();
    let survivor = fixture.services.customers.upsert_customer(&owner, both).await.unwrap().id;
    let events_of = |index: &siyu_domain::events::EventIndex, id: siyu_core::CustomerId| {
        let mut n = 0;
        if let Some(unit) = index.columns.unit_of(id.0) {
            index.columns.for_each_customer(unit..unit + 1, |c| n = c.ts_us.len());
        }
        n
    };
    let merged = fixture.services.events.event_index(&owner).await.unwrap();
    assert_eq!(merged.columns.customer_count(), 199, "the next query sees the merge");
    assert_eq!(merged.columns.event_count(), 12_001);
    assert_eq!(events_of(&merged, survivor), 121);
    // A restart from the snapshot taken before the merge moves the events too.
    let restarted = fixture.reopen().await.events.event_index(&owner).await.unwrap();
    assert_eq!((restarted.columns.customer_count(), restarted.columns.event_count()), (199, 12_001));
    assert_eq!(events_of(&restarted, survivor), 121);
    let steps = vec!["Signed Up".to_string(), "Coupon Applied".to_string()];
    let none = FunnelOptions::default();
    assert_eq!(merged.funnel(&steps, 86_400, &none).unwrap(), restarted.funnel(&steps, 86_400, &none).unwrap());
    assert_eq!(merged.rfm(None, NOW_US).unwrap(), restarted.rfm(None, NOW_US).unwrap());
}

crate::contract!(
    append_then_scan_since_a_checkpoint,
    the_index_restarts_from_its_snapshot_and_sees_other_writers,
    the_delta_folds_into_the_base_in_the_background,
    a_fold_saves_a_snapshot_that_a_restart_starts_from,
    a_merge_moves_indexed_events_and_a_restart_moves_them_in_its_snapshot
);

async fn services_at(path: &std::path::Path, key: &siyu_core::crypto::SecretKey) -> Services {
    let stores = siyu_store::open(&siyu_store::Backend::Sqlite { path: path.to_path_buf() }).await.unwrap();
    Services::new(stores, key.clone(), std::sync::Arc::new(siyu_core::SystemClock))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loads_the_snapshot_and_the_events_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("siyu.db");
    let key = siyu_core::crypto::SecretKey::generate().unwrap();
    let first = services_at(&path, &key).await;
    let ws = first
        .access
        .create_workspace(&siyu_domain::access::workspaces::NewWorkspace::parse("brand", None, None, None).unwrap())
        .await
        .unwrap();
    let owner = Principal::cli(ws.id);
    let users: Vec<String> = (0..500).map(|i| format!("u{i}")).collect();
    let ids = first.events.customers_for_user_ids(&owner, &users).await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let mut batch = events(*id, &["Signed Up", "Order Completed"].repeat(12), i as i64 * 100);
        let plan = if i % 5 == 0 { "gold" } else { "basic" };
        batch.iter_mut().for_each(|e| e.properties = format!(r#"{{"revenue": 12.5, "plan": "{plan}"}}"#));
        first.events.append_events(&owner, &batch).await.unwrap();
    }
    let mut order = events(ids[1], &["Order Completed"], 50_000);
    order[0].properties = r#"{"order_id": "X", "revenue": 1000}"#.into();
    first.events.append_events(&owner, &order).await.unwrap();
    let steps = vec!["Signed Up".to_string(), "Order Completed".to_string()];
    let utc = jiff::tz::TimeZone::UTC;
    let none = FunnelOptions::default();
    let with_order = first.events.event_index(&owner).await.unwrap();
    assert_eq!(with_order.columns.event_count(), 12_001);
    assert!(first.stores.events.load_snapshot(ws.id).await.unwrap().is_some(), "a full load saves a snapshot");
    // Events after the snapshot: one of a new name, and a refund of an order inside the snapshot.
    let mut coupon = events(ids[0], &["Coupon Applied", "Signed Up"], 99_000);
    coupon[0].properties = r#"{"coupon": "618"}"#.into();
    first.events.append_events(&owner, &coupon).await.unwrap();
    let mut refund = events(ids[1], &["Order Refunded"], 60_000);
    refund[0].properties = r#"{"order_id": "X"}"#.into();
    first.events.append_events(&owner, &refund).await.unwrap();
    // A restart, before anything saved a newer snapshot: a new process state over the same files.
    let second = services_at(&path, &key).await;
    let restarted = second.events.event_index(&owner).await.unwrap();
    let expected = first.events.event_index(&owner).await.unwrap();
    assert_eq!(expected.columns.event_count(), 12_004);
    assert_eq!(
        with_order.kpis(&utc, None, NOW_US, &[]).unwrap().gmv_30d
            - expected.kpis(&utc, None, NOW_US, &[]).unwrap().gmv_30d,
        1000.0
    );
    assert_eq!(restarted.columns.event_count(), 12_004);
    assert_eq!(
        restarted.kpis(&utc, None, NOW_US, &[]).unwrap(),
        expected.kpis(&utc, None, NOW_US, &[]).unwrap(),
        "the refund after the snapshot applies"
    );
    assert_eq!(restarted.funnel(&steps, 3_600, &none).unwrap(), expected.funnel(&steps, 3_600, &none).unwrap());
    assert_eq!(restarted.rfm(None, NOW_US).unwrap(), expected.rfm(None, NOW_US).unwrap());
    assert!(restarted.names.id("Coupon Applied").is_some());
    // Properties survive the snapshot, and those first seen after it come from the tail.
    let by_plan = FunnelOptions { breakdown: Some("plan".into()), ..Default::default() };
    let groups = restarted.funnel(&steps, 3_600, &by_plan).unwrap().breakdown.unwrap().groups;
    let counts: Vec<(Option<String>, u64)> = groups.iter().map(|g| (g.value.clone(), g.customers[0])).collect();
    assert_eq!(counts, vec![(Some("basic".into()), 400), (Some("gold".into()), 100)]);
    assert_eq!(restarted.funnel(&steps, 3_600, &by_plan).unwrap(), expected.funnel(&steps, 3_600, &by_plan).unwrap());
    let coupon_618 =
        SegmentationOptions { filters: vec![parse_filter("filters", "coupon = 618").unwrap()], ..Default::default() };
    let applied = restarted
        .segmentation(&utc, Granularity::Month, &[SeriesSpec::from("Coupon Applied")], &coupon_618, Dates::all(NOW_US))
        .unwrap();
    assert_eq!(applied.series[0].counts.iter().sum::<u64>(), 1);

    // That restart saved a snapshot with the refund; events after it come from the log's tail.
    first.events.append_events(&owner, &events(ids[2], &["Signed Up"], 120_000)).await.unwrap();
    let fourth = services_at(&path, &key).await;
    let resumed = fourth.events.event_index(&owner).await.unwrap();
    assert_eq!(resumed.columns.event_count(), 12_005);
    assert_eq!(
        resumed.kpis(&utc, None, NOW_US, &[]).unwrap().gmv_30d,
        expected.kpis(&utc, None, NOW_US, &[]).unwrap().gmv_30d
    );

    // A damaged snapshot is ignored: the index comes from the whole log again.
    second.stores.events.save_snapshot(ws.id, b"not a snapshot".to_vec()).await.unwrap();
    let third = services_at(&path, &key).await;
    let rebuilt = third.events.event_index(&owner).await.unwrap();
    assert_eq!(rebuilt.funnel(&steps, 3_600, &by_plan).unwrap(), expected.funnel(&steps, 3_600, &by_plan).unwrap());
}
