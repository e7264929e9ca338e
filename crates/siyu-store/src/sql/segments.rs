// Segment definitions (included into `sqlite` and `postgres`).

use siyu_domain::segments::{SegmentStore, StoredSegment};

#[async_trait]
impl SegmentStore for SqlStore {
    async fn insert(&self, ws: WorkspaceId, segment: &StoredSegment) -> Result<(), StoreError> {
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
        .execute(&self.pool)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("segment key \"{}\" is taken", segment.key)),
            other => other,
        })?;
        Ok(())
    }

    async fn update(&self, ws: WorkspaceId, segment: &StoredSegment) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE segments SET name = $3, definition = $4, updated_at = $5 WHERE workspace_id = $1 AND key = $2",
        )
        .bind(ws.0)
        .bind(&segment.key)
        .bind(&segment.name)
        .bind(&segment.definition)
        .bind(millis(segment.updated_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
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
        let done = sqlx::query("DELETE FROM segments WHERE workspace_id = $1 AND key = $2")
            .bind(ws.0)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("segment \"{key}\"")));
        }
        Ok(())
    }
}
