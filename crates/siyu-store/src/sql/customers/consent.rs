// Consent records (included into `sqlite` and `postgres`).

use siyu_domain::customers::consent::{Channel, ConsentRecord, ConsentStore, Purpose};

#[async_trait]
impl ConsentStore for SqlStore {
    async fn record(&self, ws: WorkspaceId, records: &[(CustomerId, ConsentRecord)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let mut customers: Vec<i64> = records.iter().map(|(c, _)| c.0).collect();
        customers.sort_unstable();
        customers.dedup();
        for chunk in customers.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new("SELECT COUNT(*) FROM customers WHERE workspace_id = ");
            query.push_bind(ws.0).push(" AND merged_into IS NULL AND id IN (");
            push_id_list(&mut query, chunk);
            query.push(")");
            let live: i64 = query.build_query_scalar().fetch_one(&mut *tx).await.map_err(db_err)?;
            if live != chunk.len() as i64 {
                return Err(StoreError::NotFound("customer".into()));
            }
        }
        for chunk in records.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO consent_records (workspace_id, customer_id, purpose, channel, granted, source, \
                 policy_version, recorded_at) ",
            );
            query.push_values(chunk, |mut row, (customer, record)| {
                row.push_bind(ws.0)
                    .push_bind(customer.0)
                    .push_bind(record.purpose.as_str())
                    .push_bind(record.channel.as_str())
                    .push_bind(record.granted)
                    .push_bind(&record.source)
                    .push_bind(&record.policy_version)
                    .push_bind(millis(record.recorded_at));
            });
            query.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn history(&self, ws: WorkspaceId, customer: CustomerId) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT purpose, channel, granted, source, policy_version, recorded_at FROM consent_records \
             WHERE workspace_id = $1 AND customer_id = $2 ORDER BY recorded_at, id",
        )
        .bind(ws.0)
        .bind(customer.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let purpose: String = get(row, "purpose")?;
                let channel: String = get(row, "channel")?;
                Ok(ConsentRecord {
                    purpose: Purpose::parse(&purpose).ok_or_else(|| corrupt("purpose", &purpose))?,
                    channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
                    granted: get(row, "granted")?,
                    source: get(row, "source")?,
                    policy_version: get(row, "policy_version")?,
                    recorded_at: ts(row, "recorded_at")?,
                })
            })
            .collect()
    }
}
