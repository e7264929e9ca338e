//! Quizzes' use cases: created and watched (participants, attempts, pass rate, average score,
//! leaderboard), an attempt started with its questions (answers kept back) and a deadline,
//! answers scored once and only in time, a passing score's reward given on the spot, and the top
//! ranks' prizes given by `campaigns.upkeep` once the quiz closes. Every refusal is counted.

use super::Campaigns;
use super::quiz::{QuizInput, Reward, StoredQuiz, TopPrize};
use super::quiz_store::{Started, StoredAttempt, Submitted};
use super::rewards::{Given, Named};
use super::service::CustomerPass;
use crate::access::{Permission, Principal};
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::NewEvent;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, WorkspaceId};
use utoipa::ToSchema;

/// An attempt started.
pub const QUIZ_STARTED: &str = "Quiz Started";
/// An attempt's answers scored.
pub const QUIZ_SUBMITTED: &str = "Quiz Submitted";
/// A top rank's prize given after the close.
pub const QUIZ_PRIZE: &str = "Quiz Prize Awarded";
/// The activity refusals are counted under.
const ACTIVITY: &str = "quiz";
/// Leaderboard lines shown.
const SHOWN: usize = 20;
/// How late answers may arrive after the deadline (the network's time), in seconds.
const GRACE_SECONDS: i64 = 5;
/// Quizzes whose prizes are given per round of upkeep at most.
const AWARD_BATCH: usize = 20;
/// How long a process holds a quiz whose prizes it gives (another takes it over after).
const AWARD_LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// A quiz as operators see it, with its counts and leaderboard.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QuizView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Questions.
    pub questions: usize,
    /// The most points.
    pub max_score: i64,
    /// Seconds an attempt has.
    pub time_limit_seconds: i64,
    /// Attempts per customer.
    pub attempts: i64,
    /// The passing score.
    pub pass_score: Option<i64>,
    /// The passing score's reward.
    pub pass_reward: Option<Reward>,
    /// The top ranks' prizes.
    pub top_prizes: Vec<TopPrize>,
    /// When the top prizes were given.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub awarded_at: Option<jiff::Timestamp>,
    /// Customers who started.
    pub participants: i64,
    /// Attempts started.
    pub attempts_started: i64,
    /// Attempts submitted.
    pub attempts_submitted: i64,
    /// Customers whose best score passes.
    pub passed: i64,
    /// Passed over participants.
    pub pass_rate: f64,
    /// The average submitted score.
    pub average_score: f64,
    /// The best customers (id, score, time).
    pub leaderboard: Vec<LeaderView>,
    /// Refusals by reason.
    pub refusals: std::collections::BTreeMap<String, i64>,
}

/// A leaderboard line.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LeaderView {
    /// Rank (from 1).
    pub rank: i64,
    /// The customer (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    /// Whether it is the asking customer.
    pub you: bool,
    /// Best score.
    pub score: i64,
    /// That attempt's time, in milliseconds.
    pub duration_ms: i64,
}

/// A quiz as a customer sees it (no answers), with their standing.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MyQuizView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Questions.
    pub questions: usize,
    /// The most points.
    pub max_score: i64,
    /// Seconds an attempt has.
    pub time_limit_seconds: i64,
    /// Attempts left.
    pub attempts_left: i64,
    /// The customer's best score so far.
    pub best_score: Option<i64>,
    /// The passing score.
    pub pass_score: Option<i64>,
    /// The top ranks' prizes.
    pub top_prizes: Vec<TopPrize>,
}

/// A question as shown (without its answer).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QuestionView {
    /// The question.
    pub text: String,
    /// The options.
    pub options: Vec<String>,
    /// Its points.
    pub points: i64,
}

/// An attempt started.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// Id (to submit the answers to).
    pub id: i64,
    /// The customer's attempt number.
    pub n: i64,
    /// Answers are taken until then.
    #[schema(value_type = String, format = DateTime)]
    pub deadline: jiff::Timestamp,
    /// The questions, in order.
    pub questions: Vec<QuestionView>,
}

/// An attempt's answers: one option index per question, in order (`null`: not answered).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersInput {
    /// The answers.
    pub answers: Vec<Option<usize>>,
}

/// An attempt scored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ResultView {
    /// The score.
    pub score: i64,
    /// The most points.
    pub max_score: i64,
    /// Whether it passes.
    pub passed: bool,
    /// What passing gave (the first time only).
    pub reward: Option<Given>,
}

impl Campaigns {
    async fn stored_quiz(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredQuiz> {
        self.quizzes.quiz(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("quiz {id}")))
    }

    /// Creates a quiz; its rewards' coupon templates and lotteries must exist.
    pub async fn create_quiz(&self, principal: &Principal, input: QuizInput) -> DomainResult<QuizView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut q = input.into_quiz(self.access.now())?;
        let mut named = Vec::new();
        if let Some(r) = &q.pass_reward {
            named.push(Named { at: "pass_reward".into(), coupon_template: r.coupon_template, lottery: r.lottery });
        }
        for (i, prize) in q.top_prizes.iter().enumerate() {
            let r = &prize.reward;
            let at = format!("top_prizes[{i}].reward");
            named.push(Named { at, coupon_template: r.coupon_template, lottery: r.lottery });
        }
        let errors = self.missing_rewards(ws, &named).await?;
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        q.id = self.quizzes.insert_quiz(ws, &q).await?;
        self.access.audit(principal, "quiz.create", &format!("quiz:{}", q.id)).await?;
        self.quiz_view(ws, q).await
    }

    async fn quiz_view(&self, ws: WorkspaceId, q: StoredQuiz) -> DomainResult<QuizView> {
        let counts = self.quizzes.quiz_counts(ws, q.id, q.pass_score).await?;
        let leaders = self.quizzes.leaderboard(ws, q.id, SHOWN).await?;
        let refusals = self.coupons.refusals(ws, ACTIVITY, q.id).await?;
        Ok(QuizView {
            id: q.id,
            name: q.name.clone(),
            starts_at: q.starts_at,
            ends_at: q.ends_at,
            questions: q.questions.len(),
            max_score: q.max_score(),
            time_limit_seconds: q.time_limit_seconds,
            attempts: q.attempts,
            pass_score: q.pass_score,
            pass_reward: q.pass_reward.clone(),
            top_prizes: q.top_prizes.clone(),
            awarded_at: q.awarded_at,
            participants: counts.participants,
            attempts_started: counts.attempts,
            attempts_submitted: counts.submitted,
            passed: counts.passed,
            pass_rate: if counts.participants == 0 { 0.0 } else { counts.passed as f64 / counts.participants as f64 },
            average_score: counts.average_score,
            leaderboard: leaders
                .into_iter()
                .enumerate()
                .map(|(i, r)| LeaderView {
                    rank: i as i64 + 1,
                    customer_id: Some(r.customer_id),
                    you: false,
                    score: r.score,
                    duration_ms: r.duration_ms,
                })
                .collect(),
            refusals: refusals.into_iter().collect(),
        })
    }

    /// The workspace's quizzes with their counts, newest first.
    pub async fn quizzes(&self, principal: &Principal) -> DomainResult<Vec<QuizView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for q in self.quizzes.quizzes(ws).await? {
            views.push(self.quiz_view(ws, q).await?);
        }
        Ok(views)
    }

    /// A quiz with its counts and leaderboard.
    pub async fn quiz(&self, principal: &Principal, id: i64) -> DomainResult<QuizView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let q = self.stored_quiz(ws, id).await?;
        self.quiz_view(ws, q).await
    }

    /// The quiz as the customer sees it, with their attempts left and best score.
    pub async fn my_quiz(&self, pass: &CustomerPass, id: i64) -> DomainResult<MyQuizView> {
        let ws = pass.workspace();
        let q = self.stored_quiz(ws, id).await?;
        let attempts = self.quizzes.attempts_of(ws, id, pass.customer()).await?;
        Ok(MyQuizView {
            id: q.id,
            name: q.name.clone(),
            starts_at: q.starts_at,
            ends_at: q.ends_at,
            questions: q.questions.len(),
            max_score: q.max_score(),
            time_limit_seconds: q.time_limit_seconds,
            attempts_left: (q.attempts - attempts.len() as i64).max(0),
            best_score: attempts.iter().filter_map(|a| a.score).max(),
            pass_score: q.pass_score,
            top_prizes: q.top_prizes,
        })
    }

    /// The leaderboard as a customer sees it: ranks and scores, theirs marked.
    pub async fn quiz_leaderboard(&self, pass: &CustomerPass, id: i64) -> DomainResult<Vec<LeaderView>> {
        let ws = pass.workspace();
        self.stored_quiz(ws, id).await?;
        let live = self.customers.stores.customers.resolve(ws, pass.customer()).await?.map(|c| c.0);
        let leaders = self.quizzes.leaderboard(ws, id, SHOWN).await?;
        Ok(leaders
            .into_iter()
            .enumerate()
            .map(|(i, r)| LeaderView {
                rank: i as i64 + 1,
                customer_id: None,
                you: Some(r.customer_id) == live,
                score: r.score,
                duration_ms: r.duration_ms,
            })
            .collect())
    }

    /// Starts the customer's next attempt: the questions without their answers, and a deadline.
    pub async fn start_quiz(&self, pass: &CustomerPass, id: i64) -> DomainResult<AttemptView> {
        let ws = pass.workspace();
        let q = self.stored_quiz(ws, id).await?;
        let result = async {
            let now = self.access.now();
            if now < q.starts_at {
                return Err(CampaignError::NotStarted(q.starts_at).into());
            }
            if now >= q.ends_at {
                return Err(CampaignError::Ended(q.ends_at).into());
            }
            // No answer is taken after the close: the leaderboard the prizes follow is final then.
            let limit = jiff::SignedDuration::from_secs(q.time_limit_seconds);
            let deadline = now.checked_add(limit).unwrap_or(now).min(q.ends_at);
            let attempt = match self.quizzes.start_attempt(ws, id, pass.customer(), q.attempts, now, deadline).await? {
                Started::Attempt(attempt) => attempt,
                Started::NoAttemptsLeft => return Err(CampaignError::NoAttemptsLeft(q.attempts).into()),
                Started::Busy => return Err(CampaignError::Busy.into()),
                Started::Gone => return Err(DomainError::NotFound(format!("customer {}", pass.customer()))),
            };
            let properties = serde_json::json!({"quiz_id": id, "attempt_id": attempt.id, "n": attempt.n});
            let customer = CustomerId(attempt.customer_id);
            self.events
                .append_and_index(ws, &[NewEvent::recorded(customer, QUIZ_STARTED, properties.to_string(), now)])
                .await?;
            Ok(AttemptView {
                id: attempt.id,
                n: attempt.n,
                deadline: attempt.deadline,
                questions: q
                    .questions
                    .iter()
                    .map(|question| QuestionView {
                        text: question.text.clone(),
                        options: question.options.clone(),
                        points: question.points,
                    })
                    .collect(),
            })
        }
        .await;
        self.count_refusal(ws, ACTIVITY, id, result)
    }

    /// Scores an attempt's answers, once and only by its deadline (with a few seconds' grace for
    /// the network); a passing score gives the quiz's reward the first time.
    pub async fn submit_quiz(
        &self,
        pass: &CustomerPass,
        attempt: i64,
        input: &AnswersInput,
    ) -> DomainResult<ResultView> {
        let ws = pass.workspace();
        let live = self.customers.stores.customers.resolve(ws, pass.customer()).await?;
        let found: Option<StoredAttempt> = self.quizzes.attempt(ws, attempt).await?;
        // Another customer's attempt is as absent as one that does not exist.
        let Some(found) = found.filter(|a| Some(CustomerId(a.customer_id)) == live) else {
            return Err(DomainError::NotFound(format!("quiz attempt {attempt}")));
        };
        let q = self.stored_quiz(ws, found.quiz_id).await?;
        let result = async {
            let mut errors = Vec::new();
            if input.answers.len() != q.questions.len() {
                errors.push(crate::FieldError::new(
                    "answers",
                    format!("holds {} answers for {} questions", input.answers.len(), q.questions.len()),
                ));
            }
            for (i, (answer, question)) in input.answers.iter().zip(&q.questions).enumerate() {
                if answer.is_some_and(|a| a >= question.options.len()) {
                    errors.push(crate::FieldError::new(format!("answers[{i}]"), "is not one of the options"));
                }
            }
            if !errors.is_empty() {
                return Err(DomainError::Invalid(errors));
            }
            let now = self.access.now();
            let score = q.score(&input.answers);
            let answers = serde_json::to_string(&input.answers).unwrap_or_default();
            let due = now.checked_sub(jiff::SignedDuration::from_secs(GRACE_SECONDS)).unwrap_or(now);
            let scored = match self.quizzes.submit_attempt(ws, attempt, &answers, score, now, due).await? {
                Submitted::Scored(scored) => scored,
                Submitted::Already => return Err(CampaignError::AlreadySubmitted.into()),
                Submitted::Expired(at) => return Err(CampaignError::AttemptExpired(at).into()),
            };
            let customer = CustomerId(scored.customer_id);
            let passed = q.pass_score.is_some_and(|p| score >= p);
            let reward = match (&q.pass_reward, passed) {
                (Some(r), true) => {
                    let key = format!("quiz:{}:{}:pass", q.id, customer.0);
                    // The score is recorded: a failure after it is logged, not answered as one the
                    // customer would retry into `already-submitted`.
                    match self.give_reward(ws, customer, r.coupon_template, r.lottery, r.chances, &key).await {
                        Ok(given) => Some(given),
                        Err(error) => {
                            tracing::warn!(quiz = q.id, attempt, %error, "a passing score's reward was not given");
                            None
                        }
                    }
                }
                _ => None,
            };
            let properties = serde_json::json!({
                "quiz_id": q.id, "attempt_id": attempt, "score": score, "max_score": q.max_score(), "passed": passed,
                "duration_ms": now.duration_since(found.started_at).as_millis().max(0) as i64,
            });
            let event = NewEvent::recorded(customer, QUIZ_SUBMITTED, properties.to_string(), now);
            if let Err(error) = self.events.append_and_index(ws, &[event]).await {
                tracing::warn!(quiz = q.id, attempt, %error, "a scored attempt's event was not logged");
            }
            Ok(ResultView { score, max_score: q.max_score(), passed, reward })
        }
        .await;
        self.count_refusal(ws, ACTIVITY, q.id, result)
    }

    /// Gives the top ranks' prizes of every quiz that closed: a process claims a quiz for a while
    /// (nodes do not award one side by side), and each rank's prize is given once by its key (a
    /// round cut short gives nothing twice when run again); returns the quizzes done.
    pub async fn award_quiz_prizes(&self) -> DomainResult<usize> {
        let now = self.access.now();
        let until = now.checked_add(AWARD_LEASE).unwrap_or(now);
        let due = self.quizzes.claim_quizzes_to_award(now, until, AWARD_BATCH).await?;
        for (ws, q) in &due {
            let last = q.top_prizes.last().map_or(0, |p| p.up_to_rank);
            let leaders = self.quizzes.leaderboard(*ws, q.id, usize::try_from(last).unwrap_or(0)).await?;
            let mut events = Vec::new();
            for (i, leader) in leaders.iter().enumerate() {
                let rank = i as i64 + 1;
                let Some(prize) = q.prize_of(rank) else { break };
                let customer = CustomerId(leader.customer_id);
                let key = format!("quiz:{}:rank:{rank}", q.id);
                let given =
                    self.give_reward(*ws, customer, prize.coupon_template, prize.lottery, prize.chances, &key).await?;
                let properties = serde_json::json!({
                    "quiz_id": q.id, "rank": rank, "score": leader.score, "coupon_code": given.coupon_code,
                    "lottery": given.lottery, "chances": given.chances,
                });
                events.push(NewEvent::recorded(customer, QUIZ_PRIZE, properties.to_string(), now));
            }
            if !events.is_empty() {
                self.events.append_and_index(*ws, &events).await?;
            }
            self.quizzes.mark_awarded(*ws, q.id, now).await?;
        }
        Ok(due.len())
    }
}
