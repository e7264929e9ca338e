//! Lotteries over a real store: draws race from two service instances and no prize is given past
//! its stock nor a customer past a limit; refusals are named and counted; extra chances raise the
//! total; a prize's coupon is issued; after the close the seed is revealed and every draw verifies.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::ManualClock;
use siyu_domain::DomainError;
use siyu_domain::campaigns::CampaignError;
use siyu_domain::campaigns::lotteries::ChancesInput;
use siyu_domain::campaigns::lottery::{self, DrawOutcome, LotteryInput};
use std::sync::Arc;

contract!(draws_never_give_a_prize_past_its_stock_and_every_draw_verifies_after_the_close);

async fn draws_never_give_a_prize_past_its_stock_and_every_draw_verifies_after_the_close(f: Fixture) {
    let owner = f.workspace("brand").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let one = f.reopen_with_clock(clock.clone()).await;
    let two = f.reopen_with_clock(clock.clone()).await;
    let ids: Vec<String> = (0..40).map(|i| format!("p-{i}")).collect();
    let ids = one.events.customers_for_user_ids(&owner, &ids).await.unwrap();
    let template: siyu_domain::campaigns::TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "奖品券", "benefit": {"kind": "fixed", "amount_fen": 500}, "validity": {"kind": "days_after_issue", "days": 7}
    }))
    .unwrap();
    let template = one.campaigns.create_coupon_template(&owner, template).await.unwrap();
    let now = siyu_core::Clock::now(clock.as_ref());
    let input: LotteryInput = serde_json::from_value(serde_json::json!({
        "name": "年终抽奖",
        "starts_at": now.to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(24)).to_string(),
        "prizes": [
            {"key": "grand", "name": "一年茶饮", "weight": 30, "stock": 3, "coupon_template": template.id},
            {"key": "cup", "name": "杯子", "weight": 30, "stock": 5}
        ],
        "no_prize_weight": 40, "per_day": 2, "total": 3
    }))
    .unwrap();
    let created = one.campaigns.create_lottery(&owner, input).await.unwrap();
    assert_eq!(created.seed_hash.len(), 64);
    assert!(created.seed.is_none(), "the seed stays secret until the close");
    let mut passes = Vec::new();
    for id in &ids {
        passes.push(pass(&one, &owner, *id).await);
    }
    // Every customer draws three times at once today (two allowed), through both instances.
    let mut tasks = Vec::new();
    for (n, p) in passes.iter().enumerate() {
        for attempt in 0..3 {
            let s = if (n + attempt) % 2 == 0 { one.clone() } else { two.clone() };
            let (p, id) = (p.clone(), created.id);
            tasks.push(tokio::spawn(async move { s.campaigns.draw(&p, id).await }));
        }
    }
    let (mut drawn, mut won) = (0, Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(draw) => {
                drawn += 1;
                if draw.outcome == DrawOutcome::Won {
                    won.push(draw.prize.clone().unwrap());
                    assert_eq!(draw.coupon_code.is_some(), draw.prize.as_deref() == Some("grand"));
                }
            }
            Err(DomainError::Campaigns(CampaignError::DailyDrawLimit(2))) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(drawn, 80, "two draws each today");
    assert!(won.iter().filter(|p| *p == "grand").count() <= 3);
    assert!(won.iter().filter(|p| *p == "cup").count() <= 5);
    // Tomorrow one more each (three in all), then none; an extra chance gives one more.
    clock.advance(jiff::SignedDuration::from_hours(24) - jiff::SignedDuration::from_secs(1));
    one.campaigns.draw(&passes[0], created.id).await.unwrap();
    assert_eq!(refusal(one.campaigns.draw(&passes[0], created.id).await), CampaignError::NoDrawsLeft);
    let chance = ChancesInput { customer_id: ids[0].0, chances: 1 };
    one.campaigns.grant_chances(&owner, created.id, &chance).await.unwrap();
    one.campaigns.draw(&passes[0], created.id).await.unwrap();
    let view = one.campaigns.lottery(&owner, created.id).await.unwrap();
    assert!(view.prizes[0].awarded <= 3 && view.prizes[1].awarded <= 5, "{view:?}");
    assert!((view.prizes[0].probability - 0.3).abs() < 1e-9);
    // Closed: the seed is shown and every draw verifies; an altered record does not.
    clock.advance(jiff::SignedDuration::from_secs(2));
    assert!(matches!(refusal(one.campaigns.draw(&passes[1], created.id).await), CampaignError::Ended(_)));
    let audit = one.campaigns.lottery_audit(&owner, created.id).await.unwrap();
    assert_eq!(audit.draws.len(), 82);
    assert_eq!(lottery::verify(&audit), Ok(vec![]));
    let mut forged = audit.clone();
    let blank = forged.draws.iter().position(|d| d.outcome == DrawOutcome::None).unwrap();
    forged.draws[blank].outcome = DrawOutcome::Won;
    forged.draws[blank].prize = Some("cup".into());
    assert!(!lottery::verify(&forged).unwrap().is_empty());
    // Each instance counted the refusals it made; both save theirs.
    one.campaigns.save_attempt_counts().await.unwrap();
    two.campaigns.save_attempt_counts().await.unwrap();
    let refusals = one.stores.coupons.refusals(owner.workspace_id(), "lottery", created.id).await.unwrap();
    assert!(refusals.iter().any(|(r, n)| r == "daily-draw-limit" && *n == 40), "{refusals:?}");
}
