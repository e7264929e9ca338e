// Journeys and their entries (included into `sqlite` and `postgres`; `LOCK_ROW` and `SKIP_LOCKED`
// are each backend's row locks).

use siyu_domain::journeys::store::{
    Advance, EntryRule, EntryState, JourneyCounts, JourneyStatus, JourneyStore, NewEntry, StoredJourney, StoredTask,
};
use siyu_domain::journeys::store::StoredEntry as JourneyEntry;

const ENTRY_COLUMNS: &str = "id, workspace_id, journey_id, version, customer_id, node, waiting, event_seen, state, \
     due_at, arm, converted, entered_at, updated_at";

fn journey_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredJourney, StoreError> {
    let status: String = get(row, "status")?;
    Ok(StoredJourney {
        id: get(row, "id")?,
        name: get(row, "name")?,
        status: JourneyStatus::parse(&status).ok_or_else(|| corrupt("journey status", &status))?,
        draft: get(row, "draft")?,
        version: get(row, "version")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn entry_row(row: &<Db as sqlx::Database>::Row) -> Result<JourneyEntry, StoreError> {
    let state: String = get(row, "state")?;
    Ok(JourneyEntry {
        id: get(row, "id")?,
        workspace_id: WorkspaceId(get(row, "workspace_id")?),
        journey_id: get(row, "journey_id")?,
        version: get(row, "version")?,
        customer: CustomerId(get(row, "customer_id")?),
        node: get(row, "node")?,
        waiting: get::<i64>(row, "waiting")? != 0,
        event_seen: get::<i64>(row, "event_seen")? != 0,
        state: EntryState::parse(&state).ok_or_else(|| corrupt("entry state", &state))?,
        due_at: ts(row, "due_at")?,
        arm: get(row, "arm")?,
        converted: get::<i64>(row, "converted")? != 0,
        entered_at: ts(row, "entered_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

#[async_trait]
impl JourneyStore for SqlStore {
    async fn insert_journey(
        &self,
        ws: WorkspaceId,
        name: &str,
        draft: &str,
        now: jiff::Timestamp,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO journeys (workspace_id, name, status, draft, version, created_at, updated_at) \
             VALUES ($1, $2, 'draft', $3, 0, $4, $4) RETURNING id",
        )
        .bind(ws.0)
        .bind(name)
        .bind(draft)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn update_draft(
        &self,
        ws: WorkspaceId,
        id: i64,
        name: &str,
        draft: &str,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE journeys SET name = $3, draft = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(id)
        .bind(name)
        .bind(draft)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("journey {id}")));
        }
        Ok(())
    }

    async fn journey(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredJourney>, StoreError> {
        let row = sqlx::query("SELECT * FROM journeys WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(journey_row).transpose()
    }

    async fn journeys(&self, ws: WorkspaceId) -> Result<Vec<StoredJourney>, StoreError> {
        let rows = sqlx::query("SELECT * FROM journeys WHERE workspace_id = $1 ORDER BY id DESC")
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(journey_row).collect()
    }

    async fn publish(&self, ws: WorkspaceId, id: i64, definition: &str, now: jiff::Timestamp) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT version FROM journeys WHERE workspace_id = $1 AND id = $2{LOCK_ROW}");
        let current: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(current) = current else { return Err(StoreError::NotFound(format!("journey {id}"))) };
        let version = current + 1;
        sqlx::query(
            "INSERT INTO journey_versions (workspace_id, journey_id, version, definition, published_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ws.0)
        .bind(id)
        .bind(version)
        .bind(definition)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE journeys SET version = $3, status = 'active', updated_at = $4 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(id)
        .bind(version)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(version)
    }

    async fn set_status(
        &self,
        ws: WorkspaceId,
        id: i64,
        status: JourneyStatus,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE journeys SET status = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(id)
            .bind(status.as_str())
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("journey {id}")));
        }
        if status == JourneyStatus::Archived {
            sqlx::query(
                "UPDATE journey_entries SET state = 'exited', waiting = 0, updated_at = $3 \
                 WHERE workspace_id = $1 AND journey_id = $2 AND state = 'active'",
            )
            .bind(ws.0)
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn active_workspaces(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT workspace_id FROM journeys WHERE status = 'active'")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(WorkspaceId).collect())
    }

    async fn version(&self, ws: WorkspaceId, id: i64, version: i64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT definition FROM journey_versions WHERE workspace_id = $1 AND journey_id = $2 AND version = $3",
        )
        .bind(ws.0)
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn enter(
        &self,
        ws: WorkspaceId,
        journey: i64,
        entries: &[NewEntry],
        rule: EntryRule,
        now: jiff::Timestamp,
    ) -> Result<Vec<(i64, CustomerId)>, StoreError> {
        let mut tx = self.begin_write().await?;
        // The journey's row lock makes enters of one journey take turns (on SQLite the write
        // transaction does), so two processes cannot both find a customer not yet on it.
        let sql = format!("SELECT version, status, draft FROM journeys WHERE workspace_id = $1 AND id = $2{LOCK_ROW}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(journey)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Err(StoreError::NotFound(format!("journey {journey}"))) };
        let (version, status): (i64, String) = (get(&row, "version")?, get(&row, "status")?);
        if status != "active" {
            return Ok(Vec::new());
        }
        let start: String = {
            let text: String = sqlx::query_scalar(
                "SELECT definition FROM journey_versions WHERE journey_id = $1 AND version = $2",
            )
            .bind(journey)
            .bind(version)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let definition: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| corrupt("journey definition", &e.to_string()))?;
            definition["start"].as_str().unwrap_or_default().to_string()
        };
        // One entry per customer per call: the rule is decided against what was there before.
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<&NewEntry> = entries.iter().filter(|e| seen.insert(e.customer)).collect();
        let blocked_by = match rule {
            EntryRule::Once => "",
            EntryRule::NotWhileOn => " AND state = 'active'",
            EntryRule::NotSince(_) => " AND (state = 'active' OR entered_at > ",
        };
        // A few statements per few hundred customers, not two per customer: the write transaction
        // holds SQLite's one writer, which the step worker's claims wait for.
        const ROWS: usize = 400;
        let mut entered = Vec::new();
        for chunk in entries.chunks(ROWS) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT DISTINCT customer_id FROM journey_entries WHERE workspace_id = ",
            );
            query.push_bind(ws.0).push(" AND journey_id = ").push_bind(journey).push(blocked_by);
            if let EntryRule::NotSince(since) = rule {
                query.push_bind(millis(since)).push(")");
            }
            query.push(" AND customer_id IN (");
            let mut ids = query.separated(", ");
            for entry in chunk {
                ids.push_bind(entry.customer.0);
            }
            ids.push_unseparated(")");
            let blocked: std::collections::HashSet<i64> =
                query.build_query_scalar::<i64>().fetch_all(&mut *tx).await.map_err(db_err)?.into_iter().collect();
            let open: Vec<&&NewEntry> = chunk.iter().filter(|e| !blocked.contains(&e.customer.0)).collect();
            if open.is_empty() {
                continue;
            }
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO journey_entries (workspace_id, journey_id, version, customer_id, trigger_key, node, \
                 waiting, state, due_at, converted, entered_at, updated_at) ",
            );
            insert.push_values(&open, |mut row, entry| {
                row.push_bind(ws.0)
                    .push_bind(journey)
                    .push_bind(version)
                    .push_bind(entry.customer.0)
                    .push_bind(entry.trigger_key.clone())
                    .push_bind(start.clone())
                    .push_bind(0i64)
                    .push_bind("active")
                    .push_bind(millis(entry.start_at.unwrap_or(now)))
                    .push_bind(0i64)
                    .push_bind(millis(now))
                    .push_bind(millis(now));
            });
            insert.push(" ON CONFLICT (journey_id, customer_id, trigger_key) DO NOTHING RETURNING id, customer_id");
            let rows = insert.build().fetch_all(&mut *tx).await.map_err(db_err)?;
            for row in &rows {
                entered.push((get::<i64>(row, "id")?, CustomerId(get::<i64>(row, "customer_id")?)));
            }
        }
        // In the order the customers came (the rows come back in no promised order).
        let order: std::collections::HashMap<i64, usize> =
            entries.iter().enumerate().map(|(i, e)| (e.customer.0, i)).collect();
        entered.sort_by_key(|(_, customer)| order.get(&customer.0).copied().unwrap_or(usize::MAX));
        tx.commit().await?;
        Ok(entered)
    }

    async fn claim_entries(
        &self,
        owner: &str,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<JourneyEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = millis(now);
        let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE journey_entries SET leased_by = ");
        query.push_bind(owner.to_string()).push(", lease_until = ").push_bind(millis(lease_until));
        query.push(" WHERE id IN (SELECT id FROM journey_entries WHERE state = 'active' AND due_at <= ").push_bind(now);
        query.push(" AND (lease_until IS NULL OR lease_until <= ").push_bind(now);
        // `+journey_id`: no index on the journey (SQLite would otherwise read every active entry of
        // the journey and sort them, a cost that grows with the journey; the due index gives the
        // oldest first and stops at the limit).
        query.push(") AND +journey_id IN (SELECT id FROM journeys WHERE status = 'active')");
        query.push(" ORDER BY due_at, id LIMIT ").push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        query.push(SKIP_LOCKED).push(") RETURNING ").push(ENTRY_COLUMNS);
        let mut tx = self.begin_urgent_write().await?;
        let rows = query.build().fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.commit().await?;
        let mut entries = rows.iter().map(entry_row).collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| (e.due_at, e.id));
        Ok(entries)
    }

    async fn next_entry_due(&self) -> Result<Option<jiff::Timestamp>, StoreError> {
        // The oldest in the due index's order, not `MIN(due_at)` with a filter (which reads them all).
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT due_at FROM journey_entries WHERE state = 'active' \
             AND +journey_id IN (SELECT id FROM journeys WHERE status = 'active') ORDER BY due_at LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(due.map(siyu_core::clock::from_millis))
    }

    async fn advance(
        &self,
        ws: WorkspaceId,
        owner: &str,
        advance: &Advance,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_urgent_write().await?;
        // One statement per few hundred entries: each row names the entry and its new place.
        const ROWS: usize = 400;
        for chunk in advance.entries.chunks(ROWS) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "UPDATE journey_entries SET node = v.column2, waiting = v.column3, state = v.column4, \
                 due_at = v.column5, arm = v.column6, updated_at = ",
            );
            query.push_bind(millis(now));
            query.push(", leased_by = NULL, lease_until = NULL, event_seen = 0 FROM (");
            query.push_values(chunk, |mut row, update| {
                row.push_bind(update.id)
                    .push_bind(update.node.clone())
                    .push_bind(i64::from(update.waiting))
                    .push_bind(update.state.as_str())
                    .push_bind(millis(update.due_at))
                    .push_bind(update.arm.clone());
            });
            query.push(") AS v WHERE journey_entries.id = v.column1 AND journey_entries.workspace_id = ").push_bind(ws.0);
            query.push(" AND journey_entries.leased_by = ").push_bind(owner.to_string());
            query.push(" AND journey_entries.state = 'active'");
            let done = query.build().execute(&mut *tx).await.map_err(db_err)?;
            if done.rows_affected() != chunk.len() as u64 {
                // Dropped without commit: nothing of the batch is written.
                return Err(StoreError::Conflict(format!(
                    "{} of {} entries are no longer {owner}'s",
                    chunk.len() as u64 - done.rows_affected(),
                    chunk.len()
                )));
            }
        }
        let messages: Vec<_> = advance.messages.iter().map(|(message, job)| (message, job)).collect();
        insert_messages(&mut tx, ws, &messages, now).await?;
        for task in &advance.tasks {
            sqlx::query(
                "INSERT INTO agent_tasks (workspace_id, customer_id, journey_id, entry_id, node, reason, status, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $7) \
                 ON CONFLICT (entry_id, node) DO NOTHING",
            )
            .bind(ws.0)
            .bind(task.customer.0)
            .bind(task.journey_id)
            .bind(task.entry_id)
            .bind(&task.node)
            .bind(&task.reason)
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for (journey, version, node, outcome, n) in &advance.counts {
            sqlx::query(
                "INSERT INTO journey_counts (workspace_id, journey_id, version, node, outcome, n) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (journey_id, version, node, outcome) \
                 DO UPDATE SET n = journey_counts.n + excluded.n",
            )
            .bind(ws.0)
            .bind(journey)
            .bind(version)
            .bind(node)
            .bind(*outcome)
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn convert(
        &self,
        ws: WorkspaceId,
        journeys: &[i64],
        customers: &[CustomerId],
        now: jiff::Timestamp,
    ) -> Result<Vec<(i64, CustomerId)>, StoreError> {
        if journeys.is_empty() || customers.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut converted = Vec::new();
        for chunk in customers.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "UPDATE journey_entries SET state = 'exited', converted = 1, waiting = 0, leased_by = NULL, \
                 lease_until = NULL, updated_at = ",
            );
            query.push_bind(millis(now)).push(" WHERE workspace_id = ").push_bind(ws.0);
            query.push(" AND state = 'active' AND journey_id IN (");
            push_id_list(&mut query, journeys);
            query.push(") AND customer_id IN (");
            push_id_list(&mut query, &ids);
            query.push(") RETURNING id, customer_id");
            for row in query.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                converted.push((get(&row, "id")?, CustomerId(get(&row, "customer_id")?)));
            }
        }
        tx.commit().await?;
        Ok(converted)
    }

    async fn event_seen(
        &self,
        ws: WorkspaceId,
        journey: i64,
        version: i64,
        node: &str,
        customers: &[CustomerId],
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut seen = 0;
        for chunk in customers.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
            let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE journey_entries SET event_seen = 1, due_at = ");
            query.push_bind(millis(now)).push(", updated_at = ").push_bind(millis(now));
            query.push(" WHERE workspace_id = ").push_bind(ws.0);
            query.push(" AND journey_id = ").push_bind(journey);
            query.push(" AND version = ").push_bind(version);
            query.push(" AND node = ").push_bind(node.to_string());
            query.push(" AND waiting = 1 AND state = 'active' AND customer_id IN (");
            push_id_list(&mut query, &ids);
            query.push(")");
            seen += query.build().execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        tx.commit().await?;
        Ok(seen)
    }

    async fn counts(&self, ws: WorkspaceId, journey: i64) -> Result<JourneyCounts, StoreError> {
        let mut counts = JourneyCounts::default();
        let rows = sqlx::query(
            "SELECT version, node, outcome, n FROM journey_counts WHERE workspace_id = $1 AND journey_id = $2",
        )
        .bind(ws.0)
        .bind(journey)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in rows {
            counts.nodes.push((get(&row, "version")?, get(&row, "node")?, get(&row, "outcome")?, get(&row, "n")?));
        }
        let rows = sqlx::query(
            "SELECT node, COUNT(*) AS n FROM journey_entries WHERE workspace_id = $1 AND journey_id = $2 \
             AND state = 'active' AND waiting = 1 GROUP BY node",
        )
        .bind(ws.0)
        .bind(journey)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in rows {
            counts.waiting.push((get(&row, "node")?, get(&row, "n")?));
        }
        let rows = sqlx::query(
            "SELECT journey_node, status, COUNT(*) AS n FROM messages WHERE workspace_id = $1 AND journey_id = $2 \
             AND journey_node IS NOT NULL GROUP BY journey_node, status",
        )
        .bind(ws.0)
        .bind(journey)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in rows {
            counts.messages.push((get(&row, "journey_node")?, get(&row, "status")?, get(&row, "n")?));
        }
        let rows = sqlx::query(
            "SELECT COALESCE(arm, '') AS arm, COUNT(*) AS n, CAST(SUM(converted) AS BIGINT) AS c FROM journey_entries \
             WHERE workspace_id = $1 AND journey_id = $2 GROUP BY COALESCE(arm, '')",
        )
        .bind(ws.0)
        .bind(journey)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in rows {
            counts.arms.push((get(&row, "arm")?, get(&row, "n")?, get::<Option<i64>>(&row, "c")?.unwrap_or(0)));
        }
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM journey_entries WHERE workspace_id = $1 AND journey_id = $2 GROUP BY state",
        )
        .bind(ws.0)
        .bind(journey)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in rows {
            counts.states.push((get(&row, "state")?, get(&row, "n")?));
        }
        Ok(counts)
    }

    async fn entries_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<JourneyEntry>, StoreError> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = customers.iter().map(|c| c.0).take(CHUNK).collect();
        let mut query = sqlx::QueryBuilder::<Db>::new(format!("SELECT {ENTRY_COLUMNS} FROM journey_entries WHERE workspace_id = "));
        query.push_bind(ws.0).push(" AND customer_id IN (");
        push_id_list(&mut query, &ids);
        query.push(") ORDER BY id DESC LIMIT 1000");
        let rows = query.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(entry_row).collect()
    }

    async fn tasks(&self, ws: WorkspaceId, open_only: bool, limit: usize) -> Result<Vec<StoredTask>, StoreError> {
        let filter = if open_only { " AND status = 'open'" } else { "" };
        let sql = format!(
            "SELECT id, customer_id, journey_id, node, reason, status, created_at FROM agent_tasks \
             WHERE workspace_id = $1{filter} ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(StoredTask {
                    id: get(row, "id")?,
                    customer_id: CustomerId(get(row, "customer_id")?),
                    journey_id: get(row, "journey_id")?,
                    node: get(row, "node")?,
                    reason: get(row, "reason")?,
                    status: get(row, "status")?,
                    created_at: ts(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn complete_task(&self, ws: WorkspaceId, id: i64, now: jiff::Timestamp) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE agent_tasks SET status = 'done', updated_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("task {id}")));
        }
        Ok(())
    }

    async fn trigger_position(&self, ws: WorkspaceId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT checkpoint FROM journey_positions WHERE workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_trigger_position(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO journey_positions (workspace_id, checkpoint, saved_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id) DO UPDATE SET checkpoint = excluded.checkpoint, saved_at = excluded.saved_at",
        )
        .bind(ws.0)
        .bind(checkpoint)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn fired(&self, ws: WorkspaceId, journey: i64, occurrence: jiff::Timestamp) -> Result<bool, StoreError> {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM journey_firings WHERE workspace_id = $1 AND journey_id = $2 AND occurrence = $3",
        )
        .bind(ws.0)
        .bind(journey)
        .bind(millis(occurrence))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(found > 0)
    }

    async fn note_fired(
        &self,
        ws: WorkspaceId,
        journey: i64,
        occurrence: jiff::Timestamp,
        entered: u64,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO journey_firings (workspace_id, journey_id, occurrence, entered, fired_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (journey_id, occurrence) DO NOTHING",
        )
        .bind(ws.0)
        .bind(journey)
        .bind(millis(occurrence))
        .bind(i64::try_from(entered).unwrap_or(i64::MAX))
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn firings(
        &self,
        ws: WorkspaceId,
        journey: i64,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, u64)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT occurrence, entered FROM journey_firings WHERE workspace_id = $1 AND journey_id = $2 \
             ORDER BY occurrence DESC LIMIT $3",
        )
        .bind(ws.0)
        .bind(journey)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter()
            .map(|(occurrence, entered)| {
                let at = jiff::Timestamp::from_millisecond(occurrence).map_err(|_| corrupt("firing time", &occurrence.to_string()))?;
                Ok((at, u64::try_from(entered).unwrap_or(0)))
            })
            .collect()
    }

    async fn erase_entries(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for chunk in customers.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
            for table in ["journey_entries", "agent_tasks"] {
                let mut query = sqlx::QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE workspace_id = "));
                query.push_bind(ws.0).push(" AND customer_id IN (");
                push_id_list(&mut query, &ids);
                query.push(")");
                query.build().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await
    }
}
