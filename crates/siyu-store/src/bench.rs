//! The bare references of `siyu bench timers` and `siyu bench coupons`, on the same backend with
//! siyu's connection settings: for timers a two-column table of due instants, claimed and deleted
//! in batched transactions (one statement each) and nothing else; for coupons the rows of a bulk
//! issue inserted into a table shaped as siyu's. What this machine and backend allow for that many
//! rows is the yardstick siyu is measured against in the same run.

use crate::Backend;
use siyu_core::StoreError;
use std::time::Instant;

/// A run of the reference.
#[derive(Clone, Copy, Debug)]
pub struct BareTimers {
    /// Rows inserted, then claimed and deleted.
    pub rows: u64,
    /// Seconds the inserts took.
    pub insert_seconds: f64,
    /// Seconds claiming and deleting took.
    pub drain_seconds: f64,
}

fn db_err(error: sqlx::Error) -> StoreError {
    StoreError::Backend(format!("bench reference: {error}"))
}

/// Inserts `$rows` rows into `bare_timers` over `$pool`, then runs `$claim` (which deletes a batch
/// of due rows and returns them) until it finds none; gives the two durations and the rows drained.
macro_rules! insert_and_drain {
    ($pool:expr, $rows:expr, $batch:expr, $claim:expr) => {{
        let started = Instant::now();
        let mut tx = $pool.begin().await.map_err(db_err)?;
        for chunk in (0..$rows).collect::<Vec<u64>>().chunks(500) {
            let mut insert = sqlx::QueryBuilder::new("INSERT INTO bare_timers (run_at) ");
            insert.push_values(chunk, |mut row, i| {
                row.push_bind(i64::try_from(*i).unwrap_or(i64::MAX));
            });
            insert.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        let insert_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut drained = 0;
        loop {
            let claimed = sqlx::query($claim).bind(i64::MAX).bind($batch).fetch_all(&$pool).await.map_err(db_err)?;
            if claimed.is_empty() {
                break;
            }
            drained += claimed.len() as u64;
        }
        BareTimers { rows: drained, insert_seconds, drain_seconds: started.elapsed().as_secs_f64() }
    }};
}

/// Inserts `rows` due rows and drains them `batch` at a time. SQLite uses a file of its own beside
/// siyu's (removed afterwards); PostgreSQL a schema of its own (dropped afterwards).
pub async fn bare_timers(backend: &Backend, rows: u64, batch: usize) -> Result<BareTimers, StoreError> {
    let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    match backend {
        Backend::Sqlite { path } => {
            let (pool, file) = scratch_sqlite(path, "bench-timers-reference.db").await?;
            sqlx::query("CREATE TABLE bare_timers (id INTEGER PRIMARY KEY, run_at INTEGER NOT NULL)")
                .execute(&pool)
                .await
                .map_err(db_err)?;
            sqlx::query("CREATE INDEX bare_timers_due ON bare_timers(run_at)").execute(&pool).await.map_err(db_err)?;
            let run = insert_and_drain!(
                pool,
                rows,
                batch,
                "DELETE FROM bare_timers WHERE id IN \
                 (SELECT id FROM bare_timers WHERE run_at <= $1 ORDER BY run_at LIMIT $2) RETURNING id"
            );
            pool.close().await;
            remove_sqlite(&file);
            Ok(run)
        }
        Backend::Postgres { url, .. } => {
            let (pool, schema) = scratch_postgres(url).await?;
            sqlx::query("CREATE TABLE bare_timers (id BIGSERIAL PRIMARY KEY, run_at BIGINT NOT NULL)")
                .execute(&pool)
                .await
                .map_err(db_err)?;
            sqlx::query("CREATE INDEX bare_timers_due ON bare_timers(run_at)").execute(&pool).await.map_err(db_err)?;
            let run = insert_and_drain!(
                pool,
                rows,
                batch,
                "DELETE FROM bare_timers WHERE id IN (SELECT id FROM bare_timers WHERE run_at <= $1 \
                 ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id"
            );
            drop_scratch(pool, &schema).await?;
            Ok(run)
        }
    }
}

/// The columns and indexes of siyu's `coupons` table, for the bulk issue's reference.
const BARE_COUPONS: [&str; 4] = [
    "CREATE TABLE bare_coupons (id {id}, workspace_id BIGINT NOT NULL, template_id BIGINT NOT NULL, \
     customer_id BIGINT NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL, issued_at BIGINT NOT NULL, \
     valid_from BIGINT NOT NULL, valid_until BIGINT NOT NULL, remind_at BIGINT, redeemed_at BIGINT, order_id TEXT, \
     order_amount_fen BIGINT, discount_fen BIGINT)",
    "CREATE INDEX bare_coupons_customer ON bare_coupons(workspace_id, customer_id)",
    "CREATE INDEX bare_coupons_template ON bare_coupons(workspace_id, template_id, status)",
    "CREATE INDEX bare_coupons_expiry ON bare_coupons(valid_until) WHERE status = 'issued'",
];

/// The reference of `siyu bench coupons`: `rows` coupon rows inserted into a table with the
/// columns and indexes of siyu's, 500 a statement and 50,000 a transaction (siyu's batch), and
/// nothing else (no customers read, no stock, no issue kept). Returns the seconds it took.
pub async fn bare_coupons(backend: &Backend, rows: u64) -> Result<f64, StoreError> {
    macro_rules! insert {
        ($pool:expr) => {{
            let started = Instant::now();
            let ids: Vec<i64> = (1..=i64::try_from(rows).unwrap_or(i64::MAX)).collect();
            for batch in ids.chunks(50_000) {
                let mut tx = $pool.begin().await.map_err(db_err)?;
                for chunk in batch.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO bare_coupons (workspace_id, template_id, customer_id, status, source, issued_at, \
                         valid_from, valid_until) ",
                    );
                    insert.push_values(chunk, |mut row, id| {
                        row.push_bind(1i64)
                            .push_bind(1i64)
                            .push_bind(*id)
                            .push_bind("issued")
                            .push_bind("issue")
                            .push_bind(0i64)
                            .push_bind(0i64)
                            .push_bind(1i64);
                    });
                    insert.build().execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
            }
            started.elapsed().as_secs_f64()
        }};
    }
    match backend {
        Backend::Sqlite { path } => {
            let (pool, file) = scratch_sqlite(path, "bench-coupons-reference.db").await?;
            for statement in BARE_COUPONS {
                let statement = statement.replace("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT");
                sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.map_err(db_err)?;
            }
            let seconds = insert!(pool);
            pool.close().await;
            remove_sqlite(&file);
            Ok(seconds)
        }
        Backend::Postgres { url, .. } => {
            let (pool, schema) = scratch_postgres(url).await?;
            for statement in BARE_COUPONS {
                let statement = statement.replace("{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.map_err(db_err)?;
            }
            let seconds = insert!(pool);
            drop_scratch(pool, &schema).await?;
            Ok(seconds)
        }
    }
}

/// The reference of `siyu bench lottery`: `rows` transactions one after another, each inserting one
/// row and committing (durable, as siyu's), on one connection. Returns the seconds it took: the
/// ceiling of any design that commits once per draw.
pub async fn bare_transactions(backend: &Backend, rows: u64) -> Result<f64, StoreError> {
    macro_rules! commit_each {
        ($pool:expr) => {{
            let started = Instant::now();
            for i in 0..i64::try_from(rows).unwrap_or(i64::MAX) {
                let mut tx = $pool.begin().await.map_err(db_err)?;
                sqlx::query("INSERT INTO bare_draws (customer_id, n) VALUES ($1, 1)")
                    .bind(i)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
            }
            started.elapsed().as_secs_f64()
        }};
    }
    match backend {
        Backend::Sqlite { path } => {
            let (pool, file) = scratch_sqlite(path, "bench-lottery-reference.db").await?;
            sqlx::query(
                "CREATE TABLE bare_draws (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, n INTEGER NOT NULL)",
            )
            .execute(&pool)
            .await
            .map_err(db_err)?;
            let seconds = commit_each!(pool);
            pool.close().await;
            remove_sqlite(&file);
            Ok(seconds)
        }
        Backend::Postgres { url, .. } => {
            let (pool, schema) = scratch_postgres(url).await?;
            sqlx::query(
                "CREATE TABLE bare_draws (id BIGSERIAL PRIMARY KEY, customer_id BIGINT NOT NULL, n BIGINT NOT NULL)",
            )
            .execute(&pool)
            .await
            .map_err(db_err)?;
            let seconds = commit_each!(pool);
            drop_scratch(pool, &schema).await?;
            Ok(seconds)
        }
    }
}

/// A one-connection pool on a new SQLite file `name` beside siyu's (removed with [`remove_sqlite`]),
/// so a reference never touches siyu's database; returns the pool and the file.
async fn scratch_sqlite(
    path: &std::path::Path,
    name: &str,
) -> Result<(sqlx::SqlitePool, std::path::PathBuf), StoreError> {
    let file = path.with_file_name(name);
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private_files::create_dir(dir).map_err(|e| StoreError::Backend(format!("bench reference: {e}")))?;
    }
    remove_sqlite(&file);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(crate::sqlite::connect_options(&file))
        .await
        .map_err(db_err)?;
    Ok((pool, file))
}

/// A one-connection pool on PostgreSQL whose tables go into a schema of its own (removed by
/// [`drop_scratch`]), so a reference never touches siyu's tables.
async fn scratch_postgres(url: &str) -> Result<(sqlx::PgPool, String), StoreError> {
    use std::str::FromStr;
    let schema = format!("bench_reference_{}", std::process::id());
    let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(db_err)?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect({
            let schema = schema.clone();
            move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }
        })
        .connect_with(options)
        .await
        .map_err(db_err)?;
    Ok((pool, schema))
}

/// Drops a reference's schema and closes its pool.
async fn drop_scratch(pool: sqlx::PgPool, schema: &str) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.map_err(db_err)?;
    pool.close().await;
    Ok(())
}

fn remove_sqlite(file: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// A run of the journeys' reference.
#[derive(Clone, Copy, Debug)]
pub struct BareJourneys {
    /// State rows claimed, updated and given an outbox row.
    pub rows: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// Claims `$batch` due state rows at a time, updates each and appends an outbox row for it, one
/// transaction per batch, until none is left.
macro_rules! claim_update_append {
    ($pool:expr, $rows:expr, $batch:expr, $claim:expr) => {{
        let mut tx = $pool.begin().await.map_err(db_err)?;
        for chunk in (0..$rows).collect::<Vec<u64>>().chunks(500) {
            let mut insert = sqlx::QueryBuilder::new("INSERT INTO bare_entries (due, state) ");
            insert.push_values(chunk, |mut row, i| {
                row.push_bind(i64::try_from(*i).unwrap_or(i64::MAX)).push_bind(0_i64);
            });
            insert.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        let started = Instant::now();
        let mut done = 0;
        loop {
            let mut tx = $pool.begin().await.map_err(db_err)?;
            let ids: Vec<i64> =
                sqlx::query_scalar($claim).bind(i64::MAX).bind($batch).fetch_all(&mut *tx).await.map_err(db_err)?;
            if ids.is_empty() {
                break;
            }
            for id in &ids {
                sqlx::query("UPDATE bare_entries SET state = 2, node = 'send' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("INSERT INTO bare_outbox (entry, body) VALUES ($1, $2)")
                    .bind(id)
                    .bind("{\"body\":\"hello\"}")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            done += ids.len() as u64;
        }
        BareJourneys { rows: done, seconds: started.elapsed().as_secs_f64() }
    }};
}

/// The bare reference of `siyu bench journeys`: `rows` state rows claimed `batch` at a time, each
/// updated and given an outbox row, one transaction per batch, in a file of its own beside siyu's
/// (SQLite) or a schema of its own (PostgreSQL), removed afterwards.
pub async fn bare_journeys(backend: &Backend, rows: u64, batch: usize) -> Result<BareJourneys, StoreError> {
    let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    match backend {
        Backend::Sqlite { path } => {
            let (pool, file) = scratch_sqlite(path, "bench-journeys-reference.db").await?;
            for ddl in [
                "CREATE TABLE bare_entries (id INTEGER PRIMARY KEY, due INTEGER NOT NULL, state INTEGER NOT NULL, \
                 node TEXT, lease INTEGER)",
                "CREATE INDEX bare_entries_due ON bare_entries(due) WHERE state = 0",
                "CREATE TABLE bare_outbox (id INTEGER PRIMARY KEY, entry INTEGER NOT NULL, body TEXT NOT NULL)",
            ] {
                sqlx::query(ddl).execute(&pool).await.map_err(db_err)?;
            }
            let run = claim_update_append!(
                pool,
                rows,
                batch,
                "UPDATE bare_entries SET state = 1, lease = 1 WHERE id IN \
                 (SELECT id FROM bare_entries WHERE state = 0 AND due <= $1 ORDER BY due LIMIT $2) RETURNING id"
            );
            pool.close().await;
            remove_sqlite(&file);
            Ok(run)
        }
        Backend::Postgres { url, .. } => {
            let (pool, schema) = scratch_postgres(url).await?;
            for ddl in [
                "CREATE TABLE bare_entries (id BIGSERIAL PRIMARY KEY, due BIGINT NOT NULL, state BIGINT NOT NULL, \
                 node TEXT, lease BIGINT)",
                "CREATE INDEX bare_entries_due ON bare_entries(due) WHERE state = 0",
                "CREATE TABLE bare_outbox (id BIGSERIAL PRIMARY KEY, entry BIGINT NOT NULL, body TEXT NOT NULL)",
            ] {
                sqlx::query(ddl).execute(&pool).await.map_err(db_err)?;
            }
            let run = claim_update_append!(
                pool,
                rows,
                batch,
                "UPDATE bare_entries SET state = 1, lease = 1 WHERE id IN (SELECT id FROM bare_entries \
                 WHERE state = 0 AND due <= $1 ORDER BY due LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id"
            );
            drop_scratch(pool, &schema).await?;
            Ok(run)
        }
    }
}
