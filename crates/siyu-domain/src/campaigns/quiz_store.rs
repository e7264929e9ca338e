//! Quizzes' persistence contract: quizzes (answers kept with them, never sent), attempts (one row
//! each, numbered per customer, so a customer makes at most the attempts allowed however starts
//! race), a submission accepted once and only before the attempt's deadline, the leaderboard of
//! each customer's best attempt, and the quizzes whose top prizes are due.

use super::quiz::StoredQuiz;
use async_trait::async_trait;
use siyu_core::{CustomerId, StoreError, WorkspaceId};

/// An attempt as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAttempt {
    /// Id.
    pub id: i64,
    /// The quiz.
    pub quiz_id: i64,
    /// The customer (live profile when started).
    pub customer_id: i64,
    /// The customer's attempt number (from 1).
    pub n: i64,
    /// Started.
    pub started_at: jiff::Timestamp,
    /// Answers are taken until then.
    pub deadline: jiff::Timestamp,
    /// Submitted, if it was.
    pub submitted_at: Option<jiff::Timestamp>,
    /// The score, once submitted.
    pub score: Option<i64>,
}

/// What starting an attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// The attempt.
    Attempt(StoredAttempt),
    /// The customer made every attempt allowed.
    NoAttemptsLeft,
    /// Another start of the same customer won the race; try again.
    Busy,
    /// The quiz or the customer is not there.
    Gone,
}

/// What a submission did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Scored.
    Scored(StoredAttempt),
    /// It was submitted before.
    Already,
    /// Its deadline passed.
    Expired(jiff::Timestamp),
}

/// A leaderboard line: a customer's best attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ranked {
    /// The customer.
    pub customer_id: i64,
    /// The best score.
    pub score: i64,
    /// How long that attempt took, in milliseconds.
    pub duration_ms: i64,
}

/// A quiz's counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuizCounts {
    /// Customers who started an attempt.
    pub participants: i64,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts submitted.
    pub submitted: i64,
    /// Customers whose best score reaches the passing score.
    pub passed: i64,
    /// The average score of submitted attempts.
    pub average_score: f64,
}

/// Quizzes and attempts.
#[async_trait]
pub trait QuizStore: Send + Sync {
    /// Inserts a quiz; returns its id.
    async fn insert_quiz(&self, ws: WorkspaceId, quiz: &StoredQuiz) -> Result<i64, StoreError>;

    /// A quiz.
    async fn quiz(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredQuiz>, StoreError>;

    /// The workspace's quizzes, newest first.
    async fn quizzes(&self, ws: WorkspaceId) -> Result<Vec<StoredQuiz>, StoreError>;

    /// Starts the customer's next attempt if they made fewer than `allowed`.
    async fn start_attempt(
        &self,
        ws: WorkspaceId,
        quiz: i64,
        customer: CustomerId,
        allowed: i64,
        at: jiff::Timestamp,
        deadline: jiff::Timestamp,
    ) -> Result<Started, StoreError>;

    /// An attempt.
    async fn attempt(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredAttempt>, StoreError>;

    /// The customer's attempts at a quiz, in order.
    async fn attempts_of(
        &self,
        ws: WorkspaceId,
        quiz: i64,
        customer: CustomerId,
    ) -> Result<Vec<StoredAttempt>, StoreError>;

    /// Records an attempt's answers and score once, submitted `at`, if its deadline is not before
    /// `due` (`at` less the grace the network is given).
    async fn submit_attempt(
        &self,
        ws: WorkspaceId,
        attempt: i64,
        answers: &str,
        score: i64,
        at: jiff::Timestamp,
        due: jiff::Timestamp,
    ) -> Result<Submitted, StoreError>;

    /// The best attempt of each customer, best first (score, then the quicker, then the earlier),
    /// at most `limit`.
    async fn leaderboard(&self, ws: WorkspaceId, quiz: i64, limit: usize) -> Result<Vec<Ranked>, StoreError>;

    /// A quiz's counts (`pass_score`: what passes, if anything).
    async fn quiz_counts(&self, ws: WorkspaceId, quiz: i64, pass_score: Option<i64>) -> Result<QuizCounts, StoreError>;

    /// Claims up to `limit` quizzes (of any workspace) closed by `now` whose top prizes were not
    /// given yet and that no other process holds, for this process until `until`.
    async fn claim_quizzes_to_award(
        &self,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<(WorkspaceId, StoredQuiz)>, StoreError>;

    /// Records that a quiz's top prizes were given.
    async fn mark_awarded(&self, ws: WorkspaceId, quiz: i64, at: jiff::Timestamp) -> Result<(), StoreError>;

    /// These customers' attempts in every quiz (export).
    async fn attempts_of_customers(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<StoredAttempt>, StoreError>;

    /// Forgets these customers' attempts (erasure).
    async fn erase_attempts(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError>;
}
