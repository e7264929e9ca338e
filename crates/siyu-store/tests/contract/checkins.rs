//! Check-ins over a real store: a day is checked in once however check-ins race from two service
//! instances; streaks run by the workspace's local day; a make-up card fills a missed day within
//! its reach and only as many as allowed; a milestone's reward is given once; refusals are named
//! and counted; the days are exported and erased with the customer.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::ManualClock;
use siyu_domain::DomainError;
use siyu_domain::campaigns::CampaignError;
use siyu_domain::campaigns::checkin::CheckinInput;
use siyu_domain::campaigns::checkins::MakeupInput;
use std::sync::Arc;

contract!(a_day_is_checked_in_once_and_a_streak_gives_each_milestone_once);

fn days(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(24 * n)
}

async fn a_day_is_checked_in_once_and_a_streak_gives_each_milestone_once(f: Fixture) {
    let owner = f.workspace("brand").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let one = f.reopen_with_clock(clock.clone()).await;
    let two = f.reopen_with_clock(clock.clone()).await;
    let ids = one.events.customers_for_user_ids(&owner, &["c-1".to_string(), "c-2".to_string()]).await.unwrap();
    let template: siyu_domain::campaigns::TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "连签礼", "benefit": {"kind": "fixed", "amount_fen": 300}, "validity": {"kind": "days_after_issue", "days": 7}
    }))
    .unwrap();
    let template = one.campaigns.create_coupon_template(&owner, template).await.unwrap().id;
    let now = siyu_core::Clock::now(clock.as_ref());
    let lottery: siyu_domain::campaigns::lottery::LotteryInput = serde_json::from_value(serde_json::json!({
        "name": "签到抽奖", "starts_at": now.to_string(), "ends_at": (now + days(30)).to_string(),
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 5}], "no_prize_weight": 1, "total": 1,
    }))
    .unwrap();
    let lottery = one.campaigns.create_lottery(&owner, lottery).await.unwrap().id;
    // Milestones naming what the workspace does not have are refused, each at its path.
    let input = |template: i64, lottery: i64| -> CheckinInput {
        serde_json::from_value(serde_json::json!({
            "name": "每日签到", "starts_at": (now - jiff::SignedDuration::from_hours(1)).to_string(),
            "ends_at": (now + days(20)).to_string(),
            "milestones": [{"streak": 3, "lottery": lottery, "chances": 2}, {"streak": 2, "coupon_template": template}],
            "makeup_cards": 1, "makeup_days": 3,
        }))
        .unwrap()
    };
    let Err(DomainError::Invalid(errors)) =
        one.campaigns.create_checkin(&owner, input(template + 9, lottery + 9)).await
    else {
        panic!("created with milestones naming nothing")
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["milestones[0].coupon_template", "milestones[1].lottery"], "sorted by streak");
    let created = one.campaigns.create_checkin(&owner, input(template, lottery)).await.unwrap();
    assert_eq!(created.milestones[0].streak, 2);
    let id = created.id;
    let p = pass(&one, &owner, ids[0]).await;

    // Day 1: the same customer's check-ins race through both instances: one is recorded.
    let (a, b) = tokio::join!(one.campaigns.check_in(&p, id), two.campaigns.check_in(&p, id));
    let refused = [&a, &b].iter().filter(|r| r.is_err()).count();
    assert_eq!(refused, 1, "{a:?} {b:?}");
    for r in [a, b] {
        match r {
            Ok(done) => assert_eq!((done.streak, done.rewards.len()), (1, 0)),
            Err(e) => assert!(matches!(e, DomainError::Campaigns(CampaignError::AlreadyCheckedIn(_))), "{e:?}"),
        }
    }
    // Day 2: a streak of two reaches the first milestone: a coupon.
    clock.advance(days(1));
    let done = one.campaigns.check_in(&p, id).await.unwrap();
    assert_eq!(done.streak, 2);
    assert_eq!((done.rewards.len(), done.rewards[0].streak), (1, 2));
    assert!(done.rewards[0].coupon_code.is_some());
    // Day 4, day 3 missed: the streak starts again.
    clock.advance(days(2));
    assert_eq!(one.campaigns.check_in(&p, id).await.unwrap().streak, 1);
    // The card fills day 3: four in a row, the second milestone (two draws); the first not again.
    let day4 = one.campaigns.my_checkin(&p, id).await.unwrap().dates[0].clone();
    let three = MakeupInput { date: date_before(&day4, 1) };
    let filled = two.campaigns.make_up(&p, id, &three).await.unwrap();
    assert!(filled.makeup);
    assert_eq!(filled.streak, 4);
    let streaks: Vec<i64> = filled.rewards.iter().map(|r| r.streak).collect();
    assert_eq!(streaks, [3]);
    assert_eq!((filled.rewards[0].lottery, filled.rewards[0].chances), (Some(lottery), Some(2)));
    // No card left; a day out of reach, today or no date at all is named.
    let back = MakeupInput { date: date_before(&day4, 2) };
    assert_eq!(refusal(one.campaigns.make_up(&p, id, &back).await), CampaignError::NoMakeupCards(1));
    let today = one.campaigns.my_checkin(&p, id).await.unwrap().today;
    for date in [today.clone(), date_before(&today, 4), "2026-02-30".to_string(), "明天".to_string()] {
        let Err(DomainError::Invalid(errors)) = one.campaigns.make_up(&p, id, &MakeupInput { date }).await else {
            panic!("a bad date accepted")
        };
        assert_eq!(errors[0].field, "date");
    }
    let mine = one.campaigns.my_checkin(&p, id).await.unwrap();
    assert_eq!((mine.streak, mine.best_streak, mine.cards_left, mine.checked_in_today), (4, 4, 0, true));
    assert_eq!(mine.reached, [2, 3]);
    assert_eq!(mine.dates.len(), 4);
    // The draws were given: three in all (one plus two).
    let ws = owner.workspace_id();
    assert_eq!(one.stores.lotteries.player(ws, lottery, ids[0]).await.unwrap().extra, 2);
    // Another customer on day 4 only; the counts say so, with the rate of the day.
    let q = pass(&two, &owner, ids[1]).await;
    two.campaigns.check_in(&q, id).await.unwrap();
    one.campaigns.save_attempt_counts().await.unwrap();
    two.campaigns.save_attempt_counts().await.unwrap();
    let stats = one.campaigns.checkin_stats(&owner, id).await.unwrap();
    assert_eq!(stats.participants, 2);
    let last = stats.days.last().unwrap();
    assert_eq!((last.date.as_str(), last.checked_in, last.makeups), (today.as_str(), 2, 0));
    assert!((last.rate - 1.0).abs() < 1e-9, "{last:?}");
    let third = stats.days.iter().find(|d| d.date == three.date).unwrap();
    assert_eq!((third.checked_in, third.makeups), (1, 1));
    assert!((third.rate - 1.0).abs() < 1e-9, "one participant by then: {third:?}");
    assert_eq!(stats.milestones.get(&2), Some(&1));
    assert_eq!(stats.refusals.get("already-checked-in"), Some(&1), "{:?}", stats.refusals);
    assert_eq!(stats.refusals.get("no-makeup-cards"), Some(&1), "{:?}", stats.refusals);
    // Closed: refused.
    clock.advance(days(17));
    assert!(matches!(refusal(one.campaigns.check_in(&q, id).await), CampaignError::Ended(_)));
    // The customer's days are in their export, and gone with them.
    let export = one.export_customer(&owner, ids[0]).await.unwrap();
    let days_out = export["campaigns"]["check_ins"].as_array().map_or(0, Vec::len);
    assert_eq!(days_out, 4, "{export}");
    one.erase_customer(&owner, ids[0]).await.unwrap();
    assert!(one.stores.checkins.standing(ws, id, ids[0]).await.unwrap().days.is_empty());
}

/// The date `n` days before `date` (`YYYY-MM-DD`).
fn date_before(date: &str, n: i64) -> String {
    let date: jiff::civil::Date = date.parse().unwrap();
    date.checked_sub(jiff::Span::new().days(n)).unwrap().to_string()
}
