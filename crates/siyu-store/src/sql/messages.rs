// Configured channels and messages (included into `sqlite` and `postgres`; `LOCK_ROW` is each
// backend's row lock).

use siyu_domain::channels::guardrails::MessageClass;
use siyu_domain::channels::store::{
    CapCheck, MessageFilter, MessageStatus, MessageStore, ReceiptOutcome, Reservation, StatusUpdate, StoredChannel,
    StoredMessage, StoredTemplate,
};

const MESSAGE_COLUMNS: &str = "id, key, channel, customer_id, class, content, source, status, guardrail, reason, \
     provider_id, created_at, updated_at, sent_at";

fn message_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredMessage, StoreError> {
    let class: String = get(row, "class")?;
    let status: String = get(row, "status")?;
    Ok(StoredMessage {
        id: get(row, "id")?,
        key: get(row, "key")?,
        channel: get(row, "channel")?,
        customer: get::<Option<i64>>(row, "customer_id")?.map(CustomerId),
        class: MessageClass::parse(&class).ok_or_else(|| corrupt("message class", &class))?,
        content: get(row, "content")?,
        source: get(row, "source")?,
        status: MessageStatus::parse(&status).ok_or_else(|| corrupt("message status", &status))?,
        guardrail: get(row, "guardrail")?,
        reason: get(row, "reason")?,
        provider_id: get(row, "provider_id")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
        sent_at: opt_ts(row, "sent_at")?,
    })
}

fn template_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredTemplate, StoreError> {
    let class: String = get(row, "class")?;
    Ok(StoredTemplate {
        name: get(row, "name")?,
        title: get(row, "title")?,
        class: MessageClass::parse(&class).ok_or_else(|| corrupt("template class", &class))?,
        content: get(row, "content")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

fn channel_row(row: &<Db as sqlx::Database>::Row) -> Result<StoredChannel, StoreError> {
    Ok(StoredChannel {
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        settings: get(row, "settings")?,
        secrets: get(row, "secrets")?,
        created_at: ts(row, "created_at")?,
        updated_at: ts(row, "updated_at")?,
    })
}

/// The journey and node a message's source names, kept in columns of their own for the log's
/// filter and the journey's counts.
fn journey_of(source: &str) -> (Option<i64>, Option<String>) {
    let Ok(source) = serde_json::from_str::<serde_json::Value>(source) else { return (None, None) };
    (source.get("journey").and_then(|j| j.as_i64()), source.get("node").and_then(|n| n.as_str()).map(str::to_string))
}

/// Inserts queued messages and their send jobs in the caller's transaction, a few statements per
/// hundred (a message whose key is already there is left as it is, and gets no second job);
/// returns how many were new.
async fn insert_messages(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    messages: &[(&StoredMessage, &siyu_domain::jobs::NewJob)],
    now: jiff::Timestamp,
) -> Result<u64, StoreError> {
    // 12 bindings a message: well inside both backends' limit on one statement's parameters.
    const ROWS: usize = 200;
    let mut inserted = 0;
    for chunk in messages.chunks(ROWS) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO messages (workspace_id, key, channel, customer_id, class, content, source, journey_id, \
             journey_node, status, created_at, updated_at) ",
        );
        query.push_values(chunk, |mut row, (message, _)| {
            let (journey, node) = journey_of(&message.source);
            row.push_bind(ws.0)
                .push_bind(message.key.clone())
                .push_bind(message.channel.clone())
                .push_bind(message.customer.map(|c| c.0))
                .push_bind(message.class.as_str())
                .push_bind(message.content.clone())
                .push_bind(message.source.clone())
                .push_bind(journey)
                .push_bind(node)
                .push_bind(message.status.as_str())
                .push_bind(millis(now))
                .push_bind(millis(now));
        });
        query.push(" ON CONFLICT (workspace_id, key) DO NOTHING RETURNING key");
        let new: std::collections::HashSet<String> =
            query.build_query_scalar::<String>().fetch_all(&mut **tx).await.map_err(db_err)?.into_iter().collect();
        // A message that was there already keeps its job: only the new ones get one.
        inserted += new.len() as u64;
        let jobs = chunk.iter().filter(|(message, _)| new.contains(&message.key)).map(|(_, job)| *job);
        insert_jobs(tx, ws, jobs, now).await?;
    }
    Ok(inserted)
}

/// Reserves a message in the caller's transaction (see `MessageStore::reserve`).
async fn reserve_in(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    key: &str,
    cap: Option<CapCheck>,
    now: jiff::Timestamp,
) -> Result<Reservation, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND key = $2{LOCK_ROW}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(key).fetch_optional(&mut **tx).await.map_err(db_err)?;
    let Some(mut message) = row.as_ref().map(message_row).transpose()? else {
        return Ok(Reservation::Finished);
    };
    if message.status.is_final() {
        return Ok(Reservation::Finished);
    }
    if let (Some(cap), Some(customer)) = (cap, message.customer) {
        // The customer's row lock serialises the reservations of one customer (on SQLite, the
        // write transaction already does), so two sends cannot both take the last place.
        let lock = format!("SELECT id FROM customers WHERE workspace_id = $1 AND id = $2{LOCK_ROW}");
        sqlx::query(sqlx::AssertSqlSafe(lock))
            .bind(ws.0)
            .bind(customer.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND customer_id = $2 AND channel = $3 \
             AND sent_at > $4 AND class = 'marketing' AND status IN ('sending', 'sent', 'delivered', 'undelivered') \
             AND key <> $5",
        )
        .bind(ws.0)
        .bind(customer.0)
        .bind(&message.channel)
        .bind(millis(cap.since))
        .bind(key)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        if count >= i64::from(cap.max) {
            return Ok(Reservation::Capped { count: count as u64 });
        }
    }
    if message.status == MessageStatus::Queued {
        sqlx::query(
            "UPDATE messages SET status = 'sending', sent_at = $3, reason = NULL, updated_at = $3 \
             WHERE workspace_id = $1 AND key = $2",
        )
        .bind(ws.0)
        .bind(key)
        .bind(millis(now))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        message.status = MessageStatus::Sending;
        message.sent_at = Some(now);
    }
    Ok(Reservation::Reserved(Box::new(message)))
}

/// Sets a message's status in the caller's transaction (see `MessageStore::set_status`).
async fn set_status_in(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    key: &str,
    status: MessageStatus,
    update: &StatusUpdate,
    now: jiff::Timestamp,
) -> Result<bool, StoreError> {
    // Back to queued, a message stops counting toward the cap (its send did not happen).
    let sent_at = if status == MessageStatus::Queued { "NULL" } else { "sent_at" };
    let sql = format!(
        "UPDATE messages SET status = $3, guardrail = $4, reason = $5, provider_id = $6, updated_at = $7, \
         sent_at = {sent_at} WHERE workspace_id = $1 AND key = $2 AND status IN ('queued', 'sending')"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ws.0)
        .bind(key)
        .bind(status.as_str())
        .bind(&update.guardrail)
        .bind(&update.reason)
        .bind(&update.provider_id)
        .bind(millis(now))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn save_channel(&self, ws: WorkspaceId, channel: &StoredChannel) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO channels (workspace_id, name, kind, settings, secrets, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workspace_id, name) DO UPDATE SET \
             kind = excluded.kind, settings = excluded.settings, secrets = excluded.secrets, \
             updated_at = excluded.updated_at",
        )
        .bind(ws.0)
        .bind(&channel.name)
        .bind(&channel.kind)
        .bind(&channel.settings)
        .bind(&channel.secrets)
        .bind(millis(channel.created_at))
        .bind(millis(channel.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn channel(&self, ws: WorkspaceId, name: &str) -> Result<Option<StoredChannel>, StoreError> {
        let row = sqlx::query("SELECT * FROM channels WHERE workspace_id = $1 AND name = $2")
            .bind(ws.0)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(channel_row).transpose()
    }

    async fn channels(&self, ws: WorkspaceId) -> Result<Vec<StoredChannel>, StoreError> {
        let rows = sqlx::query("SELECT * FROM channels WHERE workspace_id = $1 ORDER BY name")
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(channel_row).collect()
    }

    async fn delete_channel(&self, ws: WorkspaceId, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM channels WHERE workspace_id = $1 AND name = $2")
            .bind(ws.0)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_template(&self, ws: WorkspaceId, template: &StoredTemplate) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO message_templates (workspace_id, name, title, class, content, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workspace_id, name) DO UPDATE SET \
             title = excluded.title, class = excluded.class, content = excluded.content, \
             updated_at = excluded.updated_at",
        )
        .bind(ws.0)
        .bind(&template.name)
        .bind(&template.title)
        .bind(template.class.as_str())
        .bind(&template.content)
        .bind(millis(template.created_at))
        .bind(millis(template.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn template(&self, ws: WorkspaceId, name: &str) -> Result<Option<StoredTemplate>, StoreError> {
        let row = sqlx::query("SELECT * FROM message_templates WHERE workspace_id = $1 AND name = $2")
            .bind(ws.0)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(template_row).transpose()
    }

    async fn templates(&self, ws: WorkspaceId) -> Result<Vec<StoredTemplate>, StoreError> {
        let rows = sqlx::query("SELECT * FROM message_templates WHERE workspace_id = $1 ORDER BY name")
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(template_row).collect()
    }

    async fn delete_template(&self, ws: WorkspaceId, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM message_templates WHERE workspace_id = $1 AND name = $2")
            .bind(ws.0)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enqueue(
        &self,
        ws: WorkspaceId,
        messages: &[StoredMessage],
        jobs: &[NewJob],
        now: jiff::Timestamp,
    ) -> Result<u64, StoreError> {
        if messages.len() != jobs.len() {
            return Err(StoreError::Backend("enqueue: each message needs its job".into()));
        }
        let pairs: Vec<_> = messages.iter().zip(jobs).collect();
        let mut tx = self.begin_write().await?;
        let inserted = insert_messages(&mut tx, ws, &pairs, now).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn message(&self, ws: WorkspaceId, key: &str) -> Result<Option<StoredMessage>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND key = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(message_row).transpose()
    }

    async fn reserve(
        &self,
        ws: WorkspaceId,
        key: &str,
        cap: Option<CapCheck>,
        now: jiff::Timestamp,
    ) -> Result<Reservation, StoreError> {
        let mut tx = self.begin_write().await?;
        let reservation = reserve_in(&mut tx, ws, key, cap, now).await?;
        tx.commit().await?;
        Ok(reservation)
    }

    async fn reserve_many(
        &self,
        ws: WorkspaceId,
        requests: &[(String, Option<CapCheck>)],
        now: jiff::Timestamp,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut tx = self.begin_write().await?;
        // In customer order, so two processes' groups take the customers' row locks in one order.
        let mut customers: HashMap<String, i64> = HashMap::new();
        for chunk in requests.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new("SELECT key, customer_id FROM messages WHERE workspace_id = ");
            query.push_bind(ws.0).push(" AND key IN (");
            let mut keys = query.separated(", ");
            for (key, _) in chunk {
                keys.push_bind(key.clone());
            }
            query.push(")");
            for row in query.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                let customer: Option<i64> = get(&row, "customer_id")?;
                customers.insert(get(&row, "key")?, customer.unwrap_or(0));
            }
        }
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by_key(|i| (customers.get(&requests[*i].0).copied().unwrap_or(0), requests[*i].0.clone()));
        let mut answers: Vec<Option<Reservation>> = vec![None; requests.len()];
        for i in order {
            let (key, cap) = &requests[i];
            answers[i] = Some(reserve_in(&mut tx, ws, key, *cap, now).await?);
        }
        tx.commit().await?;
        Ok(answers.into_iter().map(|a| a.unwrap_or(Reservation::Finished)).collect())
    }

    async fn set_status(
        &self,
        ws: WorkspaceId,
        key: &str,
        status: MessageStatus,
        update: &StatusUpdate,
        now: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = set_status_in(&mut tx, ws, key, status, update, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn set_statuses(
        &self,
        ws: WorkspaceId,
        updates: &[(String, MessageStatus, StatusUpdate)],
        now: jiff::Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut done = Vec::with_capacity(updates.len());
        for (key, status, update) in updates {
            done.push(set_status_in(&mut tx, ws, key, *status, update, now).await?);
        }
        tx.commit().await?;
        Ok(done)
    }

    async fn messages(
        &self,
        ws: WorkspaceId,
        filter: &MessageFilter,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut query =
            sqlx::QueryBuilder::<Db>::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = "));
        query.push_bind(ws.0);
        if let Some(channel) = &filter.channel {
            query.push(" AND channel = ").push_bind(channel.clone());
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(journey) = filter.journey {
            query.push(" AND journey_id = ").push_bind(journey);
        }
        if let Some(before) = filter.before_id {
            query.push(" AND id < ").push_bind(before);
        }
        if let Some(customers) = &filter.customers {
            if customers.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<i64> = customers.iter().map(|c| c.0).take(CHUNK).collect();
            query.push(" AND customer_id IN (");
            push_id_list(&mut query, &ids);
            query.push(")");
        }
        query.push(" ORDER BY id DESC LIMIT ").push_bind(limit as i64);
        let rows = query.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter().map(message_row).collect()
    }

    async fn settings(&self, ws: WorkspaceId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT settings FROM messaging_settings WHERE workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn set_settings(&self, ws: WorkspaceId, settings: &str, now: jiff::Timestamp) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO messaging_settings (workspace_id, settings, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .bind(ws.0)
        .bind(settings)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn callback_seen(&self, ws: WorkspaceId, channel: &str, signature: &str) -> Result<bool, StoreError> {
        let seen: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM callback_receipts WHERE workspace_id = $1 AND channel = $2 AND signature = $3",
        )
        .bind(ws.0)
        .bind(channel)
        .bind(signature)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(seen > 0)
    }

    async fn note_callback(
        &self,
        ws: WorkspaceId,
        channel: &str,
        signature: &str,
        at: jiff::Timestamp,
        forget_before: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO callback_receipts (workspace_id, channel, signature, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, channel, signature) DO NOTHING",
        )
        .bind(ws.0)
        .bind(channel)
        .bind(signature)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM callback_receipts WHERE workspace_id = $1 AND channel = $2 AND received_at < $3")
            .bind(ws.0)
            .bind(channel)
            .bind(millis(forget_before))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    async fn apply_receipt(
        &self,
        ws: WorkspaceId,
        channel: &str,
        provider_id: &str,
        status: MessageStatus,
        reason: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<ReceiptOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE messages SET status = $4, reason = $5, updated_at = $6 \
             WHERE workspace_id = $1 AND channel = $2 AND provider_id = $3 AND status = 'sent' \
             RETURNING {MESSAGE_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ws.0)
            .bind(channel)
            .bind(provider_id)
            .bind(status.as_str())
            .bind(reason)
            .bind(millis(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let outcome = match row {
            Some(row) => ReceiptOutcome::Applied(Box::new(message_row(&row)?)),
            None => {
                let known: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM messages WHERE workspace_id = $1 AND channel = $2 AND provider_id = $3",
                )
                .bind(ws.0)
                .bind(channel)
                .bind(provider_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                if known > 0 { ReceiptOutcome::Already } else { ReceiptOutcome::Unknown }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn count_callback(
        &self,
        ws: WorkspaceId,
        channel: &str,
        outcome: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO channel_callbacks (workspace_id, channel, outcome, count, last_at) VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (workspace_id, channel, outcome) DO UPDATE \
             SET count = channel_callbacks.count + 1, last_at = excluded.last_at",
        )
        .bind(ws.0)
        .bind(channel)
        .bind(outcome)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn callback_counts(
        &self,
        ws: WorkspaceId,
        channel: &str,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT outcome, count FROM channel_callbacks WHERE workspace_id = $1 AND channel = $2")
                .bind(ws.0)
                .bind(channel)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(rows.into_iter().map(|(outcome, count)| (outcome, u64::try_from(count).unwrap_or(0))).collect())
    }

    async fn erase_messages(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut erased = 0;
        for chunk in customers.chunks(CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
            // Their pending send jobs first (the jobs are keyed by the message's key).
            let mut jobs = sqlx::QueryBuilder::<Db>::new(
                "DELETE FROM jobs WHERE workspace_id = ",
            );
            jobs.push_bind(ws.0)
                .push(" AND kind = ")
                .push_bind(siyu_domain::channels::messaging::SEND_KIND)
                .push(" AND key IN (SELECT key FROM messages WHERE workspace_id = ")
                .push_bind(ws.0)
                .push(" AND customer_id IN (");
            push_id_list(&mut jobs, &ids);
            jobs.push("))");
            jobs.build().execute(&mut *tx).await.map_err(db_err)?;
            let mut messages = sqlx::QueryBuilder::<Db>::new("DELETE FROM messages WHERE workspace_id = ");
            messages.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut messages, &ids);
            messages.push(")");
            erased += messages.build().execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        tx.commit().await?;
        Ok(erased)
    }
}
