// The audit log (included into `sqlite` and `postgres`).

use siyu_domain::access::audit::{AuditEntry, AuditStore};

#[async_trait]
impl AuditStore for SqlStore {
    async fn append(
        &self,
        ws: WorkspaceId,
        actor: &str,
        action: &str,
        target: &str,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let query =
            sqlx::query("INSERT INTO audit_log (workspace_id, actor, action, target, at) VALUES ($1, $2, $3, $4, $5)")
                .bind(ws.0)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(millis(now));
        self.write_one(query).await?;
        Ok(())
    }

    async fn list(&self, ws: WorkspaceId, page: &PageRequest) -> Result<Page<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, at FROM audit_log WHERE workspace_id = $1 AND id < $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(ws.0)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let entries = rows
            .iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: get(row, "id")?,
                    actor: get(row, "actor")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    at: ts(row, "at")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Page::from_overfetch(entries, page.limit, |e| e.id))
    }
}
