//! Quizzes (知识竞赛): single-choice questions with their answers kept from customers, a time
//! limit per attempt, a number of attempts, a score, a leaderboard (best score, then the quicker,
//! then the earlier), a prize for a passing score given on the spot and prizes for the top ranks
//! given once the quiz closes. This module holds the quiz's definition, its checks and the scoring.

use super::input;
use crate::FieldError;
use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most questions a quiz has.
pub const MAX_QUESTIONS: usize = 100;
/// The most options a question has.
pub const MAX_OPTIONS: usize = 8;
/// The most attempts a customer may be allowed.
pub const MAX_ATTEMPTS: i64 = 10;

/// One question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The question.
    pub text: String,
    /// The options, in the order shown (2 to 8).
    pub options: Vec<String>,
    /// The right option's index (from 0); never shown to customers.
    pub answer: usize,
    /// Points for the right answer (1 to 100; 1 unless set).
    #[serde(default = "one_point")]
    pub points: i64,
}

fn one_point() -> i64 {
    1
}

/// A reward: a coupon of a template, extra draws in a lottery, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reward {
    /// A coupon template to give one coupon of.
    #[serde(default)]
    pub coupon_template: Option<i64>,
    /// A lottery to give draws in.
    #[serde(default)]
    pub lottery: Option<i64>,
    /// How many draws (1 to 100; 1 unless set, with `lottery`).
    #[serde(default)]
    pub chances: Option<i64>,
}

/// A prize for the top ranks once the quiz closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopPrize {
    /// Ranks from 1 to this one win it (ranks above an earlier prize's are that prize's).
    pub up_to_rank: i64,
    /// What it gives.
    pub reward: Reward,
}

/// A quiz to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuizInput {
    /// Its name.
    pub name: String,
    /// Opens (RFC 3339 with an offset).
    pub starts_at: String,
    /// Closes; the top ranks' prizes are given then.
    pub ends_at: String,
    /// The questions.
    pub questions: Vec<Question>,
    /// Seconds an attempt has from its start (10 to 3,600; 300 unless set).
    #[serde(default)]
    pub time_limit_seconds: Option<i64>,
    /// Attempts a customer may make (1 to 10; 1 unless set); the best counts.
    #[serde(default)]
    pub attempts: Option<i64>,
    /// The score that passes, if any.
    #[serde(default)]
    pub pass_score: Option<i64>,
    /// Given once to a customer whose attempt reaches the passing score.
    #[serde(default)]
    pub pass_reward: Option<Reward>,
    /// Prizes for the top ranks, by rank.
    #[serde(default)]
    pub top_prizes: Vec<TopPrize>,
}

/// A quiz as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredQuiz {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    pub starts_at: jiff::Timestamp,
    /// Closes.
    pub ends_at: jiff::Timestamp,
    /// Questions with their answers.
    pub questions: Vec<Question>,
    /// Seconds an attempt has.
    pub time_limit_seconds: i64,
    /// Attempts per customer.
    pub attempts: i64,
    /// Passing score.
    pub pass_score: Option<i64>,
    /// The passing score's reward.
    pub pass_reward: Option<Reward>,
    /// Top ranks' prizes, by rank.
    pub top_prizes: Vec<TopPrize>,
    /// When the top prizes were given.
    pub awarded_at: Option<jiff::Timestamp>,
    /// Created.
    pub created_at: jiff::Timestamp,
}

impl StoredQuiz {
    /// The most points an attempt can score.
    pub fn max_score(&self) -> i64 {
        self.questions.iter().map(|q| q.points).sum()
    }

    /// The score of `answers` (one option index per question, `None` for unanswered).
    pub fn score(&self, answers: &[Option<usize>]) -> i64 {
        self.questions.iter().zip(answers).filter(|(q, a)| **a == Some(q.answer)).map(|(q, _)| q.points).sum()
    }

    /// The prize of a rank, if any.
    pub fn prize_of(&self, rank: i64) -> Option<&Reward> {
        self.top_prizes.iter().find(|p| rank <= p.up_to_rank).map(|p| &p.reward)
    }
}

fn check_reward(at: &str, reward: &Reward, errors: &mut Vec<FieldError>) {
    if reward.coupon_template.is_none() && reward.lottery.is_none() {
        errors.push(FieldError::new(at, "gives nothing: name a coupon_template or a lottery"));
    }
    if reward.chances.is_some() && reward.lottery.is_none() {
        errors.push(FieldError::new(format!("{at}.chances"), "needs a lottery"));
    }
    if reward.chances.is_some_and(|n| !(1..=100).contains(&n)) {
        errors.push(FieldError::new(format!("{at}.chances"), "must be 1 to 100"));
    }
}

impl QuizInput {
    /// Checks every field; returns the quiz to store. Which coupon templates and lotteries exist is
    /// the service's check.
    pub fn into_quiz(self, now: jiff::Timestamp) -> Result<StoredQuiz, DomainError> {
        let mut errors = Vec::new();
        let name = input::text("name", &self.name, 200, false, &mut errors);
        let window = input::window(&self.starts_at, &self.ends_at, now, None, &mut errors);
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            errors.push(FieldError::new("questions", format!("must hold 1 to {MAX_QUESTIONS} questions")));
        }
        for (i, q) in self.questions.iter().enumerate() {
            input::text(&format!("questions[{i}].text"), &q.text, 1_000, true, &mut errors);
            if !(2..=MAX_OPTIONS).contains(&q.options.len()) {
                errors
                    .push(FieldError::new(format!("questions[{i}].options"), format!("must hold 2 to {MAX_OPTIONS}")));
            }
            for (j, option) in q.options.iter().enumerate() {
                input::text(&format!("questions[{i}].options[{j}]"), option, 200, false, &mut errors);
            }
            if q.answer >= q.options.len() {
                errors.push(FieldError::new(format!("questions[{i}].answer"), "is not one of the options"));
            }
            if !(1..=100).contains(&q.points) {
                errors.push(FieldError::new(format!("questions[{i}].points"), "must be 1 to 100"));
            }
        }
        let time_limit_seconds = self.time_limit_seconds.unwrap_or(300);
        if !(10..=3_600).contains(&time_limit_seconds) {
            errors.push(FieldError::new("time_limit_seconds", "must be 10 to 3600"));
        }
        let attempts = self.attempts.unwrap_or(1);
        if !(1..=MAX_ATTEMPTS).contains(&attempts) {
            errors.push(FieldError::new("attempts", format!("must be 1 to {MAX_ATTEMPTS}")));
        }
        // Summed without overflow whatever the points are (each is checked above).
        let max: i64 = self.questions.iter().map(|q| q.points.clamp(0, 100)).sum();
        if self.pass_score.is_some_and(|s| s < 1 || s > max) {
            errors.push(FieldError::new("pass_score", format!("must be 1 to the quiz's {max} points")));
        }
        if let Some(reward) = &self.pass_reward {
            if self.pass_score.is_none() {
                errors.push(FieldError::new("pass_reward", "needs a pass_score"));
            }
            check_reward("pass_reward", reward, &mut errors);
        }
        if self.top_prizes.len() > 10 {
            errors.push(FieldError::new("top_prizes", "must hold at most 10 prizes"));
        }
        let mut last = 0;
        for (i, prize) in self.top_prizes.iter().enumerate() {
            if prize.up_to_rank <= last || prize.up_to_rank > 1_000 {
                errors.push(FieldError::new(
                    format!("top_prizes[{i}].up_to_rank"),
                    "must rise from prize to prize, at most 1000",
                ));
            }
            last = prize.up_to_rank;
            check_reward(&format!("top_prizes[{i}].reward"), &prize.reward, &mut errors);
        }
        let (Some((starts_at, ends_at)), true) = (window, errors.is_empty()) else {
            return Err(DomainError::Invalid(errors));
        };
        Ok(StoredQuiz {
            id: 0,
            name,
            starts_at,
            ends_at,
            questions: self.questions,
            time_limit_seconds,
            attempts,
            pass_score: self.pass_score,
            pass_reward: self.pass_reward,
            top_prizes: self.top_prizes,
            awarded_at: None,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiz() -> StoredQuiz {
        let input: QuizInput = serde_json::from_value(serde_json::json!({
            "name": "茶知识", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
            "questions": [
                {"text": "乌龙茶属于？", "options": ["绿茶", "青茶", "红茶"], "answer": 1},
                {"text": "龙井产自？", "options": ["杭州", "福建"], "answer": 0, "points": 3},
            ],
            "pass_score": 3, "top_prizes": [{"up_to_rank": 1, "reward": {"lottery": 2}}, {"up_to_rank": 5, "reward": {"coupon_template": 3}}],
        }))
        .unwrap();
        input.into_quiz(jiff::Timestamp::UNIX_EPOCH).unwrap()
    }

    #[test]
    fn a_score_adds_the_points_of_the_right_answers() {
        let q = quiz();
        assert_eq!(q.max_score(), 4);
        assert_eq!(q.score(&[Some(1), Some(0)]), 4);
        assert_eq!(q.score(&[Some(0), Some(0)]), 3);
        assert_eq!(q.score(&[None, Some(1)]), 0);
        assert_eq!(q.prize_of(1).and_then(|r| r.lottery), Some(2));
        assert_eq!(q.prize_of(5).and_then(|r| r.coupon_template), Some(3));
        assert_eq!(q.prize_of(6), None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let input: QuizInput = serde_json::from_value(serde_json::json!({
            "name": "q", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
            "questions": [{"text": "", "options": ["a"], "answer": 3, "points": 0}],
            "attempts": 0, "pass_score": 9, "top_prizes": [{"up_to_rank": 0, "reward": {}}],
        }))
        .unwrap();
        let Err(DomainError::Invalid(errors)) = input.into_quiz(jiff::Timestamp::UNIX_EPOCH) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "questions[0].text",
                "questions[0].options",
                "questions[0].answer",
                "questions[0].points",
                "attempts",
                "pass_score",
                "top_prizes[0].up_to_rank",
                "top_prizes[0].reward"
            ]
        );
    }
}
