// Coupons: templates, coupons, claims and bulk issues (included into `sqlite` and `postgres`).

use siyu_domain::campaigns::coupon::{Benefit, StoredCouponTemplate};
use siyu_domain::campaigns::coupon_store::{
    Claimed, CouponCounts, CouponStatus, CouponStore, CouponTerms, Redemption, StoredCoupon, StoredIssue,
};

const TEMPLATE_COLUMNS: &str = "id, name, benefit, min_spend_fen, stock, issued, per_customer, valid_from, \
                                valid_until, valid_days, channels, stores, claimable, remind_days, created_at";
const COUPON_COLUMNS: &str = "id, template_id, customer_id, status, source, issued_at, valid_from, valid_until, \
                              remind_at, redeemed_at, order_id, order_amount_fen, discount_fen";
const ISSUE_COLUMNS: &str =
    "id, template_id, segment, members, total, issued, after_customer, status, created_at, finished_at";
/// Coupons of a bulk issue inserted per statement (6 parameters each, bound per row below).
const ISSUE_ROWS: usize = 1_000;

fn template_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredCouponTemplate, StoreError> {
    let benefit: String = get(row, "benefit")?;
    let list = |column: &str| -> Result<Vec<String>, StoreError> {
        let text: String = get(row, column)?;
        serde_json::from_str(&text).map_err(|_| corrupt(column, &text))
    };
    Ok(StoredCouponTemplate {
        id: get(row, "id")?,
        name: get(row, "name")?,
        benefit: serde_json::from_str::<Benefit>(&benefit).map_err(|_| corrupt("coupon benefit", &benefit))?,
        min_spend_fen: get(row, "min_spend_fen")?,
        stock: get(row, "stock")?,
        issued: get(row, "issued")?,
        per_customer: get(row, "per_customer")?,
        valid_from: opt_ts(row, "valid_from")?,
        valid_until: opt_ts(row, "valid_until")?,
        valid_days: get(row, "valid_days")?,
        channels: list("channels")?,
        stores: list("stores")?,
        claimable: get::<i64>(row, "claimable")? != 0,
        remind_days: get(row, "remind_days")?,
        created_at: ts(row, "created_at")?,
    })
}

fn coupon_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredCoupon, StoreError> {
    let status: String = get(row, "status")?;
    Ok(StoredCoupon {
        id: get(row, "id")?,
        template_id: get(row, "template_id")?,
        customer: CustomerId(get(row, "customer_id")?),
        status: CouponStatus::parse(&status).ok_or_else(|| corrupt("coupon status", &status))?,
        source: get(row, "source")?,
        issued_at: ts(row, "issued_at")?,
        valid_from: ts(row, "valid_from")?,
        valid_until: ts(row, "valid_until")?,
        remind_at: opt_ts(row, "remind_at")?,
        redeemed_at: opt_ts(row, "redeemed_at")?,
        order_id: get(row, "order_id")?,
        order_amount_fen: get(row, "order_amount_fen")?,
        discount_fen: get(row, "discount_fen")?,
    })
}

fn issue_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredIssue, StoreError> {
    Ok(StoredIssue {
        id: get(row, "id")?,
        template_id: get(row, "template_id")?,
        segment: get(row, "segment")?,
        members: get(row, "members")?,
        total: get(row, "total")?,
        issued: get(row, "issued")?,
        after_customer: get(row, "after_customer")?,
        status: get(row, "status")?,
        created_at: ts(row, "created_at")?,
        finished_at: opt_ts(row, "finished_at")?,
    })
}

/// A value's JSON text (the benefit, channel and store lists: they always serialise).
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The coupons of the customers in `ids`, newest first, read 500 customers at a time.
async fn coupons_where_customers(
    pool: &sqlx::Pool<Db>,
    ws: WorkspaceId,
    ids: &[i64],
) -> Result<Vec<StoredCoupon>, StoreError> {
    let mut coupons = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut query =
            sqlx::QueryBuilder::<Db>::new(format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE workspace_id = "));
        query.push_bind(ws.0).push(" AND customer_id IN (");
        push_id_list(&mut query, chunk);
        query.push(")");
        for row in query.build().fetch_all(pool).await.map_err(db_err)? {
            coupons.push(coupon_from(&row)?);
        }
    }
    coupons.sort_by_key(|c| std::cmp::Reverse(c.id));
    Ok(coupons)
}

#[async_trait]
impl CouponStore for SqlStore {
    async fn insert_coupon_template(&self, ws: WorkspaceId, t: &StoredCouponTemplate) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO coupon_templates (workspace_id, name, benefit, min_spend_fen, stock, issued, per_customer, \
             valid_from, valid_until, valid_days, channels, stores, claimable, remind_days, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(ws.0)
        .bind(&t.name)
        .bind(json_text(&t.benefit))
        .bind(t.min_spend_fen)
        .bind(t.stock)
        .bind(t.per_customer)
        .bind(t.valid_from.map(millis))
        .bind(t.valid_until.map(millis))
        .bind(t.valid_days)
        .bind(json_text(&t.channels))
        .bind(json_text(&t.stores))
        .bind(i64::from(t.claimable))
        .bind(t.remind_days)
        .bind(millis(t.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn coupon_template(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCouponTemplate>, StoreError> {
        let row = self.row_by_id(format!("SELECT {TEMPLATE_COLUMNS} FROM coupon_templates"), ws, id).await?;
        row.as_ref().map(template_from).transpose()
    }

    async fn coupon_templates(&self, ws: WorkspaceId) -> Result<Vec<StoredCouponTemplate>, StoreError> {
        let rows = self.rows_newest_first(format!("SELECT {TEMPLATE_COLUMNS} FROM coupon_templates"), ws).await?;
        rows.iter().map(template_from).collect()
    }

    async fn claim(
        &self,
        ws: WorkspaceId,
        template: i64,
        per_customer: Option<i64>,
        customer: CustomerId,
        terms: &CouponTerms,
    ) -> Result<Claimed, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return Ok(Claimed::Gone) };
        if let Some(key) = &terms.grant_key
            && let Some(id) = granted(&mut tx, ws, key).await?
        {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COUPON_COLUMNS} FROM coupons WHERE workspace_id = $1 AND id = $2"
            )))
            .bind(ws.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            // A coupon erased with its holder since: the grant stays given.
            return Ok(match row {
                Some(row) => Claimed::Already(Box::new(coupon_from(&row)?)),
                None => Claimed::Gone,
            });
        }
        // The template's row first: claims of one template take turns on it (PostgreSQL).
        let taken = sqlx::query(
            "UPDATE coupon_templates SET issued = issued + 1 \
             WHERE workspace_id = $1 AND id = $2 AND (stock IS NULL OR issued < stock)",
        )
        .bind(ws.0)
        .bind(template)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if taken.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM coupon_templates WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0)
                    .bind(template)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            return Ok(if exists.is_some() { Claimed::OutOfStock } else { Claimed::Gone });
        }
        if let Some(limit) = per_customer {
            let counted = sqlx::query(
                "INSERT INTO coupon_holders (workspace_id, template_id, customer_id, held) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (template_id, customer_id) DO UPDATE SET held = coupon_holders.held + 1 \
                 WHERE coupon_holders.held < $4",
            )
            .bind(ws.0)
            .bind(template)
            .bind(live.0)
            .bind(limit)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if counted.rows_affected() == 0 {
                return Ok(Claimed::LimitReached);
            }
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO coupons (workspace_id, template_id, customer_id, status, source, issued_at, valid_from, \
             valid_until, remind_at) VALUES ($1, $2, $3, 'issued', $4, $5, $6, $7, $8) RETURNING {COUPON_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(template)
        .bind(live.0)
        .bind(terms.source)
        .bind(millis(terms.issued_at))
        .bind(millis(terms.valid_from))
        .bind(millis(terms.valid_until))
        .bind(terms.remind_at.map(millis))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let coupon = coupon_from(&row)?;
        if let Some(key) = &terms.grant_key
            && !insert_grant(&mut tx, ws, key, "coupon", coupon.id, live.0).await?
        {
            // Granted meanwhile by another process: this one's coupon is not issued, the other's
            // is the answer.
            tx.rollback().await?;
            let first: Option<i64> =
                sqlx::query_scalar("SELECT ref_id FROM campaign_grants WHERE workspace_id = $1 AND grant_key = $2")
                    .bind(ws.0)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
            let row = self.row_by_id(format!("SELECT {COUPON_COLUMNS} FROM coupons"), ws, first.unwrap_or(0)).await?;
            return Ok(match row {
                Some(row) => Claimed::Already(Box::new(coupon_from(&row)?)),
                None => Claimed::Gone,
            });
        }
        tx.commit().await?;
        Ok(Claimed::Issued(Box::new(coupon)))
    }

    async fn coupon(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCoupon>, StoreError> {
        let row = self.row_by_id(format!("SELECT {COUPON_COLUMNS} FROM coupons"), ws, id).await?;
        row.as_ref().map(coupon_from).transpose()
    }

    async fn coupon_of_order(&self, ws: WorkspaceId, order_id: &str) -> Result<Option<StoredCoupon>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COUPON_COLUMNS} FROM coupons WHERE workspace_id = $1 AND order_id = $2"
        )))
        .bind(ws.0)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(coupon_from).transpose()
    }

    async fn redeem(&self, ws: WorkspaceId, id: i64, r: &Redemption<'_>) -> Result<bool, StoreError> {
        let query = sqlx::query(
            "UPDATE coupons SET status = 'redeemed', redeemed_at = $3, order_id = $4, order_amount_fen = $5, \
             discount_fen = $6 WHERE workspace_id = $1 AND id = $2 AND status = 'issued' \
             AND valid_from <= $3 AND valid_until > $3",
        )
        .bind(ws.0)
        .bind(id)
        .bind(millis(r.at))
        .bind(r.order_id)
        .bind(r.amount_fen)
        .bind(r.discount_fen);
        Ok(self.write_one(query).await?.rows_affected() == 1)
    }

    async fn release(
        &self,
        ws: WorkspaceId,
        order_id: &str,
        at: jiff::Timestamp,
    ) -> Result<Option<StoredCoupon>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE coupons SET status = CASE WHEN valid_until > $3 THEN 'issued' ELSE 'expired' END, \
             redeemed_at = NULL, order_id = NULL, order_amount_fen = NULL, discount_fen = NULL \
             WHERE workspace_id = $1 AND order_id = $2 AND status = 'redeemed' RETURNING {COUPON_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(order_id)
        .bind(millis(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let coupon = row.as_ref().map(coupon_from).transpose()?;
        tx.commit().await?;
        Ok(coupon)
    }

    async fn coupons_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<StoredCoupon>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        coupons_where_customers(&self.pool, ws, &ids).await
    }

    async fn expire_due(&self, now: jiff::Timestamp, limit: usize) -> Result<Vec<(WorkspaceId, StoredCoupon)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE coupons SET status = 'expired' WHERE id IN (SELECT id FROM coupons WHERE status = 'issued' \
             AND valid_until <= $1 ORDER BY valid_until LIMIT $2) AND status = 'issued' \
             RETURNING workspace_id, {COUPON_COLUMNS}"
        )))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let expired = rows
            .iter()
            .map(|row| Ok((WorkspaceId(get(row, "workspace_id")?), coupon_from(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        Ok(expired)
    }

    async fn take_reminders(
        &self,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<(WorkspaceId, StoredCoupon)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE coupons SET remind_at = NULL WHERE id IN (SELECT id FROM coupons WHERE remind_at IS NOT NULL \
             AND remind_at <= $1 ORDER BY remind_at LIMIT $2) AND remind_at IS NOT NULL \
             RETURNING workspace_id, {COUPON_COLUMNS}"
        )))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let due = rows
            .iter()
            .map(|row| Ok((WorkspaceId(get(row, "workspace_id")?), coupon_from(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        tx.commit().await?;
        // Only coupons still usable are worth a reminder.
        Ok(due.into_iter().filter(|(_, c)| c.status == CouponStatus::Issued).collect())
    }

    async fn coupon_counts(&self, ws: WorkspaceId, template: i64) -> Result<CouponCounts, StoreError> {
        let rows: Vec<(String, i64, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*), CAST(SUM(CASE WHEN source = 'claim' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(order_amount_fen) AS BIGINT), CAST(SUM(discount_fen) AS BIGINT) FROM coupons \
             WHERE workspace_id = $1 AND template_id = $2 GROUP BY status",
        )
        .bind(ws.0)
        .bind(template)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut counts = CouponCounts::default();
        for (status, n, claimed, revenue, discount) in rows {
            counts.issued += n;
            counts.claimed += claimed;
            match CouponStatus::parse(&status) {
                Some(CouponStatus::Redeemed) => {
                    counts.redeemed = n;
                    counts.revenue_fen = revenue.unwrap_or(0);
                    counts.discount_fen = discount.unwrap_or(0);
                }
                Some(CouponStatus::Expired) => counts.expired = n,
                Some(CouponStatus::Issued) => {}
                None => return Err(corrupt("coupon status", &status)),
            }
        }
        Ok(counts)
    }

    async fn erase_coupons(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            for table in ["coupons", "coupon_holders", "campaign_grants"] {
                let mut query = sqlx::QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE workspace_id = "));
                query.push_bind(ws.0).push(" AND customer_id IN (");
                push_id_list(&mut query, chunk);
                query.push(")");
                query.build().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await
    }

    async fn insert_issue(&self, ws: WorkspaceId, issue: &StoredIssue) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO coupon_issues (workspace_id, template_id, segment, members, total, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6) RETURNING id",
        )
        .bind(ws.0)
        .bind(issue.template_id)
        .bind(&issue.segment)
        .bind(&issue.members)
        .bind(issue.total)
        .bind(millis(issue.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn issue(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredIssue>, StoreError> {
        let row = self.row_by_id(format!("SELECT {ISSUE_COLUMNS} FROM coupon_issues"), ws, id).await?;
        row.as_ref().map(issue_from).transpose()
    }

    async fn lease_issue(
        &self,
        owner: &str,
        now: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Option<(WorkspaceId, StoredIssue)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE coupon_issues SET leased_by = ");
        query
            .push_bind(owner)
            .push(", lease_until = ")
            .push_bind(millis(until))
            .push(
                " WHERE id = (SELECT id FROM coupon_issues WHERE status = 'running' \
                 AND (lease_until IS NULL OR lease_until <= ",
            )
            .push_bind(millis(now))
            .push(" OR leased_by = ")
            .push_bind(owner)
            .push(") ORDER BY id LIMIT 1")
            .push(SKIP_LOCKED)
            .push(format!(") RETURNING workspace_id, {ISSUE_COLUMNS}"));
        let row = query.build().fetch_optional(&mut *tx).await.map_err(db_err)?;
        let leased = match row {
            Some(row) => Some((WorkspaceId(get(&row, "workspace_id")?), issue_from(&row)?)),
            None => None,
        };
        tx.commit().await?;
        Ok(leased)
    }

    async fn issue_batch(
        &self,
        ws: WorkspaceId,
        issue: i64,
        owner: &str,
        customers: &[i64],
        terms: &CouponTerms,
        last: bool,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut lock = sqlx::QueryBuilder::<Db>::new(
            "SELECT i.template_id, t.stock, t.issued FROM coupon_issues i JOIN coupon_templates t ON t.id = i.template_id \
             WHERE i.workspace_id = ",
        );
        lock.push_bind(ws.0)
            .push(" AND i.id = ")
            .push_bind(issue)
            .push(" AND i.status = 'running' AND i.leased_by = ")
            .push_bind(owner)
            .push(LOCK_ROW);
        let Some(row) = lock.build().fetch_optional(&mut *tx).await.map_err(db_err)? else {
            return Err(StoreError::Conflict(format!("coupon issue {issue} is not leased to this worker")));
        };
        let (template, stock, issued): (i64, Option<i64>, i64) =
            (get(&row, "template_id")?, get(&row, "stock")?, get(&row, "issued")?);
        let room = stock.map_or(customers.len(), |stock| (stock - issued).max(0) as usize);
        let mut inserted = 0usize;
        for chunk in customers[..room.min(customers.len())].chunks(ISSUE_ROWS) {
            // Only live profiles get a coupon (one erased or merged meanwhile does not).
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO coupons (workspace_id, template_id, customer_id, status, source, issued_at, valid_from, \
                 valid_until, remind_at) SELECT workspace_id, ",
            );
            query
                .push_bind(template)
                .push(", id, 'issued', ")
                .push_bind(terms.source)
                .push(", ")
                .push_bind(millis(terms.issued_at))
                .push(", ")
                .push_bind(millis(terms.valid_from))
                .push(", ")
                .push_bind(millis(terms.valid_until))
                .push(", ")
                .push_bind(terms.remind_at.map(millis))
                .push(" FROM customers WHERE workspace_id = ")
                .push_bind(ws.0)
                .push(" AND merged_into IS NULL AND id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY id");
            inserted += query.build().execute(&mut *tx).await.map_err(db_err)?.rows_affected() as usize;
        }
        sqlx::query("UPDATE coupon_templates SET issued = issued + $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(template)
            .bind(inserted as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let out_of_stock = room < customers.len();
        let status = match (out_of_stock, last) {
            (true, _) => "out_of_stock",
            (false, true) => "done",
            (false, false) => "running",
        };
        // A finished issue forgets its members: they were only needed to go on.
        let after = customers.last().copied().unwrap_or(-1);
        let mut update = sqlx::QueryBuilder::<Db>::new("UPDATE coupon_issues SET issued = issued + ");
        update
            .push_bind(inserted as i64)
            .push(", after_customer = CASE WHEN after_customer > ")
            .push_bind(after)
            .push(" THEN after_customer ELSE ")
            .push_bind(after)
            .push(" END, status = ")
            .push_bind(status);
        if status != "running" {
            update.push(", finished_at = ").push_bind(millis(terms.issued_at)).push(", members = ").push_bind(Vec::<u8>::new());
        }
        update.push(" WHERE workspace_id = ").push_bind(ws.0).push(" AND id = ").push_bind(issue);
        update.build().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn running_issues(&self, ws: WorkspaceId) -> Result<Vec<StoredIssue>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ISSUE_COLUMNS} FROM coupon_issues WHERE workspace_id = $1 AND status = 'running' ORDER BY id"
        )))
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(issue_from).collect()
    }

    async fn set_issue_members(&self, ws: WorkspaceId, issue: i64, members: &[u8]) -> Result<(), StoreError> {
        let query = sqlx::query("UPDATE coupon_issues SET members = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(issue)
            .bind(members);
        self.write_one(query).await?;
        Ok(())
    }

    async fn add_refusals(
        &self,
        ws: WorkspaceId,
        activity: &str,
        activity_id: i64,
        counts: &[(&str, i64)],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (reason, n) in counts {
            sqlx::query(
                "INSERT INTO campaign_refusals (workspace_id, activity, activity_id, reason, count) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, activity, activity_id, reason) \
                 DO UPDATE SET count = campaign_refusals.count + $5",
            )
            .bind(ws.0)
            .bind(activity)
            .bind(activity_id)
            .bind(*reason)
            .bind(*n)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn refusals(&self, ws: WorkspaceId, activity: &str, activity_id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT reason, count FROM campaign_refusals WHERE workspace_id = $1 AND activity = $2 \
             AND activity_id = $3 ORDER BY reason",
        )
        .bind(ws.0)
        .bind(activity)
        .bind(activity_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }
}
