// Lotteries: prizes' counts, players and draws (included into `sqlite` and `postgres`).

use siyu_domain::campaigns::lottery::{DrawOutcome, DrawRecord, Prize, StoredLottery};
use siyu_domain::campaigns::lottery_store::{DrawLimits, Drawn, LotteryStore, Player};

const LOTTERY_COLUMNS: &str =
    "id, name, starts_at, ends_at, prizes, no_prize_weight, per_day, total, rules, sealed_seed, seed_hash, created_at";
const DRAW_COLUMNS: &str = "id, customer_id, n, prize_key, outcome";

fn lottery_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredLottery, StoreError> {
    let prizes: String = get(row, "prizes")?;
    Ok(StoredLottery {
        id: get(row, "id")?,
        name: get(row, "name")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        prizes: serde_json::from_str::<Vec<Prize>>(&prizes).map_err(|_| corrupt("lottery prizes", &prizes))?,
        no_prize_weight: get(row, "no_prize_weight")?,
        per_day: get(row, "per_day")?,
        total: get(row, "total")?,
        rules: get(row, "rules")?,
        sealed_seed: get(row, "sealed_seed")?,
        seed_hash: get(row, "seed_hash")?,
        created_at: ts(row, "created_at")?,
    })
}

fn draw_from(row: &<Db as sqlx::Database>::Row) -> Result<DrawRecord, StoreError> {
    let outcome: String = get(row, "outcome")?;
    Ok(DrawRecord {
        id: get(row, "id")?,
        customer_id: get(row, "customer_id")?,
        n: get(row, "n")?,
        prize: get(row, "prize_key")?,
        outcome: DrawOutcome::parse(&outcome).ok_or_else(|| corrupt("draw outcome", &outcome))?,
    })
}

/// One draw within `tx` (see `LotteryStore::draw_many`).
#[allow(clippy::too_many_arguments)]
async fn draw_in(
    tx: &mut WriteTx,
        ws: WorkspaceId,
        lottery: i64,
        customer: CustomerId,
        limits: DrawLimits,
        prizes: &[Prize],
        pick: &(dyn Fn(i64, i64) -> Option<usize> + Send + Sync),
    ) -> Result<Drawn, StoreError> {
        let Some(live) = resolve_in(tx, ws, customer).await? else { return Ok(Drawn::Gone) };
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM lotteries WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(lottery)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Ok(Drawn::Gone);
        }
        sqlx::query(
            "INSERT INTO lottery_players (workspace_id, lottery_id, customer_id) VALUES ($1, $2, $3) \
             ON CONFLICT (lottery_id, customer_id) DO NOTHING",
        )
        .bind(ws.0)
        .bind(lottery)
        .bind(live.0)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        // The player's row stays locked to the end (PostgreSQL): one customer's draws take turns.
        let (draws, day, day_draws, extra): (i64, i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT draws, day, day_draws, extra FROM lottery_players WHERE workspace_id = $1 AND lottery_id = $2 \
             AND customer_id = $3{LOCK_ROW}"
        )))
        .bind(ws.0)
        .bind(lottery)
        .bind(live.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        let today = if day == limits.day { day_draws } else { 0 };
        if limits.total.is_some_and(|total| draws >= total + extra) {
            return Ok(Drawn::TotalLimit);
        }
        if today >= limits.per_day {
            return Ok(Drawn::DailyLimit);
        }
        let n = draws + 1;
        let (prize, outcome) = match pick(live.0, n) {
            None => (None, DrawOutcome::None),
            Some(i) => {
                let key = prizes.get(i).map(|p| p.key.clone()).unwrap_or_default();
                let given = sqlx::query(
                    "UPDATE lottery_awards SET awarded = awarded + 1 WHERE workspace_id = $1 AND lottery_id = $2 \
                     AND prize_key = $3 AND awarded < stock",
                )
                .bind(ws.0)
                .bind(lottery)
                .bind(&key)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
                let outcome = if given.rows_affected() == 1 { DrawOutcome::Won } else { DrawOutcome::OutOfStock };
                (Some(key), outcome)
            }
        };
        sqlx::query(
            "UPDATE lottery_players SET draws = $4, day = $5, day_draws = $6 \
             WHERE workspace_id = $1 AND lottery_id = $2 AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(lottery)
        .bind(live.0)
        .bind(n)
        .bind(limits.day)
        .bind(today + 1)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lottery_draws (workspace_id, lottery_id, customer_id, n, prize_key, outcome, drawn_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {DRAW_COLUMNS}"
        )))
        .bind(ws.0)
        .bind(lottery)
        .bind(live.0)
        .bind(n)
        .bind(&prize)
        .bind(outcome.as_str())
        .bind(millis(limits.at))
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        let record = draw_from(&row)?;
        Ok(Drawn::Recorded(record))
    }

#[async_trait]
impl LotteryStore for SqlStore {
    async fn insert_lottery(&self, ws: WorkspaceId, l: &StoredLottery) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO lotteries (workspace_id, name, starts_at, ends_at, prizes, no_prize_weight, per_day, total, \
             rules, sealed_seed, seed_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .bind(ws.0)
        .bind(&l.name)
        .bind(millis(l.starts_at))
        .bind(millis(l.ends_at))
        .bind(serde_json::to_string(&l.prizes).unwrap_or_default())
        .bind(l.no_prize_weight)
        .bind(l.per_day)
        .bind(l.total)
        .bind(&l.rules)
        .bind(&l.sealed_seed)
        .bind(&l.seed_hash)
        .bind(millis(l.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        for prize in &l.prizes {
            sqlx::query(
                "INSERT INTO lottery_awards (workspace_id, lottery_id, prize_key, stock, awarded) VALUES ($1, $2, $3, $4, 0)",
            )
            .bind(ws.0)
            .bind(id)
            .bind(&prize.key)
            .bind(prize.stock)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn lottery(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredLottery>, StoreError> {
        let row = self.row_by_id(format!("SELECT {LOTTERY_COLUMNS} FROM lotteries"), ws, id).await?;
        row.as_ref().map(lottery_from).transpose()
    }

    async fn lotteries(&self, ws: WorkspaceId) -> Result<Vec<StoredLottery>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOTTERY_COLUMNS} FROM lotteries WHERE workspace_id = $1 ORDER BY id DESC"
        )))
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(lottery_from).collect()
    }

    async fn draw_many(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        draws: &[(CustomerId, DrawLimits)],
        prizes: &[Prize],
        pick: &(dyn Fn(i64, i64) -> Option<usize> + Send + Sync),
    ) -> Result<Vec<Drawn>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Batches of one lottery take turns on its row (PostgreSQL): a batch then takes players'
        // and prizes' rows in whatever order its draws need without meeting another batch.
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM lotteries WHERE workspace_id = $1 AND id = $2{LOCK_ROW}")))
            .bind(ws.0)
            .bind(lottery)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut drawn = Vec::with_capacity(draws.len());
        for (customer, limits) in draws {
            drawn.push(draw_in(&mut tx, ws, lottery, *customer, *limits, prizes, pick).await?);
        }
        tx.commit().await?;
        Ok(drawn)
    }

    async fn add_chances(&self, ws: WorkspaceId, lottery: i64, customer: CustomerId, n: i64) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO lottery_players (workspace_id, lottery_id, customer_id, extra) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM lotteries WHERE workspace_id = $1 AND id = $2) \
             ON CONFLICT (lottery_id, customer_id) DO UPDATE SET extra = lottery_players.extra + $4",
        )
        .bind(ws.0)
        .bind(lottery)
        .bind(customer.0)
        .bind(n);
        self.write_one(query).await?;
        Ok(())
    }

    async fn player(&self, ws: WorkspaceId, lottery: i64, customer: CustomerId) -> Result<Player, StoreError> {
        let row: Option<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT draws, day, day_draws, extra FROM lottery_players WHERE workspace_id = $1 AND lottery_id = $2 \
             AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(lottery)
        .bind(customer.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(row.map(|(draws, day, day_draws, extra)| Player { draws, day, day_draws, extra }).unwrap_or_default())
    }

    async fn awarded(&self, ws: WorkspaceId, lottery: i64) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT prize_key, awarded FROM lottery_awards WHERE workspace_id = $1 AND lottery_id = $2 ORDER BY prize_key",
        )
        .bind(ws.0)
        .bind(lottery)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn draws(&self, ws: WorkspaceId, lottery: i64, after: i64, limit: usize) -> Result<Vec<DrawRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DRAW_COLUMNS} FROM lottery_draws WHERE workspace_id = $1 AND lottery_id = $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        )))
        .bind(ws.0)
        .bind(lottery)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(draw_from).collect()
    }

    async fn draws_of(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<Vec<(i64, DrawRecord)>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut draws = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT lottery_id, {DRAW_COLUMNS} FROM lottery_draws WHERE workspace_id = "
            ));
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY id");
            for row in query.build().fetch_all(&self.pool).await.map_err(db_err)? {
                draws.push((get(&row, "lottery_id")?, draw_from(&row)?));
            }
        }
        Ok(draws)
    }

    async fn erase_draws(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            for table in ["lottery_draws", "lottery_players"] {
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
