// Group buying: activities, groups, members and each customer's places (included into `sqlite`
// and `postgres`).

use siyu_domain::campaigns::group_buy::{GroupStatus, StoredGroup, StoredGroupBuy};
use siyu_domain::campaigns::group_buy_store::{FailedGroup, GroupBuyCounts, GroupBuyStore, Joined};

const GROUP_BUY_COLUMNS: &str = "id, name, sku, title, price_fen, group_size, time_limit_minutes, stock, starts_at, \
                                 ends_at, per_customer, created_at";
const GROUP_COLUMNS: &str = "id, group_buy_id, leader_id, status, members, size, created_at, expires_at, settled_at";

fn group_buy_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredGroupBuy, StoreError> {
    Ok(StoredGroupBuy {
        id: get(row, "id")?,
        name: get(row, "name")?,
        sku: get(row, "sku")?,
        title: get(row, "title")?,
        price_fen: get(row, "price_fen")?,
        group_size: get(row, "group_size")?,
        time_limit_minutes: get(row, "time_limit_minutes")?,
        stock: get(row, "stock")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        per_customer: get(row, "per_customer")?,
        created_at: ts(row, "created_at")?,
    })
}

fn group_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredGroup, StoreError> {
    let status: String = get(row, "status")?;
    Ok(StoredGroup {
        id: get(row, "id")?,
        group_buy_id: get(row, "group_buy_id")?,
        leader_id: get(row, "leader_id")?,
        status: GroupStatus::parse(&status).ok_or_else(|| corrupt("group status", &status))?,
        members: get(row, "members")?,
        size: get(row, "size")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        settled_at: opt_ts(row, "settled_at")?,
    })
}

/// Reserves a unit and takes one of the customer's places in the activity; the refusal, if any.
/// The activity's row before the place's, as upkeep takes them (PostgreSQL: one lock order).
async fn take_place(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    group_buy: i64,
    customer: i64,
    per_customer: i64,
) -> Result<Option<Joined>, StoreError> {
    let reserved = sqlx::query(
        "UPDATE group_buys SET reserved = reserved + 1 WHERE workspace_id = $1 AND id = $2 \
         AND (stock IS NULL OR reserved < stock)",
    )
    .bind(ws.0)
    .bind(group_buy)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    if reserved.rows_affected() == 0 {
        return Ok(Some(Joined::OutOfStock));
    }
    let placed = sqlx::query(
        "INSERT INTO group_buy_players (workspace_id, group_buy_id, customer_id, groups) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (group_buy_id, customer_id) DO UPDATE SET groups = group_buy_players.groups + 1 \
         WHERE group_buy_players.groups < $4",
    )
    .bind(ws.0)
    .bind(group_buy)
    .bind(customer)
    .bind(per_customer)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok((placed.rows_affected() == 0).then_some(Joined::LimitReached))
}

/// Commits when the customer got in; otherwise rolls back at once, so no refusal leaves a row
/// locked behind it.
async fn settle(tx: WriteTx, joined: Joined) -> Result<Joined, StoreError> {
    match joined {
        Joined::In { .. } => tx.commit().await?,
        _ => tx.rollback().await?,
    }
    Ok(joined)
}

async fn insert_member(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    group: &StoredGroup,
    customer: i64,
    at: jiff::Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO group_buy_members (workspace_id, group_id, group_buy_id, customer_id, status, joined_at) \
         VALUES ($1, $2, $3, $4, 'reserved', $5)",
    )
    .bind(ws.0)
    .bind(group.id)
    .bind(group.group_buy_id)
    .bind(customer)
    .bind(millis(at))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Every member of a group.
async fn members_in(tx: &mut WriteTx, group: i64) -> Result<Vec<CustomerId>, StoreError> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT customer_id FROM group_buy_members WHERE group_id = $1 ORDER BY joined_at")
            .bind(group)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
    Ok(ids.into_iter().map(CustomerId).collect())
}

#[async_trait]
impl GroupBuyStore for SqlStore {
    async fn insert_group_buy(&self, ws: WorkspaceId, g: &StoredGroupBuy) -> Result<i64, StoreError> {
        let query = sqlx::query_scalar(
            "INSERT INTO group_buys (workspace_id, name, sku, title, price_fen, group_size, time_limit_minutes, stock, \
             starts_at, ends_at, per_customer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .bind(ws.0)
        .bind(&g.name)
        .bind(&g.sku)
        .bind(&g.title)
        .bind(g.price_fen)
        .bind(g.group_size)
        .bind(g.time_limit_minutes)
        .bind(g.stock)
        .bind(millis(g.starts_at))
        .bind(millis(g.ends_at))
        .bind(g.per_customer)
        .bind(millis(g.created_at));
        self.insert_id(query).await
    }

    async fn group_buy(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredGroupBuy>, StoreError> {
        let row = self.row_by_id(format!("SELECT {GROUP_BUY_COLUMNS} FROM group_buys"), ws, id).await?;
        row.as_ref().map(group_buy_from).transpose()
    }

    async fn group_buys(&self, ws: WorkspaceId) -> Result<Vec<StoredGroupBuy>, StoreError> {
        let rows = self.rows_newest_first(format!("SELECT {GROUP_BUY_COLUMNS} FROM group_buys"), ws).await?;
        rows.iter().map(group_buy_from).collect()
    }

    async fn open_group(
        &self,
        ws: WorkspaceId,
        g: &StoredGroupBuy,
        customer: CustomerId,
        at: jiff::Timestamp,
    ) -> Result<Joined, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return settle(tx, Joined::Gone).await };
        if let Some(refused) = take_place(&mut tx, ws, g.id, live.0, g.per_customer).await? {
            return settle(tx, refused).await;
        }
        let expires_at = at.checked_add(jiff::SignedDuration::from_mins(g.time_limit_minutes)).unwrap_or(at);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO group_buy_groups (workspace_id, group_buy_id, leader_id, status, members, size, created_at, \
             expires_at) VALUES ($1, $2, $3, 'open', 1, $4, $5, $6) RETURNING {GROUP_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(g.id)
        .bind(live.0)
        .bind(g.group_size)
        .bind(millis(at))
        .bind(millis(expires_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let group = group_from(&row)?;
        insert_member(&mut tx, ws, &group, live.0, at).await?;
        settle(tx, Joined::In { group, completed: None, customer: live }).await
    }

    async fn join_group(
        &self,
        ws: WorkspaceId,
        group: i64,
        customer: CustomerId,
        at: jiff::Timestamp,
    ) -> Result<Joined, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return settle(tx, Joined::Gone).await };
        // The group's row first (PostgreSQL): joins of one group take turns, and upkeep failing it
        // waits for them or they for it.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM group_buy_groups WHERE workspace_id = $1 AND id = $2{LOCK_ROW}"
        )))
        .bind(ws.0)
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(found) = row.as_ref().map(group_from).transpose()? else { return settle(tx, Joined::Gone).await };
        let refused = match found.status {
            GroupStatus::Failed => Some(Joined::Expired(found.expires_at)),
            GroupStatus::Complete => Some(Joined::Full),
            GroupStatus::Open if found.expires_at <= at => Some(Joined::Expired(found.expires_at)),
            GroupStatus::Open if found.members >= found.size => Some(Joined::Full),
            GroupStatus::Open => None,
        };
        if let Some(refused) = refused {
            return settle(tx, refused).await;
        }
        let member: Option<i64> =
            sqlx::query_scalar("SELECT customer_id FROM group_buy_members WHERE group_id = $1 AND customer_id = $2")
                .bind(group)
                .bind(live.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if member.is_some() {
            return settle(tx, Joined::Already).await;
        }
        let per_customer: i64 = sqlx::query_scalar("SELECT per_customer FROM group_buys WHERE id = $1")
            .bind(found.group_buy_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(refused) = take_place(&mut tx, ws, found.group_buy_id, live.0, per_customer).await? {
            return settle(tx, refused).await;
        }
        insert_member(&mut tx, ws, &found, live.0, at).await?;
        let members = found.members + 1;
        let complete = members == found.size;
        let status = if complete { GroupStatus::Complete } else { GroupStatus::Open };
        sqlx::query("UPDATE group_buy_groups SET members = $2, status = $3, settled_at = $4 WHERE id = $1")
            .bind(group)
            .bind(members)
            .bind(status.as_str())
            .bind(complete.then(|| millis(at)))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let completed = if complete {
            sqlx::query("UPDATE group_buy_members SET status = 'confirmed' WHERE group_id = $1")
                .bind(group)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Some(members_in(&mut tx, group).await?)
        } else {
            None
        };
        let settled_at = complete.then_some(at);
        let group = StoredGroup { members, status, settled_at, ..found };
        settle(tx, Joined::In { group, completed, customer: live }).await
    }

    async fn group(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredGroup>, StoreError> {
        let row = self.row_by_id(format!("SELECT {GROUP_COLUMNS} FROM group_buy_groups"), ws, id).await?;
        row.as_ref().map(group_from).transpose()
    }

    async fn groups_of(
        &self,
        ws: WorkspaceId,
        group_buy: i64,
        customer: CustomerId,
    ) -> Result<Vec<StoredGroup>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM group_buy_groups g JOIN group_buy_members m ON m.group_id = g.id \
             WHERE g.workspace_id = $1 AND g.group_buy_id = $2 AND m.customer_id = \
             (SELECT COALESCE(merged_into, id) FROM customers WHERE workspace_id = $1 AND id = $3) ORDER BY g.id DESC",
            GROUP_COLUMNS.split(", ").map(|c| format!("g.{c}")).collect::<Vec<_>>().join(", ")
        )))
        .bind(ws.0)
        .bind(group_buy)
        .bind(customer.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(group_from).collect()
    }

    async fn fail_expired_groups(&self, now: jiff::Timestamp, limit: usize) -> Result<Vec<FailedGroup>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT workspace_id, {GROUP_COLUMNS} FROM group_buy_groups WHERE status = 'open' AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2{SKIP_LOCKED}"
        )))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            groups.push((WorkspaceId(get(row, "workspace_id")?), group_from(row)?));
        }
        // Activities in one order (PostgreSQL): two nodes' batches never wait on each other's.
        groups.sort_by_key(|(_, g)| (g.group_buy_id, g.id));
        let mut failed = Vec::with_capacity(groups.len());
        for (ws, group) in groups {
            let members = members_in(&mut tx, group.id).await?;
            let released = i64::try_from(members.len()).unwrap_or(i64::MAX);
            sqlx::query("UPDATE group_buy_members SET status = 'released' WHERE group_id = $1")
                .bind(group.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("UPDATE group_buys SET reserved = reserved - $2 WHERE id = $1")
                .bind(group.group_buy_id)
                .bind(released)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "UPDATE group_buy_players SET groups = groups - 1 WHERE group_buy_id = $1 \
                 AND customer_id IN (SELECT customer_id FROM group_buy_members WHERE group_id = $2)",
            )
            .bind(group.group_buy_id)
            .bind(group.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("UPDATE group_buy_groups SET status = 'failed', settled_at = $2 WHERE id = $1")
                .bind(group.id)
                .bind(millis(now))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let group = StoredGroup { status: GroupStatus::Failed, settled_at: Some(now), ..group };
            failed.push(FailedGroup { workspace: ws, group, members });
        }
        tx.commit().await?;
        Ok(failed)
    }

    async fn group_buy_counts(&self, ws: WorkspaceId, group_buy: i64) -> Result<GroupBuyCounts, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), CAST(COALESCE(SUM(members), 0) AS BIGINT) FROM group_buy_groups \
             WHERE workspace_id = $1 AND group_buy_id = $2 GROUP BY status",
        )
        .bind(ws.0)
        .bind(group_buy)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let reserved: Option<i64> =
            sqlx::query_scalar("SELECT reserved FROM group_buys WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(group_buy)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let mut counts = GroupBuyCounts { reserved: reserved.unwrap_or(0), ..GroupBuyCounts::default() };
        for (status, groups, members) in rows {
            counts.members += members;
            match GroupStatus::parse(&status) {
                Some(GroupStatus::Open) => counts.open = groups,
                Some(GroupStatus::Complete) => (counts.complete, counts.confirmed) = (groups, members),
                Some(GroupStatus::Failed) => counts.failed = groups,
                None => return Err(corrupt("group status", &status)),
            }
        }
        Ok(counts)
    }

    async fn group_members_of(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<(i64, i64, i64, String)>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut found = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT group_buy_id, group_id, customer_id, status FROM group_buy_members WHERE workspace_id = ",
            );
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY group_id");
            let rows: Vec<(i64, i64, i64, String)> =
                query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            found.extend(rows);
        }
        Ok(found)
    }

    async fn erase_group_members(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            let list = |sql: &str| {
                let mut query = sqlx::QueryBuilder::<Db>::new(sql);
                push_id_list(&mut query, chunk);
                query
            };
            // Out of open groups first: their places and units given back.
            // Groups before activities, as a join takes them (PostgreSQL: one lock order).
            let mut steps = vec![
                list(
                    "UPDATE group_buy_groups SET members = members - (SELECT COUNT(*) FROM group_buy_members m \
                     WHERE m.group_id = group_buy_groups.id AND m.customer_id IN (",
                ),
                list(
                    "UPDATE group_buys SET reserved = reserved - (SELECT COUNT(*) FROM group_buy_members m \
                     JOIN group_buy_groups g ON g.id = m.group_id WHERE g.status = 'open' \
                     AND m.group_buy_id = group_buys.id AND m.customer_id IN (",
                ),
                list("UPDATE group_buy_groups SET leader_id = 0 WHERE leader_id IN ("),
                list("DELETE FROM group_buy_members WHERE customer_id IN ("),
                list("DELETE FROM group_buy_players WHERE customer_id IN ("),
            ];
            steps[0].push(")) WHERE status = 'open' AND workspace_id = ").push_bind(ws.0);
            steps[1].push(")) WHERE workspace_id = ").push_bind(ws.0);
            for step in steps.iter_mut().skip(2) {
                step.push(") AND workspace_id = ").push_bind(ws.0);
            }
            for mut step in steps {
                step.build().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await
    }
}
