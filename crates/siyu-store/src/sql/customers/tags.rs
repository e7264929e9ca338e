// Tags and tag groups (included into `sqlite` and `postgres`).

use siyu_domain::customers::tags::{Tag, TagFamily, TagGroup, TagStore};

fn family(text: &str) -> Result<TagFamily, StoreError> {
    TagFamily::parse(text).ok_or_else(|| corrupt("tag family", text))
}

#[async_trait]
impl TagStore for SqlStore {
    async fn insert_group(
        &self,
        ws: WorkspaceId,
        name: &str,
        family: TagFamily,
        now: jiff::Timestamp,
    ) -> Result<TagGroup, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tag_groups (workspace_id, name, family, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(ws.0)
        .bind(name)
        .bind(family.as_str())
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("tag group \"{name}\" already exists")),
            other => other,
        })?;
        tx.commit().await?;
        Ok(TagGroup { id: TagGroupId(id), name: name.into(), family })
    }

    async fn groups(&self, ws: WorkspaceId) -> Result<Vec<TagGroup>, StoreError> {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, family FROM tag_groups WHERE workspace_id = $1 ORDER BY name")
                .bind(ws.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, name, fam)| Ok(TagGroup { id: TagGroupId(id), name, family: family(&fam)? }))
            .collect()
    }

    async fn find_group(&self, ws: WorkspaceId, name: &str) -> Result<Option<TagGroup>, StoreError> {
        let row: Option<(i64, String, String)> =
            sqlx::query_as("SELECT id, name, family FROM tag_groups WHERE workspace_id = $1 AND name = $2")
                .bind(ws.0)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(|(id, name, fam)| Ok(TagGroup { id: TagGroupId(id), name, family: family(&fam)? })).transpose()
    }

    async fn insert_tag(
        &self,
        ws: WorkspaceId,
        group: TagGroupId,
        name: &str,
        now: jiff::Timestamp,
    ) -> Result<Tag, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tags (workspace_id, group_id, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(ws.0)
        .bind(group.0)
        .bind(name)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("tag \"{name}\" already exists")),
            other => other,
        })?;
        tx.commit().await?;
        self.tags(ws).await?.into_iter().find(|t| t.id.0 == id).ok_or_else(|| StoreError::NotFound(format!("tag {id}")))
    }

    async fn tags(&self, ws: WorkspaceId) -> Result<Vec<Tag>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.group_id, g.name AS group_name, g.family, \
             (SELECT COUNT(*) FROM customer_tags ct WHERE ct.tag_id = t.id) AS customer_count \
             FROM tags t JOIN tag_groups g ON g.id = t.group_id WHERE t.workspace_id = $1 ORDER BY g.name, t.name",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let fam: String = get(row, "family")?;
                Ok(Tag {
                    id: TagId(get(row, "id")?),
                    name: get(row, "name")?,
                    group_id: TagGroupId(get(row, "group_id")?),
                    group: get(row, "group_name")?,
                    family: family(&fam)?,
                    customer_count: get(row, "customer_count")?,
                })
            })
            .collect()
    }

    async fn resolve_names(&self, ws: WorkspaceId, names: &[String]) -> Result<(Vec<TagId>, Vec<String>), StoreError> {
        let mut found: BTreeMap<String, i64> = BTreeMap::new();
        for chunk in names.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new("SELECT name, id FROM tags WHERE workspace_id = ");
            query.push_bind(ws.0).push(" AND name IN (");
            let mut separated = query.separated(", ");
            for name in chunk {
                separated.push_bind(name.clone());
            }
            query.push(")");
            let rows: Vec<(String, i64)> = query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            found.extend(rows);
        }
        let mut ids = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            match found.get(name) {
                Some(id) => ids.push(TagId(*id)),
                None => missing.push(name.clone()),
            }
        }
        Ok((ids, missing))
    }

    async fn delete_tag(&self, ws: WorkspaceId, id: TagId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM customer_tags WHERE workspace_id = $1 AND tag_id = $2")
            .bind(ws.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let done = sqlx::query("DELETE FROM tags WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tag {id}")));
        }
        tx.commit().await
    }
}
