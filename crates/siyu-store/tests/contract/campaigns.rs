//! Flash sales over a real store: never more sold than the stock nor more than the limit to one
//! customer, whatever interleaves (tasks on two service instances, as two processes or nodes);
//! unpaid orders released on time and paid ones kept; each refusal its own error, counted; a
//! customer's orders exported and erased.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::{Clock, CustomerId, ManualClock};
use siyu_domain::access::Principal;
use siyu_domain::campaigns::store::OrderStatus;
use siyu_domain::campaigns::{CampaignError, FlashSaleInput, TokenInput};
use siyu_domain::segments::SegmentInput;
use siyu_domain::{DomainError, Services};
use std::collections::HashSet;
use std::sync::Arc;

contract!(
    a_flash_sale_sells_its_stock_once_to_distinct_customers_under_concurrency,
    unpaid_orders_are_released_on_time_and_paid_ones_stay_sold,
    every_refusal_is_its_own_error_and_is_counted,
);

fn sale(stock: i64, per_customer: i64, now: jiff::Timestamp) -> FlashSaleInput {
    FlashSaleInput {
        name: "双十二".into(),
        sku: "tea-oolong-250".into(),
        title: "乌龙 250 g".into(),
        price_fen: 990,
        stock,
        starts_at: (now - jiff::SignedDuration::from_mins(1)).to_string(),
        ends_at: (now + jiff::SignedDuration::from_hours(2)).to_string(),
        per_customer: Some(per_customer),
        segment: None,
        pay_minutes: Some(15),
    }
}

async fn customers(s: &Services, owner: &Principal, prefix: &str, n: usize) -> Vec<CustomerId> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    s.events.customers_for_user_ids(owner, &ids).await.unwrap()
}

async fn a_flash_sale_sells_its_stock_once_to_distinct_customers_under_concurrency(f: Fixture) {
    let owner = f.workspace("brand").await;
    let (one, two) = (f.services.clone(), f.reopen().await);
    let ids = customers(&one, &owner, "buyer", 60).await;
    for (stock, per_customer) in [(25, 1), (25, 2)] {
        let created = one.campaigns.create_flash_sale(&owner, sale(stock, per_customer, one.now())).await.unwrap();
        let mut passes = Vec::new();
        for id in &ids {
            passes.push(pass(&one, &owner, *id).await);
        }
        // Every customer tries three times at once, through both service instances.
        let mut tasks = Vec::new();
        for (n, pass) in passes.iter().enumerate() {
            for attempt in 0..3 {
                let services = if (n + attempt) % 2 == 0 { one.clone() } else { two.clone() };
                let pass = pass.clone();
                tasks.push(tokio::spawn(async move { services.campaigns.purchase(&pass, created.id).await }));
            }
        }
        let mut bought = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(order) => bought.push(order.customer_id),
                Err(DomainError::Campaigns(CampaignError::SoldOut | CampaignError::LimitReached(_))) => {}
                Err(other) => panic!("unexpected refusal: {other}"),
            }
        }
        assert_eq!(bought.len() as i64, stock, "exactly the stock is sold (limit {per_customer})");
        for customer in &bought {
            let held = bought.iter().filter(|c| *c == customer).count() as i64;
            assert!(held <= per_customer, "customer {customer} holds {held} of at most {per_customer}");
        }
        let view = one.campaigns.flash_sale(&owner, created.id).await.unwrap();
        assert_eq!((view.sold, view.reserved), (stock, stock));
        assert_eq!(view.buyers as usize, bought.iter().collect::<HashSet<_>>().len());
        // A later attempt is told at once, by either instance.
        let late = customers(&one, &owner, &format!("late-{stock}-{per_customer}"), 1).await[0];
        let late = pass(&one, &owner, late).await;
        assert_eq!(refusal(two.campaigns.purchase(&late, created.id).await), CampaignError::SoldOut);
        assert_eq!(refusal(one.campaigns.purchase(&late, created.id).await), CampaignError::SoldOut);
        // A restart knows the buyers: a second purchase is refused from what was stored.
        let restarted = f.reopen().await;
        let first = passes.iter().find(|p| p.customer().0 == bought[0]).unwrap();
        let again = refusal(restarted.campaigns.purchase(first, created.id).await);
        assert!(matches!(again, CampaignError::SoldOut | CampaignError::LimitReached(_)), "{again:?}");
    }
}

async fn unpaid_orders_are_released_on_time_and_paid_ones_stay_sold(f: Fixture) {
    let owner = f.workspace("brand").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let s = f.reopen_with_clock(clock.clone()).await;
    let ids = customers(&s, &owner, "c", 3).await;
    let created = s.campaigns.create_flash_sale(&owner, sale(2, 1, clock.now())).await.unwrap();
    let (a, b, c) = (pass(&s, &owner, ids[0]).await, pass(&s, &owner, ids[1]).await, pass(&s, &owner, ids[2]).await);
    let order_a = s.campaigns.purchase(&a, created.id).await.unwrap();
    let order_b = s.campaigns.purchase(&b, created.id).await.unwrap();
    assert_eq!(order_a.status, OrderStatus::Reserved);
    assert_eq!(order_a.pay_by, order_a.created_at + jiff::SignedDuration::from_mins(15));
    assert_eq!(refusal(s.campaigns.purchase(&c, created.id).await), CampaignError::SoldOut);
    let paid = s.campaigns.pay_order(&owner, created.id, order_a.id, Some("wx-4200001")).await.unwrap();
    assert_eq!((paid.status, paid.payment_ref.as_deref()), (OrderStatus::Paid, Some("wx-4200001")));
    let again = s.campaigns.pay_order(&owner, created.id, order_a.id, Some("wx-other")).await.unwrap();
    assert_eq!(again.payment_ref.as_deref(), Some("wx-4200001"), "paying twice changes nothing");
    // Not yet due: nothing released.
    clock.advance(jiff::SignedDuration::from_mins(14));
    assert_eq!(s.campaigns.release_unpaid().await.unwrap(), 0);
    clock.advance(jiff::SignedDuration::from_mins(2));
    assert_eq!(s.campaigns.release_unpaid().await.unwrap(), 1, "B's order was not paid");
    let view = s.campaigns.flash_sale(&owner, created.id).await.unwrap();
    assert_eq!((view.sold, view.paid, view.reserved, view.released, view.buyers), (1, 1, 0, 1, 1));
    let late = s.campaigns.pay_order(&owner, created.id, order_b.id, None).await;
    assert!(matches!(late, Err(DomainError::Conflict(_))), "{late:?}");
    // The released unit is on sale again, here at once; B may buy again.
    s.campaigns.purchase(&c, created.id).await.unwrap();
    assert_eq!(refusal(s.campaigns.purchase(&b, created.id).await), CampaignError::SoldOut);
    assert_eq!(refusal(s.campaigns.purchase(&a, created.id).await), CampaignError::LimitReached(1));
    let orders = s.campaigns.sale_orders(&owner, created.id, None, 10).await.unwrap();
    assert_eq!(orders.len(), 3);
    // The events say what happened.
    let export = s.export_customer(&owner, ids[1]).await.unwrap();
    let held = &export["campaigns"]["flash_sale_orders"];
    assert_eq!(held.as_array().unwrap().len(), 1, "{export}");
    assert_eq!(held[0]["status"], "released");
    // Erasing C gives back the unit their unpaid order held.
    s.erase_customer(&owner, ids[2]).await.unwrap();
    let view = s.campaigns.flash_sale(&owner, created.id).await.unwrap();
    assert_eq!((view.sold, view.reserved), (1, 0));
    assert_eq!(s.export_customer(&owner, ids[1]).await.unwrap()["campaigns"]["flash_sale_orders"][0]["id"], order_b.id);
}

async fn every_refusal_is_its_own_error_and_is_counted(f: Fixture) {
    let owner = f.workspace("brand").await;
    let other = f.workspace("other").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let s = f.reopen_with_clock(clock.clone()).await;
    let ids = customers(&s, &owner, "c", 3).await;
    s.customers.create_tag_group(&owner, "价值", "consumption_preference").await.unwrap();
    s.customers.create_tag(&owner, "价值", "VIP").await.unwrap();
    s.customers.add_tags(&owner, ids[0], &["VIP".to_string()], "manual").await.unwrap();
    let vip = SegmentInput { key: "vip".into(), name: None, definition: None, text: Some("tag(\"VIP\")".into()) };
    s.segments.save_segment(&owner, &vip, false).await.unwrap();
    let mut input = sale(5, 1, clock.now());
    input.starts_at = (clock.now() + jiff::SignedDuration::from_mins(10)).to_string();
    input.segment = Some("vip".into());
    let created = s.campaigns.create_flash_sale(&owner, input).await.unwrap();
    let (vip_pass, plain) = (pass(&s, &owner, ids[0]).await, pass(&s, &owner, ids[1]).await);
    assert!(matches!(refusal(s.campaigns.purchase(&vip_pass, created.id).await), CampaignError::NotStarted(_)));
    clock.advance(jiff::SignedDuration::from_mins(11));
    assert_eq!(refusal(s.campaigns.purchase(&plain, created.id).await), CampaignError::NotEligible("vip".into()));
    s.campaigns.purchase(&vip_pass, created.id).await.unwrap();
    assert_eq!(refusal(s.campaigns.purchase(&vip_pass, created.id).await), CampaignError::LimitReached(1));
    clock.advance(jiff::SignedDuration::from_hours(3));
    assert!(matches!(refusal(s.campaigns.purchase(&vip_pass, created.id).await), CampaignError::Ended(_)));
    // Another workspace's customer does not reach this sale.
    let stranger = customers(&s, &other, "x", 1).await[0];
    let stranger = pass(&s, &other, stranger).await;
    assert!(matches!(s.campaigns.purchase(&stranger, created.id).await, Err(DomainError::NotFound(_))));
    // Tokens: forged, expired, absent.
    let token = s.campaigns.customer_token(&owner, ids[2], &TokenInput { ttl_seconds: Some(60) }).await.unwrap();
    let forged = token.token.replacen(&format!(".{}.", ids[2].0), &format!(".{}.", ids[0].0), 1);
    assert_eq!(refusal(s.campaigns.authenticate(Some(&forged), None).await), CampaignError::TokenInvalid);
    assert_eq!(refusal(s.campaigns.authenticate(None, None).await), CampaignError::TokenInvalid);
    clock.advance(jiff::SignedDuration::from_secs(61));
    assert!(matches!(
        refusal(s.campaigns.authenticate(Some(&token.token), None).await),
        CampaignError::TokenExpired(_)
    ));
    let bad = s.campaigns.customer_token(&owner, ids[2], &TokenInput { ttl_seconds: Some(10) }).await;
    assert!(matches!(bad, Err(DomainError::Invalid(ref e)) if e[0].field == "ttl_seconds"), "{bad:?}");
    assert!(matches!(
        s.campaigns.customer_token(&owner, CustomerId(999_999), &TokenInput::default()).await,
        Err(DomainError::NotFound(_))
    ));
    // Counted, and saved.
    s.campaigns.save_attempt_counts().await.unwrap();
    let view = s.campaigns.flash_sale(&owner, created.id).await.unwrap();
    let a = &view.attempts;
    assert_eq!((a.attempts, a.closed, a.not_eligible, a.limit_reached, a.sold_out), (5, 2, 1, 1, 0));
    assert_eq!(s.campaigns.refusals().1, 3, "three bad tokens");
    // A sale with a segment that does not exist is refused, naming the field.
    let mut input = sale(5, 1, clock.now());
    input.segment = Some("nope".into());
    let Err(DomainError::Invalid(errors)) = s.campaigns.create_flash_sale(&owner, input).await else { panic!() };
    assert_eq!(errors[0].field, "segment");
}
