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

/// Draws written per statement (seven values each).
const DRAW_ROWS: usize = 100;

/// A drawn row not yet written: (customer, n, prize, outcome, at).
type PendingDraw = (i64, i64, Option<String>, DrawOutcome, i64);

/// The players' standings within `tx`, locked to its end (PostgreSQL): a batch's draws and another
/// process's extra chances take turns on a player.
async fn players_in(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    lottery: i64,
    ids: &[i64],
) -> Result<HashMap<i64, Player>, StoreError> {
    let mut players = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "SELECT customer_id, draws, day, day_draws, extra FROM lottery_players WHERE workspace_id = ",
        );
        query.push_bind(ws.0).push(" AND lottery_id = ").push_bind(lottery).push(" AND customer_id IN (");
        push_id_list(&mut query, chunk);
        query.push(")").push(LOCK_ROW);
        let rows: Vec<(i64, i64, i64, i64, i64)> = query.build_query_as().fetch_all(&mut **tx).await.map_err(db_err)?;
        players.extend(
            rows.into_iter().map(|(id, draws, day, day_draws, extra)| (id, Player { draws, day, day_draws, extra })),
        );
    }
    Ok(players)
}

/// Writes the players' new standings (draws and today's; their extra chances are left as they are).
async fn save_players(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    lottery: i64,
    players: &[(i64, Player)],
) -> Result<(), StoreError> {
    for chunk in players.chunks(DRAW_ROWS) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO lottery_players (workspace_id, lottery_id, customer_id, draws, day, day_draws) ",
        );
        query.push_values(chunk, |mut row, (customer, p)| {
            row.push_bind(ws.0)
                .push_bind(lottery)
                .push_bind(*customer)
                .push_bind(p.draws)
                .push_bind(p.day)
                .push_bind(p.day_draws);
        });
        query.push(
            " ON CONFLICT (lottery_id, customer_id) DO UPDATE SET draws = excluded.draws, day = excluded.day, \
             day_draws = excluded.day_draws",
        );
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// The live profile each of `ids` resolves to within `tx`, for those that exist in the workspace.
async fn resolve_all_in(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut live = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut query = sqlx::QueryBuilder::<Db>::new("SELECT id, merged_into FROM customers WHERE workspace_id = ");
        query.push_bind(ws.0).push(" AND id IN (");
        push_id_list(&mut query, chunk);
        query.push(")");
        let rows: Vec<(i64, Option<i64>)> = query.build_query_as().fetch_all(&mut **tx).await.map_err(db_err)?;
        live.extend(rows.into_iter().map(|(id, merged_into)| (id, merged_into.unwrap_or(id))));
    }
    Ok(live)
}

/// Writes a batch's draws in multi-row statements; returns each one's id by (customer, n).
async fn insert_draws(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    lottery: i64,
    rows: &[PendingDraw],
) -> Result<HashMap<(i64, i64), i64>, StoreError> {
    let mut ids = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(DRAW_ROWS) {
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO lottery_draws (workspace_id, lottery_id, customer_id, n, prize_key, outcome, drawn_at) ",
        );
        query.push_values(chunk, |mut row, (customer, n, prize, outcome, at)| {
            row.push_bind(ws.0)
                .push_bind(lottery)
                .push_bind(*customer)
                .push_bind(*n)
                .push_bind(prize.clone())
                .push_bind(outcome.as_str())
                .push_bind(*at);
        });
        query.push(" RETURNING id, customer_id, n");
        let written: Vec<(i64, i64, i64)> = query.build_query_as().fetch_all(&mut **tx).await.map_err(db_err)?;
        ids.extend(written.into_iter().map(|(id, customer, n)| ((customer, n), id)));
    }
    Ok(ids)
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
        let rows = self.rows_newest_first(format!("SELECT {LOTTERY_COLUMNS} FROM lotteries"), ws).await?;
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
        let exists: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM lotteries WHERE workspace_id = $1 AND id = $2{LOCK_ROW}"
        )))
        .bind(ws.0)
        .bind(lottery)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if exists.is_none() {
            return Ok(draws.iter().map(|_| Drawn::Gone).collect());
        }
        let asked: Vec<i64> = draws.iter().map(|(customer, _)| customer.0).collect();
        let live = resolve_all_in(&mut tx, ws, &asked).await?;
        let mut ids: Vec<i64> = live.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut players = players_in(&mut tx, ws, lottery, &ids).await?;
        let counts: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT prize_key, awarded, stock FROM lottery_awards WHERE workspace_id = $1 AND lottery_id = $2",
        )
        .bind(ws.0)
        .bind(lottery)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut awards: HashMap<String, (i64, i64)> =
            counts.into_iter().map(|(key, awarded, stock)| (key, (awarded, stock))).collect();
        // Each draw in its turn, in memory (the rows are this transaction's): the limits, the
        // pick, the prize's stock; then everything written in a few multi-row statements.
        let mut taken: Vec<Result<PendingDraw, Drawn>> = Vec::with_capacity(draws.len());
        let mut moved: Vec<i64> = Vec::new();
        for (customer, limits) in draws {
            let Some(&id) = live.get(&customer.0) else {
                taken.push(Err(Drawn::Gone));
                continue;
            };
            let player = players.entry(id).or_default();
            let today = if player.day == limits.day { player.day_draws } else { 0 };
            if limits.total.is_some_and(|total| player.draws >= total + player.extra) {
                taken.push(Err(Drawn::TotalLimit));
                continue;
            }
            if today >= limits.per_day {
                taken.push(Err(Drawn::DailyLimit));
                continue;
            }
            (player.draws, player.day, player.day_draws) = (player.draws + 1, limits.day, today + 1);
            moved.push(id);
            let n = player.draws;
            let (prize, outcome) = match pick(id, n) {
                None => (None, DrawOutcome::None),
                Some(i) => {
                    let key = prizes.get(i).map(|p| p.key.clone()).unwrap_or_default();
                    let outcome = match awards.get_mut(&key) {
                        Some((awarded, stock)) if *awarded < *stock => {
                            *awarded += 1;
                            DrawOutcome::Won
                        }
                        _ => DrawOutcome::OutOfStock,
                    };
                    (Some(key), outcome)
                }
            };
            taken.push(Ok((id, n, prize, outcome, millis(limits.at))));
        }
        moved.sort_unstable();
        moved.dedup();
        let standings: Vec<(i64, Player)> = moved.iter().map(|id| (*id, players[id])).collect();
        save_players(&mut tx, ws, lottery, &standings).await?;
        for prize in prizes {
            let won = taken
                .iter()
                .filter(|t| matches!(t, Ok((_, _, Some(k), DrawOutcome::Won, _)) if *k == prize.key))
                .count();
            if won > 0 {
                // Held to the stock by the table's check as well.
                sqlx::query(
                    "UPDATE lottery_awards SET awarded = awarded + $4 WHERE workspace_id = $1 AND lottery_id = $2 \
                     AND prize_key = $3",
                )
                .bind(ws.0)
                .bind(lottery)
                .bind(&prize.key)
                .bind(won as i64)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        let rows: Vec<PendingDraw> = taken.iter().filter_map(|t| t.as_ref().ok().cloned()).collect();
        let ids = insert_draws(&mut tx, ws, lottery, &rows).await?;
        tx.commit().await?;
        taken
            .into_iter()
            .map(|t| match t {
                Ok((customer_id, n, prize, outcome, _)) => {
                    let id = *ids
                        .get(&(customer_id, n))
                        .ok_or_else(|| StoreError::Corrupt("a draw written without its id".into()))?;
                    Ok(Drawn::Recorded(DrawRecord { id, customer_id, n, prize, outcome }))
                }
                Err(refused) => Ok(refused),
            })
            .collect()
    }

    async fn add_chances(
        &self,
        ws: WorkspaceId,
        lottery: i64,
        customer: CustomerId,
        n: i64,
        grant_key: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(key) = grant_key
            && !insert_grant(&mut tx, ws, key, "lottery_chances", lottery, customer.0).await?
        {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO lottery_players (workspace_id, lottery_id, customer_id, extra) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM lotteries WHERE workspace_id = $1 AND id = $2) \
             ON CONFLICT (lottery_id, customer_id) DO UPDATE SET extra = lottery_players.extra + $4",
        )
        .bind(ws.0)
        .bind(lottery)
        .bind(customer.0)
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await?;
        Ok(true)
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
