//! Built-in models over a real store: settings saved and refused whole, "no order data" before any
//! order, stages, tiers, recall list and LTV from appended events, and a customer's models.

use crate::Fixture;
use siyu_core::{CustomerId, PageRequest};
use siyu_domain::DomainError;
use siyu_domain::access::Principal;
use siyu_domain::events::{EventKind, NewEvent};
use siyu_domain::models::LtvStatus;
use siyu_domain::models::ModelError;
use siyu_domain::models::ModelSettings;

const DAY_US: i64 = 86_400_000_000;

fn event(customer: CustomerId, name: &str, ts_us: i64, n: usize) -> NewEvent {
    NewEvent {
        customer,
        kind: EventKind::Track,
        name: name.into(),
        ts_us,
        received_us: ts_us,
        message_id: format!("m-{}-{ts_us}-{n}", customer.0),
        user_id: format!("u{}", customer.0),
        anonymous_id: String::new(),
        properties: r#"{"revenue": 50}"#.into(),
        context: "{}".into(),
    }
}

async fn customers(fixture: &Fixture, owner: &Principal, n: usize) -> Vec<CustomerId> {
    let ids: Vec<String> = (0..n).map(|i| format!("user-{i}")).collect();
    fixture.services.events.customers_for_user_ids(owner, &ids).await.unwrap()
}

async fn settings_are_checked_whole_and_no_orders_is_a_clear_answer(fixture: Fixture) {
    let owner = fixture.workspace("brand").await;
    let s = &fixture.services;
    assert_eq!(s.models.model_settings(&owner).await.unwrap(), ModelSettings::default());
    let bad = ModelSettings { churn_days: -1, dormant_days: 90, churned_days: 30, ..ModelSettings::default() };
    let Err(DomainError::Invalid(errors)) = s.models.set_model_settings(&owner, &bad).await else { panic!("refused") };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["churn_days", "churned_days"]);
    assert_eq!(s.models.model_settings(&owner).await.unwrap(), ModelSettings::default(), "nothing half-applied");
    let good = ModelSettings { churn_days: 14, ..ModelSettings::default() };
    s.models.set_model_settings(&owner, &good).await.unwrap();
    assert_eq!(s.models.model_settings(&owner).await.unwrap().churn_days, 14);

    // Views only: lifecycle works, RFM and LTV say there is no order data.
    let ids = customers(&fixture, &owner, 2).await;
    let now = s.now().as_microsecond();
    s.events.append_events(&owner, &[event(ids[0], "Page Viewed", now - 20 * DAY_US, 0)]).await.unwrap();
    let summary = s.models.models_summary(&owner).await.unwrap();
    assert_eq!((summary.customers, summary.buyers, summary.recall), (1, 0, 1));
    assert!(summary.no_order_data.unwrap().starts_with("no order data"));
    assert!(matches!(s.models.rfm_model(&owner).await, Err(DomainError::Models(ModelError::NoOrderData))));
    assert!(matches!(s.models.ltv_model(&owner).await, Err(DomainError::Models(ModelError::NoOrderData))));
}

async fn models_follow_behaviour(fixture: Fixture) {
    let owner = fixture.workspace("brand").await;
    let s = &fixture.services;
    let ids = customers(&fixture, &owner, 300).await;
    let now = s.now().as_microsecond();
    let mut events = Vec::new();
    // A deterministic mix: customer i orders (i % 7) times, the last order (i % 200) days ago,
    // spread a week apart; every customer viewed a page 400 days ago.
    for (i, id) in ids.iter().enumerate() {
        events.push(event(*id, "Page Viewed", now - 400 * DAY_US, 0));
        let last = (i % 200) as i64;
        for k in 0..(i % 7) {
            events.push(event(*id, "Order Completed", now - (last + 7 * k as i64) * DAY_US, k + 1));
        }
    }
    s.events.append_events(&owner, &events).await.unwrap();
    let summary = s.models.run_models(&owner, None).await.unwrap();
    assert_eq!(summary.models.customers.len(), 300);
    // Customers 0, 7, 14, … have no order: their last interaction is the view 400 days ago.
    let c0 = s.models.customer_model(&owner, ids[0]).await.unwrap().unwrap();
    assert_eq!((c0.stage.key.as_str(), c0.tier.as_ref(), c0.rfm), ("churned", None, None));
    assert!(c0.recall_since.is_some());
    // Customer 6: 6 orders, the last 6 days ago: mature, VIP (same order value as everyone, at the median).
    let c6 = s.models.customer_model(&owner, ids[6]).await.unwrap().unwrap();
    assert_eq!((c6.stage.key.as_str(), c6.tier.unwrap().key.as_str(), c6.orders), ("mature", "vip", 6));
    assert_eq!(c6.recency_days, Some(6));
    assert!(c6.recall_since.is_none());
    assert_eq!(c6.rfm_class.unwrap().key, "important_value");
    // Everyone here buys exactly once a week: the purchase rate has no spread, so the BG/NBD
    // likelihood keeps growing as r and α run to infinity. The fit says it did not converge and
    // predicts nothing (no LTV, no churn risk) rather than answering from a plateau.
    let fit = s.models.ltv_model(&owner).await.unwrap();
    assert_eq!((fit.status, fit.customers), (LtvStatus::NotConverged, 0), "{fit:?}");
    assert!(fit.problem.as_deref().unwrap().starts_with("the fit did not converge"), "{fit:?}");
    assert!(c6.ltv.is_none() && c6.churn_risk.is_none(), "{:?}", c6.ltv);

    let rfm = s.models.rfm_model(&owner).await.unwrap();
    assert_eq!(rfm.classes.len(), 8);
    assert_eq!(rfm.classes.iter().map(|c| c.customers).sum::<u64>(), rfm.buyers);
    assert_eq!(rfm.heatmap.iter().map(|c| c.customers).sum::<u64>(), rfm.buyers);

    // The recall list: customers idle 30 days or more, healthiest first, paged without overlap.
    let (total, first) = s.models.recall_list(&owner, PageRequest::first(10)).await.unwrap();
    let expected = summary.models.customers.iter().filter(|c| c.recall_since_us.is_some()).count() as u64;
    assert_eq!(total, expected);
    let (_, second) = s.models.recall_list(&owner, PageRequest { limit: 10, after: first.next_after }).await.unwrap();
    assert!(first.items.windows(2).all(|w| w[0].health >= w[1].health));
    assert!(first.items.last().unwrap().health >= second.items[0].health);
    assert!(first.items.iter().all(|a| second.items.iter().all(|b| a.customer_id != b.customer_id)));

    let ltv = s.models.ltv_model(&owner).await.unwrap();
    assert_eq!(ltv.value_deciles.len(), 10);
    assert!(ltv.bgnbd["r"].as_f64().unwrap() > 0.0);

    // Stages a year ago: customers who had not ordered yet were growing or new, not churned.
    let flows =
        s.models.lifecycle_flows(&owner, s.now() - jiff::SignedDuration::from_hours(24 * 300), s.now()).await.unwrap();
    assert_eq!(flows.iter().map(|f| f.customers).sum::<u64>(), 300);
    assert!(flows.iter().any(|f| f.from != f.to), "{flows:?}");
}

crate::contract!(settings_are_checked_whole_and_no_orders_is_a_clear_answer, models_follow_behaviour);
