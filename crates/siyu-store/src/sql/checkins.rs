// Check-ins: activities, customers' days, make-up cards, milestones (included into `sqlite` and
// `postgres`).

use siyu_domain::campaigns::checkin::{MAX_DAYS, Milestone, StoredCheckin};
use siyu_domain::campaigns::checkin_store::{CheckedIn, CheckinCounts, CheckinStanding, CheckinStore};

const CHECKIN_COLUMNS: &str =
    "id, name, starts_at, ends_at, milestones, makeup_cards, makeup_days, rules, created_at";

fn checkin_from(row: &<Db as sqlx::Database>::Row) -> Result<StoredCheckin, StoreError> {
    let milestones: String = get(row, "milestones")?;
    Ok(StoredCheckin {
        id: get(row, "id")?,
        name: get(row, "name")?,
        starts_at: ts(row, "starts_at")?,
        ends_at: ts(row, "ends_at")?,
        milestones: serde_json::from_str::<Vec<Milestone>>(&milestones)
            .map_err(|_| corrupt("check-in milestones", &milestones))?,
        makeup_cards: get(row, "makeup_cards")?,
        makeup_days: get(row, "makeup_days")?,
        rules: get(row, "rules")?,
        created_at: ts(row, "created_at")?,
    })
}

/// A customer's check-in days, newest first, as many as a streak can use.
const DAYS: &str = "SELECT day FROM checkin_days WHERE workspace_id = $1 AND checkin_id = $2 AND customer_id = $3 \
                    ORDER BY day DESC LIMIT $4";

/// The customer's check-in days within `tx`.
async fn days_in(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    checkin: i64,
    customer: i64,
) -> Result<Vec<i64>, StoreError> {
    sqlx::query_scalar(DAYS)
    .bind(ws.0)
    .bind(checkin)
    .bind(customer)
    .bind(MAX_DAYS + 1)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)
}

#[async_trait]
impl CheckinStore for SqlStore {
    async fn insert_checkin(&self, ws: WorkspaceId, c: &StoredCheckin) -> Result<i64, StoreError> {
        let query = sqlx::query_scalar(
            "INSERT INTO checkins (workspace_id, name, starts_at, ends_at, milestones, makeup_cards, makeup_days, \
             rules, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(ws.0)
        .bind(&c.name)
        .bind(millis(c.starts_at))
        .bind(millis(c.ends_at))
        .bind(serde_json::to_string(&c.milestones).unwrap_or_default())
        .bind(c.makeup_cards)
        .bind(c.makeup_days)
        .bind(&c.rules)
        .bind(millis(c.created_at));
        self.insert_id(query).await
    }

    async fn checkin(&self, ws: WorkspaceId, id: i64) -> Result<Option<StoredCheckin>, StoreError> {
        let row = self.row_by_id(format!("SELECT {CHECKIN_COLUMNS} FROM checkins"), ws, id).await?;
        row.as_ref().map(checkin_from).transpose()
    }

    async fn checkins(&self, ws: WorkspaceId) -> Result<Vec<StoredCheckin>, StoreError> {
        let rows = self.rows_newest_first(format!("SELECT {CHECKIN_COLUMNS} FROM checkins"), ws).await?;
        rows.iter().map(checkin_from).collect()
    }

    async fn check_in(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
        day: i64,
        makeup_cards: Option<i64>,
        at: jiff::Timestamp,
    ) -> Result<CheckedIn, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(live) = resolve_in(&mut tx, ws, customer).await? else { return Ok(CheckedIn::Gone) };
        let player = sqlx::query(
            "INSERT INTO checkin_players (workspace_id, checkin_id, customer_id) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM checkins WHERE workspace_id = $1 AND id = $2) \
             ON CONFLICT (checkin_id, customer_id) DO NOTHING",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if player.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM checkins WHERE workspace_id = $1 AND id = $2")
                    .bind(ws.0)
                    .bind(checkin)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if exists.is_none() {
                return Ok(CheckedIn::Gone);
            }
        }
        // The player's row is taken first (PostgreSQL): a customer's check-ins take turns.
        let used = sqlx::query(
            "UPDATE checkin_players SET cards_used = cards_used + $4 \
             WHERE workspace_id = $1 AND checkin_id = $2 AND customer_id = $3 AND cards_used + $4 <= $5",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live.0)
        .bind(i64::from(makeup_cards.is_some()))
        .bind(makeup_cards.unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if used.rows_affected() == 0 {
            return Ok(CheckedIn::NoCards);
        }
        let recorded = sqlx::query(
            "INSERT INTO checkin_days (workspace_id, checkin_id, customer_id, day, makeup, checked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (checkin_id, customer_id, day) DO NOTHING",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live.0)
        .bind(day)
        .bind(i64::from(makeup_cards.is_some()))
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if recorded.rows_affected() == 0 {
            // Nothing written: the card is not used either.
            return Ok(CheckedIn::Already);
        }
        sqlx::query(
            "UPDATE checkin_players SET days = days + 1 \
             WHERE workspace_id = $1 AND checkin_id = $2 AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let days = days_in(&mut tx, ws, checkin, live.0).await?;
        tx.commit().await?;
        Ok(CheckedIn::Recorded { customer: live, days })
    }

    async fn standing(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
    ) -> Result<CheckinStanding, StoreError> {
        let live: Option<i64> =
            sqlx::query_scalar("SELECT COALESCE(merged_into, id) FROM customers WHERE workspace_id = $1 AND id = $2")
                .bind(ws.0)
                .bind(customer.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some(live) = live else { return Ok(CheckinStanding::default()) };
        let days: Vec<i64> = sqlx::query_scalar(DAYS)
        .bind(ws.0)
        .bind(checkin)
        .bind(live)
        .bind(MAX_DAYS + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let cards_used: Option<i64> = sqlx::query_scalar(
            "SELECT cards_used FROM checkin_players WHERE workspace_id = $1 AND checkin_id = $2 AND customer_id = $3",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let reached: Vec<i64> = sqlx::query_scalar(
            "SELECT streak FROM checkin_milestones WHERE workspace_id = $1 AND checkin_id = $2 AND customer_id = $3 \
             ORDER BY streak",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(live)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(CheckinStanding { days, cards_used: cards_used.unwrap_or(0), reached })
    }

    async fn reach_milestones(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        customer: CustomerId,
        streaks: &[i64],
        at: jiff::Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut reached = Vec::new();
        for streak in streaks {
            let inserted = sqlx::query(
                "INSERT INTO checkin_milestones (workspace_id, checkin_id, customer_id, streak, reached_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (checkin_id, customer_id, streak) DO NOTHING",
            )
            .bind(ws.0)
            .bind(checkin)
            .bind(customer.0)
            .bind(streak)
            .bind(millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if inserted.rows_affected() == 1 {
                reached.push(*streak);
            }
        }
        tx.commit().await?;
        Ok(reached)
    }

    async fn checkin_counts(
        &self,
        ws: WorkspaceId,
        checkin: i64,
        from_day: i64,
    ) -> Result<CheckinCounts, StoreError> {
        let participants: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM checkin_players WHERE workspace_id = $1 AND checkin_id = $2 AND days > 0",
        )
        .bind(ws.0)
        .bind(checkin)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let days: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT day, COUNT(*), CAST(SUM(makeup) AS BIGINT) FROM checkin_days \
             WHERE workspace_id = $1 AND checkin_id = $2 AND day >= $3 GROUP BY day ORDER BY day",
        )
        .bind(ws.0)
        .bind(checkin)
        .bind(from_day)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let first_days: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT first_day, COUNT(*) FROM (SELECT customer_id, MIN(day) AS first_day FROM checkin_days \
             WHERE workspace_id = $1 AND checkin_id = $2 GROUP BY customer_id) AS firsts GROUP BY first_day \
             ORDER BY first_day",
        )
        .bind(ws.0)
        .bind(checkin)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let milestones: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT streak, COUNT(*) FROM checkin_milestones WHERE workspace_id = $1 AND checkin_id = $2 \
             GROUP BY streak ORDER BY streak",
        )
        .bind(ws.0)
        .bind(checkin)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(CheckinCounts { participants, days, first_days, milestones })
    }

    async fn checkin_days_of(
        &self,
        ws: WorkspaceId,
        customers: &[CustomerId],
    ) -> Result<Vec<(i64, i64, i64, bool)>, StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut days = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<Db>::new(
                "SELECT checkin_id, customer_id, day, makeup FROM checkin_days WHERE workspace_id = ",
            );
            query.push_bind(ws.0).push(" AND customer_id IN (");
            push_id_list(&mut query, chunk);
            query.push(") ORDER BY checkin_id, day");
            let rows: Vec<(i64, i64, i64, i64)> =
                query.build_query_as().fetch_all(&self.pool).await.map_err(db_err)?;
            days.extend(rows.into_iter().map(|(c, customer, day, makeup)| (c, customer, day, makeup != 0)));
        }
        Ok(days)
    }

    async fn erase_checkins(&self, ws: WorkspaceId, customers: &[CustomerId]) -> Result<(), StoreError> {
        let ids: Vec<i64> = customers.iter().map(|c| c.0).collect();
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            for table in ["checkin_days", "checkin_players", "checkin_milestones"] {
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
