// Durable jobs (included into `sqlite` and `postgres`; `SKIP_LOCKED` is each backend's claim suffix).

use siyu_domain::jobs::{Job, JobRecord, JobState, JobStore, NewJob};

const JOB_COLUMNS: &str = "id, workspace_id, kind, key, payload, run_at, attempts, max_attempts";

fn job_row(row: &<Db as sqlx::Database>::Row) -> Result<Job, StoreError> {
    let count = |column: &str| -> Result<u32, StoreError> {
        let n: i64 = get(row, column)?;
        u32::try_from(n).map_err(|_| corrupt(column, &n.to_string()))
    };
    Ok(Job {
        id: get(row, "id")?,
        workspace_id: WorkspaceId(get(row, "workspace_id")?),
        kind: get(row, "kind")?,
        key: get(row, "key")?,
        payload: get(row, "payload")?,
        run_at: ts(row, "run_at")?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
    })
}

/// Appends `(k1, k2, …)` binding each kind.
fn push_kinds(query: &mut sqlx::QueryBuilder<Db>, kinds: &[String]) {
    query.push("(");
    let mut separated = query.separated(", ");
    for kind in kinds {
        separated.push_bind(kind.clone());
    }
    separated.push_unseparated(")");
}

impl SqlStore {
    /// Ends `owner`'s lease on a pending job: sets its state, and the error and due time given
    /// (keeping the old ones where `None`); returns whether `owner` still held it.
    async fn release(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        (state, error, run_at): (JobState, Option<&str>, Option<jiff::Timestamp>),
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = $4, last_error = COALESCE($5, last_error), run_at = COALESCE($6, run_at), \
             leased_by = NULL, lease_until = NULL, updated_at = $7 \
             WHERE workspace_id = $1 AND id = $2 AND leased_by = $3 AND state = 'pending'",
        )
        .bind(ws.0)
        .bind(id)
        .bind(owner)
        .bind(state.as_str())
        .bind(error)
        .bind(run_at.map(millis))
        .bind(millis(now));
        let done = self.write_one(query).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Inserts pending jobs in the caller's transaction, one statement per few hundred (a key the
/// workspace has for the kind is left as it is); returns how many were new.
async fn insert_jobs<'a>(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    jobs: impl Iterator<Item = &'a NewJob>,
    now: jiff::Timestamp,
) -> Result<u64, StoreError> {
    let jobs: Vec<&NewJob> = jobs.collect();
    let mut inserted = 0;
    for chunk in jobs.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO jobs (workspace_id, kind, key, payload, state, run_at, attempts, max_attempts, \
             created_at, updated_at) ",
        );
        query.push_values(chunk, |mut row, job| {
            row.push_bind(ws.0)
                .push_bind(job.kind.clone())
                .push_bind(job.key.clone())
                .push_bind(job.payload.clone())
                .push_bind("pending")
                .push_bind(millis(job.run_at))
                .push_bind(0_i64)
                .push_bind(i64::from(job.max_attempts.max(1)))
                .push_bind(millis(now))
                .push_bind(millis(now));
        });
        query.push(" ON CONFLICT (workspace_id, kind, key) DO NOTHING");
        inserted += query.build().execute(&mut **tx).await.map_err(db_err)?.rows_affected();
    }
    Ok(inserted)
}

#[async_trait]
impl JobStore for SqlStore {
    async fn schedule(&self, ws: WorkspaceId, job: &NewJob, now: jiff::Timestamp) -> Result<(i64, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO jobs (workspace_id, kind, key, payload, state, run_at, attempts, max_attempts, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, 0, $6, $7, $7) \
             ON CONFLICT (workspace_id, kind, key) DO NOTHING RETURNING id",
        )
        .bind(ws.0)
        .bind(&job.kind)
        .bind(&job.key)
        .bind(&job.payload)
        .bind(millis(job.run_at))
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let found = match inserted {
            Some(id) => (id, true),
            None => {
                let id = sqlx::query_scalar("SELECT id FROM jobs WHERE workspace_id = $1 AND kind = $2 AND key = $3")
                    .bind(ws.0)
                    .bind(&job.kind)
                    .bind(&job.key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                (id, false)
            }
        };
        tx.commit().await?;
        Ok(found)
    }

    async fn schedule_many(&self, ws: WorkspaceId, jobs: &[NewJob], now: jiff::Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = insert_jobs(&mut tx, ws, jobs.iter(), now).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn claim(
        &self,
        kinds: &[String],
        owner: &str,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let now = millis(now);
        let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE jobs SET leased_by = ");
        query.push_bind(owner.to_string()).push(", lease_until = ").push_bind(millis(lease_until));
        // A claim is no change of state: `updated_at` (and the listing index under it) stays.
        query.push(", attempts = attempts + 1");
        query.push(" WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND kind IN ");
        push_kinds(&mut query, kinds);
        query.push(" AND run_at <= ").push_bind(now);
        query.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now);
        query.push(") ORDER BY run_at, id LIMIT ").push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        query.push(SKIP_LOCKED).push(") RETURNING ").push(JOB_COLUMNS);
        let mut tx = self.begin_write().await?;
        let rows = query.build().fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.commit().await?;
        let mut jobs = rows.iter().map(job_row).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|job| (job.run_at, job.id));
        Ok(jobs)
    }

    async fn complete(&self, ws: WorkspaceId, id: i64, owner: &str, now: jiff::Timestamp) -> Result<bool, StoreError> {
        self.release(ws, id, owner, (JobState::Done, None, None), now).await
    }

    async fn complete_many(
        &self,
        ws: WorkspaceId,
        ids: &[i64],
        owner: &str,
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut done = 0;
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE jobs SET state = 'done', leased_by = NULL, lease_until = NULL, updated_at = ");
            // `+workspace_id` keeps SQLite on the primary key: without statistics its planner
            // prefers `jobs_workspace (workspace_id, state, …)` to a long id list, and then reads
            // every pending job of the workspace for each batch it completes.
            query.push_bind(millis(now)).push(" WHERE +workspace_id = ").push_bind(ws.0);
            query.push(" AND leased_by = ").push_bind(owner.to_string()).push(" AND state = 'pending' AND id IN (");
            push_id_list(&mut query, chunk);
            query.push(")");
            done += query.build().execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn retry(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        error: &str,
        run_at: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        self.release(ws, id, owner, (JobState::Pending, Some(error), Some(run_at)), now).await
    }

    async fn defer(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        reason: &str,
        run_at: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE jobs SET last_error = $4, run_at = $5, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             leased_by = NULL, lease_until = NULL, updated_at = $6 \
             WHERE workspace_id = $1 AND id = $2 AND leased_by = $3 AND state = 'pending'",
        )
        .bind(ws.0)
        .bind(id)
        .bind(owner)
        .bind(reason)
        .bind(millis(run_at))
        .bind(millis(now));
        let done = self.write_one(query).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn bury(
        &self,
        ws: WorkspaceId,
        id: i64,
        owner: &str,
        error: &str,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        self.release(ws, id, owner, (JobState::Dead, Some(error), None), now).await
    }

    async fn next_due(&self, kinds: &[String]) -> Result<Option<jiff::Timestamp>, StoreError> {
        // A job is due at its run_at, or when its lease ends if that is later. Each part reads
        // the front of an index (`jobs_due` per kind, `jobs_leased`), never every pending job.
        let mut next: Option<i64> = None;
        for kind in kinds {
            let unleased: Option<i64> = sqlx::query_scalar(
                "SELECT run_at FROM jobs WHERE state = 'pending' AND kind = $1 \
                 AND (lease_until IS NULL OR lease_until <= run_at) ORDER BY run_at, id LIMIT 1",
            )
            .bind(kind)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
            next = next.into_iter().chain(unleased).min();
        }
        if !kinds.is_empty() {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT MIN(lease_until) FROM jobs WHERE state = 'pending' AND lease_until IS NOT NULL \
                 AND lease_until > run_at AND kind IN ",
            );
            push_kinds(&mut query, kinds);
            let leased: Option<i64> = query.build_query_scalar().fetch_one(&self.pool).await.map_err(db_err)?;
            next = next.into_iter().chain(leased).min();
        }
        Ok(next.map(from_millis))
    }

    async fn jobs(&self, ws: WorkspaceId, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS}, state, last_error, updated_at FROM jobs \
             WHERE workspace_id = $1 AND state = $2 ORDER BY updated_at DESC, id DESC LIMIT $3"
        )))
        .bind(ws.0)
        .bind(state.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let state_text: String = get(row, "state")?;
                Ok(JobRecord {
                    job: job_row(row)?,
                    state: JobState::parse(&state_text).ok_or_else(|| corrupt("job state", &state_text))?,
                    last_error: get(row, "last_error")?,
                    updated_at: ts(row, "updated_at")?,
                })
            })
            .collect()
    }
}
