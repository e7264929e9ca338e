// API keys (included into `sqlite` and `postgres`).

use siyu_domain::access::api_keys::{ApiKey, ApiKeyStore, KeyKind};

fn key_row(row: &<Db as sqlx::Database>::Row) -> Result<ApiKey, StoreError> {
    let kind: String = get(row, "kind")?;
    let role: String = get(row, "role")?;
    Ok(ApiKey {
        id: ApiKeyId(get(row, "id")?),
        workspace_id: WorkspaceId(get(row, "workspace_id")?),
        kind: KeyKind::parse(&kind).ok_or_else(|| corrupt("key kind", &kind))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        created_at: ts(row, "created_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

const KEY_COLUMNS: &str = "id, workspace_id, kind, role, name, prefix, created_at, last_used_at, revoked_at";

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn insert(
        &self,
        ws: WorkspaceId,
        kind: KeyKind,
        role: Role,
        name: &str,
        prefix: &str,
        hash: &str,
        now: jiff::Timestamp,
    ) -> Result<ApiKey, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_keys (workspace_id, kind, role, name, prefix, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
        ));
        let row = sqlx::query(sql)
            .bind(ws.0)
            .bind(kind.as_str())
            .bind(role.as_str())
            .bind(name)
            .bind(prefix)
            .bind(hash)
            .bind(millis(now))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        key_row(&row)
    }

    async fn find_active(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL"
        ));
        let row = sqlx::query(sql).bind(hash).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(key_row).transpose()
    }

    async fn list(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY id DESC"));
        let rows = sqlx::query(sql).bind(ws.0).fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(key_row).collect()
    }

    async fn revoke(&self, ws: WorkspaceId, id: ApiKeyId, now: jiff::Timestamp) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(id.0)
        .bind(millis(now));
        let done = self.write_one(query).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("API key {id}")));
        }
        Ok(())
    }

    async fn touch(&self, id: ApiKeyId, now: jiff::Timestamp) -> Result<(), StoreError> {
        let now = millis(now);
        let query = sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(id.0)
        .bind(now)
        .bind(now - 60_000);
        self.write_one(query).await?;
        Ok(())
    }
}
