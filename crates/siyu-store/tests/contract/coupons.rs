//! Coupons over a real store: claims held to the stock and the per-customer limit however they
//! interleave; redemption checked (threshold, channel, holder, window), idempotent by order and
//! never twice; refunds give the coupon back; expiry and reminders on time; bulk issues to a
//! segment in batches, held to the stock and without erased customers; every refusal counted.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::{CustomerId, ManualClock};
use siyu_domain::access::Principal;
use siyu_domain::campaigns::coupon_store::CouponStatus;
use siyu_domain::campaigns::{CampaignError, RedeemInput, TemplateInput};
use siyu_domain::segments::SegmentInput;
use siyu_domain::{DomainError, Services};
use std::sync::Arc;

contract!(
    claims_and_redemptions_follow_the_template_and_each_refusal_is_named,
    a_coupon_is_redeemed_once_however_redemptions_race,
    a_bulk_issue_gives_each_member_one_coupon_within_the_stock,
    a_grant_key_gives_a_coupon_or_draws_once_however_often_asked,
);

async fn customers(s: &Services, owner: &Principal, prefix: &str, n: usize) -> Vec<CustomerId> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    s.events.customers_for_user_ids(owner, &ids).await.unwrap()
}

fn template(json: serde_json::Value) -> TemplateInput {
    serde_json::from_value(json).unwrap()
}

fn redeem(code: &str, order: &str, amount_fen: i64) -> RedeemInput {
    RedeemInput {
        code: code.into(),
        order_id: order.into(),
        amount_fen,
        channel: Some("mini_program".into()),
        store: None,
        customer_id: None,
    }
}

async fn claims_and_redemptions_follow_the_template_and_each_refusal_is_named(f: Fixture) {
    let owner = f.workspace("brand").await;
    let other = f.workspace("other").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let s = f.reopen_with_clock(clock.clone()).await;
    let ids = customers(&s, &owner, "c", 4).await;
    let created = s
        .campaigns
        .create_coupon_template(
            &owner,
            template(serde_json::json!({
                "name": "满100减20", "benefit": {"kind": "threshold", "threshold_fen": 10000, "amount_fen": 2000},
                "stock": 3, "validity": {"kind": "days_after_issue", "days": 7}, "channels": ["mini_program"],
                "claimable": true, "remind_days_before": 2
            })),
        )
        .await
        .unwrap();
    let mut passes = Vec::new();
    for id in &ids {
        passes.push(pass(&s, &owner, *id).await);
    }
    // Four customers claim at once, each twice: three coupons exist, one each.
    let mut tasks = Vec::new();
    for p in passes.iter().chain(passes.iter()) {
        let (s, p, id) = (s.clone(), p.clone(), created.id);
        tasks.push(tokio::spawn(async move { s.campaigns.claim_coupon(&p, id).await }));
    }
    let mut coupons = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(coupon) => coupons.push(coupon),
            Err(DomainError::Campaigns(CampaignError::OutOfStock | CampaignError::ClaimLimitReached(1))) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(coupons.len(), 3);
    let mut holders: Vec<i64> = coupons.iter().map(|c| c.customer_id).collect();
    holders.dedup();
    holders.sort();
    holders.dedup();
    assert_eq!(holders.len(), 3, "one each");
    let coupon = &coupons[0];
    assert_eq!(coupon.code.len(), 14);
    assert_eq!(coupon.valid_until, coupon.issued_at + jiff::SignedDuration::from_hours(7 * 24));
    let holder_pass = passes.iter().find(|p| p.customer().0 == coupon.customer_id).unwrap();
    assert_eq!(s.campaigns.my_coupons(holder_pass).await.unwrap()[0].code, coupon.code);
    // Redemption refusals, each its own.
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "o-1", 9_999)).await),
        CampaignError::ThresholdNotMet(10_000)
    );
    let mut elsewhere = redeem(&coupon.code, "o-1", 12_000);
    elsewhere.channel = Some("store".into());
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&owner, &elsewhere).await),
        CampaignError::WrongChannel("store".into())
    );
    let mut someone_else = redeem(&coupon.code, "o-1", 12_000);
    someone_else.customer_id = Some(ids.iter().find(|c| c.0 != coupon.customer_id).unwrap().0);
    assert_eq!(refusal(s.campaigns.redeem_coupon(&owner, &someone_else).await), CampaignError::NotYours);
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&other, &redeem(&coupon.code, "o-1", 12_000)).await),
        CampaignError::CouponNotFound,
        "another workspace does not know the code"
    );
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&owner, &redeem("0000000000000A", "o-1", 12_000)).await),
        CampaignError::CouponNotFound
    );
    let bad = s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "", -1)).await;
    assert!(matches!(bad, Err(DomainError::Invalid(ref e)) if e.len() == 2), "{bad:?}");
    // Redeemed; the same order again answers the same; nothing else goes through.
    let done = s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "o-1", 12_000)).await.unwrap();
    assert_eq!((done.discount_fen, done.pay_fen, done.coupon.status), (2_000, 10_000, CouponStatus::Redeemed));
    let again = s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "o-1", 12_000)).await.unwrap();
    assert_eq!((again.coupon.id, again.discount_fen), (coupon.id, 2_000));
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "o-2", 12_000)).await),
        CampaignError::CouponRedeemed
    );
    assert_eq!(
        refusal(s.campaigns.redeem_coupon(&owner, &redeem(&coupons[1].code, "o-1", 12_000)).await),
        CampaignError::OrderUsed("o-1".into())
    );
    // Refunded: the coupon is usable again, on another order.
    let released = s.campaigns.release_coupon(&owner, "o-1").await.unwrap();
    assert_eq!(released.status, CouponStatus::Issued);
    s.campaigns.redeem_coupon(&owner, &redeem(&coupon.code, "o-2", 15_000)).await.unwrap();
    assert!(matches!(s.campaigns.release_coupon(&owner, "o-1").await, Err(DomainError::NotFound(_))));
    // Not claimable, and the customers' limit does not bind a grant.
    let plain = s
        .campaigns
        .create_coupon_template(
            &owner,
            template(serde_json::json!({"name": "立减5元", "benefit": {"kind": "fixed", "amount_fen": 500},
                "validity": {"kind": "days_after_issue", "days": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(refusal(s.campaigns.claim_coupon(&passes[0], plain.id).await), CampaignError::NotClaimable);
    for _ in 0..2 {
        s.campaigns.grant_coupon(&owner, plain.id, ids[0]).await.unwrap();
    }
    // Reminders two days before, then expiry, recorded as events.
    clock.advance(jiff::SignedDuration::from_hours(5 * 24 + 1));
    assert_eq!(
        s.campaigns.coupon_upkeep().await.unwrap(),
        2 + 2,
        "two granted expired, a reminder per unused claimed one"
    );
    clock.advance(jiff::SignedDuration::from_hours(2 * 24));
    s.campaigns.coupon_upkeep().await.unwrap();
    assert!(matches!(
        refusal(s.campaigns.redeem_coupon(&owner, &redeem(&coupons[1].code, "o-3", 20_000)).await),
        CampaignError::CouponExpired(_)
    ));
    s.campaigns.save_attempt_counts().await.unwrap();
    let view = s.campaigns.coupon_template(&owner, created.id).await.unwrap();
    assert_eq!((view.issued, view.claimed, view.redeemed, view.expired), (3, 3, 1, 2));
    assert_eq!((view.revenue_fen, view.discount_fen), (15_000, 2_000));
    assert!((view.redemption_rate - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(view.refusals["threshold-not-met"], 1, "{:?}", view.refusals);
    assert_eq!(view.refusals["coupon-already-redeemed"], 1, "{:?}", view.refusals);
    assert_eq!(view.refusals["coupon-expired"], 1, "{:?}", view.refusals);
    let mut names: Vec<(i64, String)> = Vec::new();
    let mut opener = s.events.event_opener(&owner, None).await.unwrap();
    s.stores
        .events
        .scan_since(owner.workspace_id(), "", &mut |e| {
            let opened = opener.open(e);
            let e = opened.view();
            names.push((e.customer.0, e.name.to_string()));
        })
        .await
        .unwrap();
    let (holder, unused) = (coupon.customer_id, coupons[1].customer_id);
    for (customer, name) in [
        (holder, "Coupon Issued"),
        (holder, "Coupon Redeemed"),
        (holder, "Coupon Released"),
        (unused, "Coupon Expiring"),
        (unused, "Coupon Expired"),
    ] {
        assert!(names.iter().any(|(c, n)| *c == customer && n == name), "{name} of {customer} missing from {names:?}");
    }
    // The customer's part of an export names the coupons; an erasure forgets them.
    let export = s.export_customer(&owner, CustomerId(coupon.customer_id)).await.unwrap();
    let exported = export["campaigns"]["coupons"].as_array().unwrap();
    assert!(exported.iter().any(|c| c["code"] == coupon.code.as_str()), "{export}");
    s.erase_customer(&owner, CustomerId(coupon.customer_id)).await.unwrap();
    assert_eq!(s.campaigns.coupon_template(&owner, created.id).await.unwrap().issued, 2);
}

async fn a_coupon_is_redeemed_once_however_redemptions_race(f: Fixture) {
    let owner = f.workspace("brand").await;
    let (one, two) = (f.services.clone(), f.reopen().await);
    let id = customers(&one, &owner, "c", 1).await[0];
    let created = one
        .campaigns
        .create_coupon_template(
            &owner,
            template(serde_json::json!({"name": "8折", "benefit": {"kind": "percent", "percent": 20, "cap_fen": 3000},
                "validity": {"kind": "days_after_issue", "days": 3}})),
        )
        .await
        .unwrap();
    let coupon = one.campaigns.grant_coupon(&owner, created.id, id).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..12 {
        let s = if n % 2 == 0 { one.clone() } else { two.clone() };
        let (owner, mut input) = (owner.clone(), redeem(&coupon.code, &format!("race-{}", n % 4), 50_000));
        input.channel = None;
        tasks.push(tokio::spawn(async move { s.campaigns.redeem_coupon(&owner, &input).await }));
    }
    let mut orders = std::collections::HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(done) => {
                assert_eq!(done.discount_fen, 3_000, "capped");
                orders.insert(done.coupon.order_id.unwrap());
            }
            Err(DomainError::Campaigns(CampaignError::CouponRedeemed)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(orders.len(), 1, "one order redeemed it: {orders:?}");
}

async fn a_bulk_issue_gives_each_member_one_coupon_within_the_stock(f: Fixture) {
    let owner = f.workspace("brand").await;
    let s = &f.services;
    let ids = customers(s, &owner, "m", 1_200).await;
    let everyone = SegmentInput {
        key: "everyone".into(),
        name: None,
        definition: None,
        text: Some("has_identity(\"user_id\")".into()),
    };
    s.segments.save_segment(&owner, &everyone, false).await.unwrap();
    let limited = s
        .campaigns
        .create_coupon_template(
            &owner,
            template(serde_json::json!({"name": "会员日", "benefit": {"kind": "free_shipping"}, "stock": 1000,
                "validity": {"kind": "dates", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}})),
        )
        .await
        .unwrap();
    let unlimited = s
        .campaigns
        .create_coupon_template(
            &owner,
            template(serde_json::json!({"name": "赠品", "benefit": {"kind": "gift", "sku": "cup", "title": "杯子"},
                "validity": {"kind": "days_after_issue", "days": 30}})),
        )
        .await
        .unwrap();
    let first = s.campaigns.issue_coupons(&owner, limited.id, "everyone").await.unwrap();
    let second = s.campaigns.issue_coupons(&owner, unlimited.id, "everyone").await.unwrap();
    assert_eq!((first.total, first.status.as_str()), (1_200, "running"));
    // An erased customer gets nothing from the issue still running.
    s.erase_customer(&owner, ids[5]).await.unwrap();
    let mut rounds = 0;
    while s.campaigns.run_coupon_issue("worker-a").await.unwrap() {
        rounds += 1;
        assert!(rounds < 100, "the issues never end");
    }
    let first = s.campaigns.coupon_issue(&owner, first.id).await.unwrap();
    assert_eq!((first.issued, first.status.as_str()), (1_000, "out_of_stock"));
    let second = s.campaigns.coupon_issue(&owner, second.id).await.unwrap();
    assert_eq!((second.issued, second.status.as_str()), (1_199, "done"));
    assert!(second.finished_at.is_some());
    assert_eq!(s.campaigns.coupon_template(&owner, limited.id).await.unwrap().issued, 1_000);
    assert!(s.campaigns.customer_coupons(&owner, ids[5]).await.is_err(), "erased");
    assert_eq!(s.campaigns.customer_coupons(&owner, ids[7]).await.unwrap().len(), 2);
    // A segment that does not exist, a template that does not.
    let Err(DomainError::Invalid(errors)) = s.campaigns.issue_coupons(&owner, unlimited.id, "nobody").await else {
        panic!()
    };
    assert_eq!(errors[0].field, "segment");
    assert!(matches!(s.campaigns.issue_coupons(&owner, 999_999, "everyone").await, Err(DomainError::NotFound(_))));
}

/// What a journey's actions lean on: a coupon, or lottery draws, given under a grant key are given
/// once, however often (and from however many processes) the grant is asked for again.
async fn a_grant_key_gives_a_coupon_or_draws_once_however_often_asked(f: Fixture) {
    let owner = f.workspace("brand").await;
    let s = &f.services;
    let ws = owner.workspace_id();
    let holder = customers(s, &owner, "g", 1).await[0];
    let template: TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "入会券", "benefit": {"kind": "fixed", "amount_fen": 500}, "stock": 5,
        "validity": {"kind": "days_after_issue", "days": 7}
    }))
    .unwrap();
    let template = s.campaigns.create_coupon_template(&owner, template).await.unwrap().id;
    let now = s.now();
    let terms = |key: &str| siyu_domain::campaigns::coupon_store::CouponTerms {
        source: "journey",
        issued_at: now,
        valid_from: now,
        valid_until: now + jiff::SignedDuration::from_hours(24),
        remind_at: None,
        grant_key: Some(key.to_string()),
    };
    let other = f.reopen().await;
    let keyed = terms("journey:1:1:coupon:9");
    let (a, b) = tokio::join!(
        s.stores.coupons.claim(ws, template, None, holder, &keyed),
        other.stores.coupons.claim(ws, template, None, holder, &keyed),
    );
    use siyu_domain::campaigns::coupon_store::Claimed;
    let ids: Vec<i64> = [a, b]
        .into_iter()
        .filter_map(|r| match r {
            Ok(Claimed::Issued(c) | Claimed::Already(c)) => Some(c.id),
            // The loser of a race between processes is refused, and its retry finds the first.
            Err(siyu_core::StoreError::Conflict(_)) => None,
            other => panic!("{other:?}"),
        })
        .collect();
    let again = s.stores.coupons.claim(ws, template, None, holder, &keyed).await.unwrap();
    let Claimed::Already(first) = again else { panic!("{again:?}") };
    assert!(ids.iter().all(|id| *id == first.id), "{ids:?} vs {}", first.id);
    assert_eq!(s.campaigns.coupon_template(&owner, template).await.unwrap().issued, 1, "one coupon for the key");
    // Another key gives another coupon.
    let next = s.stores.coupons.claim(ws, template, None, holder, &terms("journey:1:1:coupon:10")).await.unwrap();
    assert!(matches!(next, Claimed::Issued(c) if c.id != first.id));

    let lottery: siyu_domain::campaigns::lottery::LotteryInput = serde_json::from_value(serde_json::json!({
        "name": "抽奖", "starts_at": now.to_string(), "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 1}], "no_prize_weight": 1, "total": 1,
    }))
    .unwrap();
    let lottery = s.campaigns.create_lottery(&owner, lottery).await.unwrap().id;
    let lotteries = &s.stores.lotteries;
    assert!(lotteries.add_chances(ws, lottery, holder, 2, Some("journey:1:1:draws:9")).await.unwrap());
    assert!(!lotteries.add_chances(ws, lottery, holder, 2, Some("journey:1:1:draws:9")).await.unwrap());
    // A key is the workspace's: the same text used for a coupon is not given again as draws.
    assert!(!lotteries.add_chances(ws, lottery, holder, 2, Some("journey:1:1:coupon:9")).await.unwrap());
    assert!(lotteries.add_chances(ws, lottery, holder, 1, None).await.unwrap());
    assert_eq!(lotteries.player(ws, lottery, holder).await.unwrap().extra, 3);
    // The grants are the customer's: erased with them (the key is free again).
    s.erase_customer(&owner, holder).await.unwrap();
    let next = customers(s, &owner, "h", 1).await[0];
    assert!(lotteries.add_chances(ws, lottery, next, 2, Some("journey:1:1:draws:9")).await.unwrap());
}
