// Quizzes and attempts (included into `sqlite` and `postgres`).

use siyu_domain::campaigns::quiz::{Question, Reward, StoredQuiz, TopPrize};
use siyu_domain::campaigns::quiz_store::{QuizCounts, QuizStore, Ranked, Started, StoredAttempt, Submitted};

const QUIZ_COLUMNS: &str = "id, name, starts_at, ends_at, questions, time_limit_seconds, attempts, pass_score, \
                            pass_reward, top_prizes, awarded_at, created_at";
const ATTEMPT_COLUMNS: &str = "id, quiz_id, customer_id, n, started_at, deadline, submitted_at, score";

fn quiz_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredQuiz, StoreError> {
    let questions: String = get(row, "questions")?;
    let pass_reward: Option<String> = get(row, "pass_reward")?;
    let top_prizes: String = get(row, "top_prizes")?;
    Ok(StoredQuiz {
        id: get(row, "id")?,
        name: get(row, "name")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        questions: serde_json::from_str::<Vec<Question>>(&questions)
            .map_err(|_| corrupt("quiz questions", &questions))?,
        time_limit_seconds: get(row, "time_limit_seconds")?,
        attempts: get(row, "attempts")?,
        pass_score: get(row, "pass_score")?,
        pass_reward: pass_reward
            .map(|r| serde_json::from_str::<Reward>(&r).map_err(|_| corrupt("quiz pass reward", &r)))
            .transpose()?,
        top_prizes: serde_json::from_str::<Vec<TopPrize>>(&top_prizes)
            .map_err(|_| corrupt("quiz top prizes", &top_prizes))?,
        awarded_at: opt_ts(row, "awarded_at")?,
        created_at: ts(row, "created_at")?,
    })
}

fn attempt_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredAttempt, StoreError> {
    Ok(StoredAttempt {
        id: get(row, "id")?,
        quiz_id: get(row, "quiz_id")?,
        customer_id: get(row, "customer_id")?,
        n: get(row, "n")?,
        started_at: ts(row, "started_at")?,
        deadline: ts(row, "deadline")?,
        submitted_at: opt_ts(row, "submitted_at")?,
        score: get(row, "score")?,
    })
}

#[async_trait]
impl QuizStore for SqlStore {
    async fn insert_quiz(&self, ws: WorkspaceId, q: &StoredQuiz) -> Result<i64, StoreError> {
        let query = sqlx::query_scalar(
            "INSERT INTO quizzes (workspace_id, name, starts_at, ends_at, questions, time_limit_seconds, attempts, \
             pass_score, pass_reward, top_prizes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             RETURNING id",
        )
        .bind(ws.0)
        .bind(&q.name)
        .bind(millis(q.starts_at))
        .bind(millis(q.ends_at))
        .bind(serde_json::to_string(&q.questions).unwrap_or_default())
        .bind(q.time_limit_seconds)
        .bind(q.attempts)
        .bind(q.pass_score)
        .bind(q.pass_reward.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default()))
        .bind(serde_json::to_string(&q.top_prizes).unwrap_or_default())
        .bind(millis(q.created_at));
        self.insert_id(query).await
    }

    async fn quiz(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredQuiz>, StoreError> {
        let row = self.row_by_id(format!("SELECT {QUIZ_COLUMNS} FROM quizzes"), ws, id).await?;
        row.as_ref().map(quiz_from).transpose()
    }

    async fn quizzes(&self, ws: WorkspaceId) -> Result<Vec<StoredQuiz>, StoreError> {
        let rows = self.rows_newest_first(format!("SELECT {QUIZ_COLUMNS} FROM quizzes"), ws).await?;
        rows.iter().map(quiz_from).collect()
    }

    async fn start_attempt(
        &self,
        ws: WorkspaceId,
        quiz: i64,
        customer: CustomerId,
        allowed: i64,
        at: jiff::Timestamp,
        deadline: jiff::Timestamp,
    ) -> Result<Started, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return Ok(Started::Gone) };
        let made: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM quiz_attempts WHERE workspace_id = $1 AND quiz_id = $2 AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(quiz)
        .bind(live.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if made >= allowed {
            return Ok(Started::NoAttemptsLeft);
        }
        // The attempt's number is unique per customer: of two starts racing for it, one is written.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO quiz_attempts (workspace_id, quiz_id, customer_id, n, started_at, deadline) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM quizzes WHERE workspace_id = $1 AND id = $2) \
             ON CONFLICT (quiz_id, customer_id, n) DO NOTHING RETURNING {ATTEMPT_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(quiz)
        .bind(live.0)
        .bind(made + 1)
        .bind(millis(at))
        .bind(millis(deadline))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM quizzes WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(quiz)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            return Ok(if exists.is_some() { Started::Busy } else { Started::Gone });
        };
        let attempt = attempt_from(&row)?;
        tx.commit().await?;
        Ok(Started::Attempt(attempt))
    }

    async fn attempt(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredAttempt>, StoreError> {
        let row = self.row_by_id(format!("SELECT {ATTEMPT_COLUMNS} FROM quiz_attempts"), ws, id).await?;
        row.as_ref().map(attempt_from).transpose()
    }

    async fn attempts_of(
        &self,
        ws: WorkspaceId,
        quiz: i64,
        customer: CustomerId,
    ) -> Result<Vec<StoredAttempt>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM quiz_attempts WHERE workspace_id = $1 AND quiz_id = $2 AND customer_id = \
             (SELECT COALESCE(merged_into, id) FROM customers WHERE workspace_id = $1 AND id = $3) ORDER BY n"
        )))
        .bind(ws.0)
        .bind(quiz)
        .bind(customer.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(attempt_from).collect()
    }

    async fn submit_attempt(
        &self,
        ws: WorkspaceId,
        attempt: i64,
        answers: &str,
        score: i64,
        at: jiff::Timestamp,
        due: jiff::Timestamp,
    ) -> Result<Submitted, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE quiz_attempts SET submitted_at = $3, score = $4, answers = $5, duration_ms = $3 - started_at \
             WHERE workspace_id = $1 AND id = $2 AND submitted_at IS NULL AND deadline >= $6 \
             RETURNING {ATTEMPT_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(attempt)
        .bind(millis(at))
        .bind(score)
        .bind(answers)
        .bind(millis(due))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let outcome = match row {
            Some(row) => Submitted::Scored(attempt_from(&row)?),
            None => {
                let found: Option<(Option<i64>, i64)> = sqlx::query_as(
                    "SELECT submitted_at, deadline FROM quiz_attempts WHERE workspace_id = $1 AND id = $2",
                )
                .bind(ws.0)
                .bind(attempt)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                match found {
                    Some((Some(_), _)) | None => Submitted::Already,
                    Some((None, deadline)) => Submitted::Expired(
                        jiff::Timestamp::from_millisecond(deadline)
                            .map_err(|_| corrupt("deadline", &deadline.to_string()))?,
                    ),
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn leaderboard(&self, ws: WorkspaceId, quiz: i64, limit: usize) -> Result<Vec<Ranked>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT customer_id, score, duration_ms FROM (SELECT customer_id, score, duration_ms, submitted_at, id, \
             ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY score DESC, duration_ms, submitted_at, id) AS place \
             FROM quiz_attempts WHERE workspace_id = $1 AND quiz_id = $2 AND submitted_at IS NOT NULL) AS best \
             WHERE place = 1 ORDER BY score DESC, duration_ms, submitted_at, id LIMIT $3",
        )
        .bind(ws.0)
        .bind(quiz)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(customer_id, score, duration_ms)| Ranked { customer_id, score, duration_ms })
            .collect())
    }

    async fn quiz_counts(&self, ws: WorkspaceId, quiz: i64, pass_score: Option<i64>) -> Result<QuizCounts, StoreError> {
        let (participants, attempts, submitted, average): (i64, i64, i64, Option<f64>) = sqlx::query_as(
            "SELECT COUNT(DISTINCT customer_id), COUNT(*), COUNT(submitted_at), CAST(AVG(score) AS DOUBLE PRECISION) \
             FROM quiz_attempts WHERE workspace_id = $1 AND quiz_id = $2",
        )
        .bind(ws.0)
        .bind(quiz)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let passed: i64 = match pass_score {
            Some(pass) => sqlx::query_scalar(
                "SELECT COUNT(DISTINCT customer_id) FROM quiz_attempts WHERE workspace_id = $1 AND quiz_id = $2 \
                 AND score >= $3",
            )
            .bind(ws.0)
            .bind(quiz)
            .bind(pass)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?,
            None => 0,
        };
        Ok(QuizCounts { participants, attempts, submitted, passed, average_score: average.unwrap_or(0.0) })
    }

    async fn claim_quizzes_to_award(
        &self,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<(WorkspaceId, StoredQuiz)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT workspace_id, {QUIZ_COLUMNS} FROM quizzes WHERE awarded_at IS NULL AND ends_at <= $1 \
             AND (award_lease_until IS NULL OR award_lease_until <= $1) ORDER BY ends_at LIMIT $2{SKIP_LOCKED}"
        )))
        .bind(millis(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let claimed: Vec<(WorkspaceId, StoredQuiz)> = rows
            .iter()
            .map(|row| Ok((WorkspaceId(get(row, "workspace_id")?), quiz_from(row)?)))
            .collect::<Result<_, StoreError>>()?;
        for (_, quiz) in &claimed {
            sqlx::query("UPDATE quizzes SET award_lease_until = $2 WHERE id = $1")
                .bind(quiz.id)
                .bind(millis(until))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn mark_awarded(&self, ws: WorkspaceId, quiz: i64, at: jiff::Timestamp) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE quizzes SET awarded_at = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(quiz)
            .bind(millis(at));
        self.write_one(query).await?;
        Ok(())
    }

    async fn attempts_of_customers(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<StoredAttempt>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut found = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {ATTEMPT_COLUMNS} FROM quiz_attempts WHERE workspace_id = "
            ));
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY id");
            for row in query.build().fetch_all(&self.pool).await.map_err(db_err)? {
                found.push(attempt_from(&row)?);
            }
        }
        Ok(found)
    }

    async fn erase_attempts(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new("DELETE FROM quiz_attempts WHERE workspace_id = ");
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(")");
            query.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await
    }
}
