// Workspaces (included into `sqlite` and `postgres`).

use siyu_domain::access::workspaces::{NewWorkspace, Workspace, WorkspaceStore};

fn workspace_row(row: &<Db as sqlx::Database>::Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: WorkspaceId(get(row, "id")?),
        slug: get(row, "slug")?,
        name: get(row, "name")?,
        time_zone: get(row, "time_zone")?,
        currency: get(row, "currency")?,
        created_at: ts(row, "created_at")?,
    })
}

const WORKSPACE_COLUMNS: &str = "SELECT id, slug, name, time_zone, currency, created_at FROM workspaces";

#[async_trait]
impl WorkspaceStore for SqlStore {
    async fn insert(
        &self,
        new: &NewWorkspace,
        wrapped_key: &[u8],
        now: jiff::Timestamp,
    ) -> Result<Workspace, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO workspaces (slug, name, time_zone, currency, data_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, slug, name, time_zone, currency, created_at",
        )
        .bind(&new.slug)
        .bind(&new.name)
        .bind(&new.time_zone)
        .bind(&new.currency)
        .bind(wrapped_key)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("workspace slug \"{}\" is taken", new.slug)),
            other => other,
        })?;
        tx.commit().await?;
        workspace_row(&row)
    }

    async fn find(&self, id: WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{WORKSPACE_COLUMNS} WHERE id = $1"));
        let row = sqlx::query(sql).bind(id.0).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(workspace_row).transpose()
    }

    async fn find_by_slug(&self, slug: &str) -> Result<Option<Workspace>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{WORKSPACE_COLUMNS} WHERE slug = $1"));
        let row = sqlx::query(sql).bind(slug).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(workspace_row).transpose()
    }

    async fn wrapped_key(&self, id: WorkspaceId) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar::<Db, Vec<u8>>("SELECT data_key FROM workspaces WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))
    }

    async fn update(&self, id: WorkspaceId, new: &NewWorkspace) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE workspaces SET name = $2, time_zone = $3, currency = $4 WHERE id = $1")
            .bind(id.0)
            .bind(&new.name)
            .bind(&new.time_zone)
            .bind(&new.currency);
        self.write_one(query).await?;
        Ok(())
    }

    async fn model_settings(&self, id: WorkspaceId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<Db, String>("SELECT settings FROM model_settings WHERE workspace_id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_model_settings(&self, id: WorkspaceId, json: &str, now: jiff::Timestamp) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO model_settings (workspace_id, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(id.0)
        .bind(json)
        .bind(millis(now));
        self.write_one(query).await?;
        Ok(())
    }
}
