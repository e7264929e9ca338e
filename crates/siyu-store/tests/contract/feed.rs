//! The change feed over a real store: each slice publishes what it made durable, typed, once, in
//! order — profiles created, changed, merged, deleted; consent changed; events appended; segment
//! entries — and a subscriber that drops its handle hears nothing more.

use crate::Fixture;
use serde_json::json;
use siyu_core::{CustomerId, WorkspaceId};
use siyu_domain::customers::{ConsentChange, CustomerChange, CustomerChanges, CustomerInput};
use siyu_domain::events::{EventChange, EventChanges, EventKind, NewEvent};
use siyu_domain::feed::Subscriber;
use siyu_domain::segments::{SegmentChange, SegmentChanges, SegmentInput};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Heard(Mutex<Vec<String>>);

impl Heard {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Subscriber<CustomerChanges> for Heard {
    fn changed(&self, _: WorkspaceId, change: &CustomerChange<'_>) {
        self.0.lock().unwrap().push(format!("{change:?}"));
    }
}

impl Subscriber<EventChanges> for Heard {
    fn changed(&self, _: WorkspaceId, change: &EventChange<'_>) {
        let EventChange::Appended { events, positioned } = change;
        let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
        if let Some(positioned) = positioned {
            assert!(positioned.len() <= events.len(), "behaviour events have their place in the index");
        }
        self.0.lock().unwrap().push(format!("Appended({names:?})"));
    }
}

impl Subscriber<SegmentChanges> for Heard {
    fn changed(&self, _: WorkspaceId, change: &SegmentChange<'_>) {
        let SegmentChange::Membership { segment, entered, exited } = change;
        self.0.lock().unwrap().push(format!("Membership({segment}, {entered:?}, {exited:?})"));
    }
}

fn input(value: serde_json::Value) -> CustomerInput {
    serde_json::from_value(value).unwrap()
}

async fn slices_publish_what_they_made_durable(f: Fixture) {
    let owner = f.workspace("brand").await;
    let s = &f.services;
    let heard = Arc::new(Heard::default());
    let customers: Arc<dyn Subscriber<CustomerChanges>> = heard.clone();
    let events: Arc<dyn Subscriber<EventChanges>> = heard.clone();
    let segments: Arc<dyn Subscriber<SegmentChanges>> = heard.clone();
    s.customers.feed.subscribe(&customers);
    s.events.feed.subscribe(&events);
    s.segments.feed.subscribe(&segments);

    let a =
        s.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "user_id", "value": "a"}]}))).await;
    let a = a.unwrap().id;
    assert_eq!(heard.take(), [format!("Created([{a:?}])")]);
    let b =
        s.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "phone", "value": "13800138000"}]})));
    let b = b.await.unwrap().id;
    s.customers.update_customer(&owner, a, input(json!({"traits": {"city": "上海"}}))).await.unwrap();
    assert_eq!(heard.take(), [format!("Created([{b:?}])"), format!("Changed([{a:?}])")]);
    // Naming both identities merges the newer profile into the older one.
    let both = json!({"identities": [{"type": "user_id", "value": "a"}, {"type": "phone", "value": "13800138000"}]});
    s.customers.upsert_customer(&owner, input(both)).await.unwrap();
    assert_eq!(heard.take(), [format!("Merged([({b:?}, {a:?})])"), format!("Changed([{a:?}])")]);
    let grant = ConsentChange {
        purpose: "marketing".into(),
        channel: "sms".into(),
        granted: true,
        source: None,
        policy_version: "v1".into(),
    };
    s.customers.change_consent(&owner, a, vec![grant]).await.unwrap();
    assert_eq!(heard.take(), [format!("ConsentChanged({a:?})")]);

    let now = s.now().as_microsecond();
    let order = NewEvent {
        customer: a,
        kind: EventKind::Track,
        name: "Order Completed".into(),
        ts_us: now,
        received_us: now,
        message_id: "m-1".into(),
        user_id: String::new(),
        anonymous_id: String::new(),
        properties: "{}".into(),
        context: "{}".into(),
    };
    s.events.append_events(&owner, &[order]).await.unwrap();
    assert_eq!(heard.take(), ["Appended([\"Order Completed\"])"]);

    // A new segment's first members are entries: recorded as events, then published.
    let segment = SegmentInput {
        key: "buyers".into(),
        name: None,
        definition: None,
        text: Some("did(\"Order Completed\")".into()),
    };
    s.segments.save_segment(&owner, &segment, false).await.unwrap();
    // The segment's first pass records its entries before the save returns.
    let heard_now = heard.take();
    assert!(heard_now.contains(&"Appended([\"Segment Entered\"])".to_string()), "{heard_now:?}");
    assert!(heard_now.contains(&format!("Membership(buyers, [{a:?}], [])")), "{heard_now:?}");
    let entered_at = heard_now.iter().position(|h| h.contains("Segment Entered"));
    let published_at = heard_now.iter().position(|h| h.starts_with("Membership"));
    assert!(entered_at < published_at, "the entry is durable before it is published: {heard_now:?}");

    s.erase_customer(&owner, a).await.unwrap();
    let after_delete = heard.take();
    assert_eq!(after_delete.first(), Some(&format!("Deleted({a:?})")), "{after_delete:?}");

    // Dropping the subscriber's handles ends its subscription.
    drop((customers, events, segments));
    drop(heard);
    let c = s.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "user_id", "value": "c"}]})));
    assert_ne!(c.await.unwrap().id, CustomerId(0));
}

crate::contract!(slices_publish_what_they_made_durable);
