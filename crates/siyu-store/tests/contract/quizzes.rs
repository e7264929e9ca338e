//! Quizzes over a real store: a customer makes at most the attempts allowed however starts race
//! from two service instances; answers are scored once and only in time, and answers that do not
//! fit are named; a passing score's reward is given once; the leaderboard ranks each customer's
//! best (the score, then the quicker); the top ranks' prizes are given once after the close.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::ManualClock;
use siyu_domain::DomainError;
use siyu_domain::campaigns::CampaignError;
use siyu_domain::campaigns::quiz::QuizInput;
use siyu_domain::campaigns::quizzes::AnswersInput;
use std::sync::Arc;

contract!(attempts_are_held_to_the_limit_and_the_deadline_and_prizes_go_once);

fn answers(a: &[Option<usize>]) -> AnswersInput {
    AnswersInput { answers: a.to_vec() }
}

async fn attempts_are_held_to_the_limit_and_the_deadline_and_prizes_go_once(f: Fixture) {
    let owner = f.workspace("brand").await;
    let ws = owner.workspace_id();
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let one = f.reopen_with_clock(clock.clone()).await;
    let two = f.reopen_with_clock(clock.clone()).await;
    let names: Vec<String> = (0..3).map(|i| format!("q-{i}")).collect();
    let ids = one.events.customers_for_user_ids(&owner, &names).await.unwrap();
    let mut passes = Vec::new();
    for id in &ids {
        passes.push(pass(&one, &owner, *id).await);
    }
    let template: siyu_domain::campaigns::TemplateInput = serde_json::from_value(serde_json::json!({
        "name": "答题券", "benefit": {"kind": "fixed", "amount_fen": 300}, "validity": {"kind": "days_after_issue", "days": 7}
    }))
    .unwrap();
    let template = one.campaigns.create_coupon_template(&owner, template).await.unwrap().id;
    let now = siyu_core::Clock::now(clock.as_ref());
    let lottery: siyu_domain::campaigns::lottery::LotteryInput = serde_json::from_value(serde_json::json!({
        "name": "答题抽奖", "starts_at": now.to_string(), "ends_at": (now + jiff::SignedDuration::from_hours(48)).to_string(),
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 5}], "no_prize_weight": 1, "total": 1,
    }))
    .unwrap();
    let lottery = one.campaigns.create_lottery(&owner, lottery).await.unwrap().id;
    let input: QuizInput = serde_json::from_value(serde_json::json!({
        "name": "茶知识竞赛", "starts_at": now.to_string(), "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string(),
        "questions": [
            {"text": "乌龙茶属于？", "options": ["绿茶", "青茶", "红茶"], "answer": 1},
            {"text": "龙井产自？", "options": ["杭州", "福建"], "answer": 0},
            {"text": "普洱属于？", "options": ["黑茶", "白茶"], "answer": 0, "points": 2},
        ],
        "time_limit_seconds": 60, "attempts": 2, "pass_score": 3, "pass_reward": {"coupon_template": template},
        "top_prizes": [
            {"up_to_rank": 1, "reward": {"lottery": lottery, "chances": 3}},
            {"up_to_rank": 2, "reward": {"coupon_template": template}},
        ],
    }))
    .unwrap();
    let quiz = one.campaigns.create_quiz(&owner, input).await.unwrap();
    assert_eq!(quiz.max_score, 4);
    let id = quiz.id;

    // Three starts race through both instances: two attempts are allowed, two are made.
    let mut tasks = Vec::new();
    for n in 0..3 {
        let s = if n % 2 == 0 { one.clone() } else { two.clone() };
        let p = passes[0].clone();
        tasks.push(tokio::spawn(async move { s.campaigns.start_quiz(&p, id).await }));
    }
    let mut started = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(attempt) => started.push(attempt),
            Err(e) => {
                let r = refusal::<()>(Err(e));
                assert!(matches!(r, CampaignError::NoAttemptsLeft(2) | CampaignError::Busy), "{r:?}");
            }
        }
    }
    while started.len() < 2 {
        started.push(one.campaigns.start_quiz(&passes[0], id).await.unwrap());
    }
    assert_eq!(refusal(two.campaigns.start_quiz(&passes[0], id).await), CampaignError::NoAttemptsLeft(2));
    assert_eq!(started[0].questions.len(), 3);
    started.sort_by_key(|a| a.n);
    let (first, second) = (started[0].id, started[1].id);

    // All right at once: passed, the reward given; again: refused.
    let result = one.campaigns.submit_quiz(&passes[0], first, &answers(&[Some(1), Some(0), Some(0)])).await.unwrap();
    assert_eq!((result.score, result.passed), (4, true));
    assert!(result.reward.as_ref().and_then(|r| r.coupon_code.clone()).is_some());
    let again = answers(&[Some(1), Some(0), Some(0)]);
    assert_eq!(refusal(two.campaigns.submit_quiz(&passes[0], first, &again).await), CampaignError::AlreadySubmitted);
    // Answers that do not fit are named; someone else's attempt is not there.
    for (bad, field) in [(vec![Some(1)], "answers"), (vec![Some(1), Some(5), None], "answers[1]")] {
        let Err(DomainError::Invalid(errors)) = one.campaigns.submit_quiz(&passes[0], second, &answers(&bad)).await
        else {
            panic!("{bad:?} accepted")
        };
        assert_eq!(errors[0].field, field);
    }
    let theirs = one.campaigns.submit_quiz(&passes[1], second, &answers(&[None, None, None])).await;
    assert!(matches!(theirs, Err(DomainError::NotFound(_))), "{theirs:?}");
    // Another customer scores 2; a third scores 4 but takes ten seconds.
    let b = one.campaigns.start_quiz(&passes[1], id).await.unwrap();
    let c = two.campaigns.start_quiz(&passes[2], id).await.unwrap();
    let scored = one.campaigns.submit_quiz(&passes[1], b.id, &answers(&[Some(1), Some(0), Some(1)])).await.unwrap();
    assert_eq!((scored.score, scored.passed, scored.reward.is_none()), (2, false, true));
    clock.advance(jiff::SignedDuration::from_secs(10));
    two.campaigns.submit_quiz(&passes[2], c.id, &answers(&[Some(1), Some(0), Some(0)])).await.unwrap();
    // The second attempt's time runs out (with its few seconds' grace).
    clock.advance(jiff::SignedDuration::from_secs(60));
    let late = answers(&[Some(1), Some(0), Some(0)]);
    assert!(matches!(
        refusal(one.campaigns.submit_quiz(&passes[0], second, &late).await),
        CampaignError::AttemptExpired(_)
    ));

    let board = one.campaigns.quiz_leaderboard(&passes[2], id).await.unwrap();
    let scores: Vec<(i64, bool)> = board.iter().map(|l| (l.score, l.you)).collect();
    assert_eq!(scores, [(4, false), (4, true), (2, false)], "the quicker first");
    let mine = one.campaigns.my_quiz(&passes[0], id).await.unwrap();
    assert_eq!((mine.attempts_left, mine.best_score), (0, Some(4)));

    // Closed: the top two get their prizes, once.
    assert_eq!(one.campaigns.award_quiz_prizes().await.unwrap(), 0, "not closed yet");
    clock.advance(jiff::SignedDuration::from_hours(1));
    assert_eq!(one.campaigns.award_quiz_prizes().await.unwrap(), 1);
    assert_eq!(two.campaigns.award_quiz_prizes().await.unwrap(), 0, "given once");
    assert_eq!(one.stores.lotteries.player(ws, lottery, ids[0]).await.unwrap().extra, 3);
    let coupons = one.campaigns.customer_coupons(&owner, ids[2]).await.unwrap();
    assert_eq!(coupons.len(), 2, "the pass reward and the second rank's prize");
    one.campaigns.save_attempt_counts().await.unwrap();
    two.campaigns.save_attempt_counts().await.unwrap();
    let view = one.campaigns.quiz(&owner, id).await.unwrap();
    assert_eq!((view.participants, view.passed, view.attempts_started, view.attempts_submitted), (3, 2, 4, 3));
    assert!(view.awarded_at.is_some());
    assert_eq!(view.leaderboard[0].customer_id, Some(ids[0].0));
    assert_eq!(view.refusals.get("already-submitted"), Some(&1), "{:?}", view.refusals);
    assert_eq!(view.refusals.get("attempt-expired"), Some(&1), "{:?}", view.refusals);
    // The attempts are the customer's: exported, and gone with them.
    let export = one.export_customer(&owner, ids[0]).await.unwrap();
    assert_eq!(export["campaigns"]["quiz_attempts"].as_array().map(Vec::len), Some(2), "{export}");
    one.erase_customer(&owner, ids[0]).await.unwrap();
    assert!(one.stores.quizzes.attempts_of_customers(ws, &[ids[0]]).await.unwrap().is_empty());
}
