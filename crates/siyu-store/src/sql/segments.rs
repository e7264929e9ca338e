// Segment definitions (included into `sqlite` and `postgres`).

use siyu_domain::segments::{SegmentStore, StoredSegment};

#[async_trait]
impl SegmentStore for SqlStore {
    async fn profile_facts(&self, ws: WorkspaceId) -> Result<siyu_domain::segments::ProfileFacts, StoreError> {
        let mut facts = siyu_domain::segments::ProfileFacts::default();
        self.read_facts(ws, None, &mut facts).await?;
        Ok(facts)
    }

    async fn profile_facts_of(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<siyu_domain::segments::ProfileFacts, StoreError> {
        let mut ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut facts = siyu_domain::segments::ProfileFacts::default();
        for chunk in ids.chunks(CHUNK) {
            self.read_facts(ws, Some(chunk), &mut facts).await?;
        }
        Ok(facts)
    }

    async fn insert(&self, ws: WorkspaceId, segment: &StoredSegment) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO segments (workspace_id, key, name, definition, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ws.0)
        .bind(&segment.key)
        .bind(&segment.name)
        .bind(&segment.definition)
        .bind(millis(segment.created_at))
        .bind(millis(segment.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("segment key \"{}\" is taken", segment.key)),
            other => other,
        })?;
        // A save racing an earlier segment's deletion may have left its members or sizes behind:
        // a new segment of the same key starts without them.
        for table in ["segment_members", "segment_sizes"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE workspace_id = $1 AND key = $2")))
                .bind(ws.0)
                .bind(&segment.key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn update(&self, ws: WorkspaceId, segment: &StoredSegment) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE segments SET name = $3, definition = $4, updated_at = $5 WHERE workspace_id = $1 AND key = $2",
        )
        .bind(ws.0)
        .bind(&segment.key)
        .bind(&segment.name)
        .bind(&segment.definition)
        .bind(millis(segment.updated_at));
        let done = self.write_one(query).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("segment \"{}\"", segment.key)));
        }
        Ok(())
    }

    async fn list(&self, ws: WorkspaceId) -> Result<Vec<StoredSegment>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, name, definition, created_at, updated_at FROM segments WHERE workspace_id = $1 ORDER BY key",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(StoredSegment {
                    key: get(row, "key")?,
                    name: get(row, "name")?,
                    definition: get(row, "definition")?,
                    created_at: ts(row, "created_at")?,
                    updated_at: ts(row, "updated_at")?,
                })
            })
            .collect()
    }

    async fn delete(&self, ws: WorkspaceId, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The definition first: a concurrent save of members checks that it exists.
        let done = sqlx::query("DELETE FROM segments WHERE workspace_id = $1 AND key = $2")
            .bind(ws.0)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("segment \"{key}\"")));
        }
        for table in ["segment_members", "segment_sizes"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE workspace_id = $1 AND key = $2")))
                .bind(ws.0)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn workspaces(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT workspace_id FROM segments")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(WorkspaceId).collect())
    }

    async fn save_members(&self, ws: WorkspaceId, key: &str, members: &[u8], now: jiff::Timestamp) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO segment_members (workspace_id, key, members, updated_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM segments WHERE workspace_id = $1 AND key = $2) \
             ON CONFLICT (workspace_id, key) DO UPDATE SET members = excluded.members, updated_at = excluded.updated_at",
        )
        .bind(ws.0)
        .bind(key)
        .bind(members)
        .bind(millis(now));
        self.write_one(query).await?;
        Ok(())
    }

    async fn members(&self, ws: WorkspaceId) -> Result<Vec<(String, Vec<u8>, jiff::Timestamp)>, StoreError> {
        let rows = sqlx::query("SELECT key, members, updated_at FROM segment_members WHERE workspace_id = $1")
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| Ok((get(row, "key")?, get(row, "members")?, ts(row, "updated_at")?))).collect()
    }

    async fn record_size(&self, ws: WorkspaceId, key: &str, day: &str, size: u64) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO segment_sizes (workspace_id, key, day, size) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM segments WHERE workspace_id = $1 AND key = $2) \
             ON CONFLICT (workspace_id, key, day) DO UPDATE SET size = excluded.size",
        )
        .bind(ws.0)
        .bind(key)
        .bind(day)
        .bind(size as i64);
        self.write_one(query).await?;
        Ok(())
    }

    async fn sizes(&self, ws: WorkspaceId, key: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query("SELECT day, size FROM segment_sizes WHERE workspace_id = $1 AND key = $2 ORDER BY day")
            .bind(ws.0)
            .bind(key)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(|row| Ok((get(row, "day")?, get::<i64>(row, "size")? as u64))).collect()
    }
}
