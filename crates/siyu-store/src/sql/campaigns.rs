// Campaigns: flash sales, their buyers and orders (included into `sqlite` and `postgres`).

use siyu_domain::campaigns::store::{
    AttemptCounts, CampaignStore, OrderStatus, Purchase, SaleCounts, StoredFlashSale, StoredOrder,
};

const SALE_COLUMNS: &str = "id, name, sku, title, price_fen, stock, sold, starts_at, ends_at, per_customer, \
                            segment, pay_minutes, created_at";
const ORDER_COLUMNS: &str = "id, sale_id, customer_id, status, created_at, pay_by, settled_at, payment_ref";

fn sale_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredFlashSale, StoreError> {
    Ok(StoredFlashSale {
        id: get(row, "id")?,
        name: get(row, "name")?,
        sku: get(row, "sku")?,
        title: get(row, "title")?,
        price_fen: get(row, "price_fen")?,
        stock: get(row, "stock")?,
        sold: get(row, "sold")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        per_customer: get(row, "per_customer")?,
        segment: get(row, "segment")?,
        pay_minutes: get(row, "pay_minutes")?,
        created_at: ts(row, "created_at")?,
    })
}

fn order_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredOrder, StoreError> {
    let status: String = get(row, "status")?;
    Ok(StoredOrder {
        id: get(row, "id")?,
        sale_id: get(row, "sale_id")?,
        customer: CustomerId(get(row, "customer_id")?),
        status: OrderStatus::parse(&status).ok_or_else(|| corrupt("order status", &status))?,
        created_at: ts(row, "created_at")?,
        pay_by: ts(row, "pay_by")?,
        settled_at: opt_ts(row, "settled_at")?,
        payment_ref: get(row, "payment_ref")?,
    })
}

/// The id an automation's grant key gave earlier (a coupon's, a lottery's), if it was used.
async fn granted(tx: &mut WriteTx, ws: WorkspaceId, key: &str) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT ref_id FROM campaign_grants WHERE workspace_id = $1 AND grant_key = $2")
        .bind(ws.0)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)
}

/// Records an automation's grant key for a customer; false when it was used before.
async fn insert_grant(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    key: &str,
    kind: &str,
    ref_id: i64,
    customer: i64,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO campaign_grants (workspace_id, grant_key, kind, ref_id, customer_id) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workspace_id, grant_key) DO NOTHING",
    )
    .bind(ws.0)
    .bind(key)
    .bind(kind)
    .bind(ref_id)
    .bind(customer)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    Ok(inserted.rows_affected() == 1)
}

impl SqlStore {
    /// The row of `select` (a `SELECT … FROM table` without its condition) of workspace `ws` whose
    /// id is `id`, if there is one.
    async fn row_by_id(
        &self,
        select: String,
        ws: WorkspaceId,
        id: i64,
    ) -> Result<Option<<Db as sqlx::Database>::Row>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{select} WHERE workspace_id = $1 AND id = $2")))
            .bind(ws.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Runs an `INSERT … RETURNING id` in a write transaction of its own; returns the id.
    async fn insert_id(
        &self,
        query: sqlx::query::QueryScalar<'_, Db, i64, <Db as sqlx::Database>::Arguments>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = query.fetch_one(&mut *tx).await.map_err(db_err)?;
        tx.commit().await?;
        Ok(id)
    }

    /// The rows of `select` (a `SELECT … FROM table` without its condition) of workspace `ws`,
    /// newest first.
    async fn rows_newest_first(
        &self,
        select: String,
        ws: WorkspaceId,
    ) -> Result<Vec<<Db as sqlx::Database>::Row>, StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{select} WHERE workspace_id = $1 ORDER BY id DESC")))
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }
}

/// Gives back the units that `orders` (reserved ones being released or erased) held: the sale's
/// count and each buyer's, within the transaction.
async fn give_back(tx: &mut WriteTx, ws: WorkspaceId, orders: &[StoredOrder]) -> Result<(), StoreError> {
    let mut per_sale: BTreeMap<i64, i64> = BTreeMap::new();
    let mut per_buyer: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for order in orders {
        *per_sale.entry(order.sale_id).or_default() += 1;
        *per_buyer.entry((order.sale_id, order.customer.0)).or_default() += 1;
    }
    // Sales before buyers, as a purchase takes them, so concurrent transactions lock in one order.
    for (sale, n) in per_sale {
        sqlx::query("UPDATE flash_sales SET sold = sold - $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(sale)
            .bind(n)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    for ((sale, customer), n) in per_buyer {
        sqlx::query(
            "UPDATE flash_buyers SET bought = bought - $4 WHERE workspace_id = $1 AND sale_id = $2 AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(sale)
        .bind(customer)
        .bind(n)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl CampaignStore for SqlStore {
    async fn insert_flash_sale(&self, ws: WorkspaceId, sale: &StoredFlashSale) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO flash_sales (workspace_id, name, sku, title, price_fen, stock, sold, starts_at, ends_at, \
             per_customer, segment, pay_minutes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(ws.0)
        .bind(&sale.name)
        .bind(&sale.sku)
        .bind(&sale.title)
        .bind(sale.price_fen)
        .bind(sale.stock)
        .bind(millis(sale.starts_at))
        .bind(millis(sale.ends_at))
        .bind(sale.per_customer)
        .bind(&sale.segment)
        .bind(sale.pay_minutes)
        .bind(millis(sale.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn flash_sale(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredFlashSale>, StoreError> {
        let row = self.row_by_id(format!("SELECT {SALE_COLUMNS} FROM flash_sales"), ws, id).await?;
        row.as_ref().map(sale_from).transpose()
    }

    async fn flash_sales(&self, ws: WorkspaceId) -> Result<Vec<StoredFlashSale>, StoreError> {
        let rows = self.rows_newest_first(format!("SELECT {SALE_COLUMNS} FROM flash_sales"), ws).await?;
        rows.iter().map(sale_from).collect()
    }

    async fn flash_buyers(&self, ws: WorkspaceId, sale: i64) -> Result<Vec<(CustomerId, i64)>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT customer_id, bought FROM flash_buyers WHERE workspace_id = $1 AND sale_id = $2 AND bought > 0",
        )
        .bind(ws.0)
        .bind(sale)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(c, n)| (CustomerId(c), n)).collect())
    }

    async fn purchase(
        &self,
        ws: WorkspaceId,
        sale: i64,
        customer: CustomerId,
        at: jiff::Timestamp,
        pay_by: jiff::Timestamp,
    ) -> Result<Purchase, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return Ok(Purchase::Gone) };
        // The unit first: the sale's row is locked until the end (PostgreSQL), so purchases of one
        // sale take turns on it and the condition below is always checked against the last count.
        let taken: Option<i64> = sqlx::query_scalar(
            "UPDATE flash_sales SET sold = sold + 1 WHERE workspace_id = $1 AND id = $2 AND sold < stock RETURNING sold",
        )
        .bind(ws.0)
        .bind(sale)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if taken.is_none() {
            let sold: Option<i64> =
                sqlx::query_scalar("SELECT sold FROM flash_sales WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0)
                    .bind(sale)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            return Ok(match sold {
                Some(sold) => Purchase::SoldOut { sold },
                None => Purchase::Gone,
            });
        }
        let counted = sqlx::query(
            "INSERT INTO flash_buyers (workspace_id, sale_id, customer_id, bought) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (sale_id, customer_id) DO UPDATE SET bought = flash_buyers.bought + 1 \
             WHERE flash_buyers.bought < (SELECT per_customer FROM flash_sales WHERE workspace_id = $1 AND id = $2)",
        )
        .bind(ws.0)
        .bind(sale)
        .bind(live.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if counted.rows_affected() == 0 {
            // Dropped uncommitted: the unit taken above goes back.
            return Ok(Purchase::LimitReached);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO flash_orders (workspace_id, sale_id, customer_id, status, created_at, pay_by) \
             VALUES ($1, $2, $3, 'reserved', $4, $5) RETURNING {ORDER_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(sale)
        .bind(live.0)
        .bind(millis(at))
        .bind(millis(pay_by))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let order = order_from(&row)?;
        tx.commit().await?;
        Ok(Purchase::Placed(order))
    }

    async fn pay_order(
        &self,
        ws: WorkspaceId,
        sale: i64,
        order: i64,
        payment_ref: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<Option<StoredOrder>, StoreError> {
        let mut tx = self.begin_write().await?;
        let paid = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE flash_orders SET status = 'paid', settled_at = $4, payment_ref = $5 \
             WHERE workspace_id = $1 AND sale_id = $2 AND id = $3 AND status = 'reserved' RETURNING {ORDER_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(sale)
        .bind(order)
        .bind(millis(at))
        .bind(payment_ref)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let row = match paid {
            Some(row) => Some(row),
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ORDER_COLUMNS} FROM flash_orders WHERE workspace_id = $1 AND sale_id = $2 AND id = $3"
            )))
            .bind(ws.0)
            .bind(sale)
            .bind(order)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?,
        };
        let order = row.as_ref().map(order_from).transpose()?;
        tx.commit().await?;
        Ok(order)
    }

    async fn release_unpaid(
        &self,
        ws: WorkspaceId,
        now: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE flash_orders SET status = 'released', settled_at = $2 WHERE workspace_id = $1 AND id IN \
             (SELECT id FROM flash_orders WHERE workspace_id = $1 AND status = 'reserved' AND pay_by <= $2 \
             ORDER BY pay_by LIMIT $3) AND status = 'reserved' RETURNING {ORDER_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let orders: Vec<StoredOrder> = rows.iter().map(order_from).collect::<Result<_, _>>()?;
        give_back(&mut tx, ws, &orders).await?;
        tx.commit().await?;
        Ok(orders)
    }

    async fn workspaces_with_unpaid(&self, now: jiff::Timestamp) -> Result<Vec<WorkspaceId>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT workspace_id FROM flash_orders WHERE status = 'reserved' AND pay_by <= $1 ORDER BY workspace_id",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(w,)| WorkspaceId(w)).collect())
    }

    async fn next_pay_by(&self) -> Result<Option<jiff::Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(pay_by) FROM flash_orders WHERE status = 'reserved'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(next.map(from_millis))
    }

    async fn add_attempts(&self, ws: WorkspaceId, sale: i64, c: &AttemptCounts) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE flash_sales SET attempts = attempts + $3, refused_sold_out = refused_sold_out + $4, \
             refused_limit = refused_limit + $5, refused_not_eligible = refused_not_eligible + $6, \
             refused_closed = refused_closed + $7, refused_rate_limited = refused_rate_limited + $8 \
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(sale)
        .bind(c.attempts)
        .bind(c.sold_out)
        .bind(c.limit_reached)
        .bind(c.not_eligible)
        .bind(c.closed)
        .bind(c.rate_limited);
        self.write_one(query).await?;
        Ok(())
    }

    async fn sale_counts(&self, ws: WorkspaceId, sale: i64) -> Result<SaleCounts, StoreError> {
        let mut counts = SaleCounts::default();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM flash_orders WHERE workspace_id = $1 AND sale_id = $2 GROUP BY status",
        )
        .bind(ws.0)
        .bind(sale)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for (status, n) in rows {
            match OrderStatus::parse(&status) {
                Some(OrderStatus::Reserved) => counts.reserved = n,
                Some(OrderStatus::Paid) => counts.paid = n,
                Some(OrderStatus::Released) => counts.released = n,
                None => return Err(corrupt("order status", &status)),
            }
        }
        counts.buyers = sqlx::query_scalar(
            "SELECT COUNT(*) FROM flash_buyers WHERE workspace_id = $1 AND sale_id = $2 AND bought > 0",
        )
        .bind(ws.0)
        .bind(sale)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let row: Option<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT attempts, refused_sold_out, refused_limit, refused_not_eligible, refused_closed, \
             refused_rate_limited FROM flash_sales WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws.0)
        .bind(sale)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some((attempts, sold_out, limit_reached, not_eligible, closed, rate_limited)) = row {
            counts.attempts = AttemptCounts { attempts, sold_out, limit_reached, not_eligible, closed, rate_limited };
        }
        Ok(counts)
    }

    async fn orders(
        &self,
        ws: WorkspaceId,
        sale: i64,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredOrder>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM flash_orders WHERE workspace_id = $1 AND sale_id = $2 AND id < $3 \
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(ws.0)
        .bind(sale)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(order_from).collect()
    }

    async fn orders_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<StoredOrder>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut orders = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {ORDER_COLUMNS} FROM flash_orders WHERE workspace_id = "
            ));
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY id");
            let rows = query.build().fetch_all(&self.pool).await.map_err(db_err)?;
            for row in &rows {
                orders.push(order_from(row)?);
            }
        }
        Ok(orders)
    }

    async fn erase_orders(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {ORDER_COLUMNS} FROM flash_orders WHERE status = 'reserved' AND workspace_id = "
            ));
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(")");
            let rows = query.build().fetch_all(&mut *tx).await.map_err(db_err)?;
            let reserved: Vec<StoredOrder> = rows.iter().map(order_from).collect::<Result<_, _>>()?;
            give_back(&mut tx, ws, &reserved).await?;
            for table in ["flash_orders", "flash_buyers"] {
                let mut query = sqlx::QueryBuilder::<Db>::new(format!("DELETE FROM {table} WHERE workspace_id = "));
                query.push_bind(ws.0).push(" AND customer_id IN (");
                push_id_list(&mut query, chunk);
                query.push(")");
                query.build().execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await
    }
}
