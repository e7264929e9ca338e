//! The PostgreSQL backend, for scale-out; tests confine each run to a schema of its own.

use siyu_core::StoreError;
use siyu_domain::Stores;
use siyu_domain::customers::IdentityKind;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

type Db = sqlx::Postgres;

/// All stores over one PostgreSQL pool.
#[derive(Clone)]
pub struct SqlStore {
    pool: sqlx::Pool<Db>,
    /// Per workspace: the highest event `seq` this process knows of (its own appends and what it
    /// has seen), and how many times another writer's events turned up beyond it.
    event_heads: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<i64, (i64, u64)>>>,
}

impl SqlStore {
    /// Starts a write transaction; PostgreSQL's row locks order concurrent writers.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        Ok(WriteTx { tx: self.pool.begin().await.map_err(db_err)?, index: IndexTx, _turn: None })
    }

    /// Runs one write statement (on PostgreSQL straight on the pool: it has no single writer).
    async fn write_one(
        &self,
        query: sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments>,
    ) -> Result<<Db as sqlx::Database>::QueryResult, StoreError> {
        query.execute(&self.pool).await.map_err(db_err)
    }

    /// The same as [`Self::begin_write`]: PostgreSQL has no single writer to queue for.
    async fn begin_urgent_write(&self) -> Result<WriteTx, StoreError> {
        self.begin_write().await
    }

    /// No identity is pending on PostgreSQL: `identities` is written directly.
    async fn pending_identity_owners(
        &self,
        _ws: WorkspaceId,
        _identities: &[(IdentityKind, String)],
    ) -> Result<Vec<i64>, StoreError> {
        Ok(Vec::new())
    }
}

/// PostgreSQL writes the identity index directly: its primary key orders concurrent writers
/// of several nodes (a unique violation makes the loser retry), which a pending table in one
/// process's memory could not.
struct IndexTx;

/// No identity is pending on PostgreSQL.
async fn pending_owners<'a>(
    _tx: &mut WriteTx,
    _ws: WorkspaceId,
    _wanted: impl Iterator<Item = (IdentityKind, &'a str)>,
    _owners: &mut HashMap<(IdentityKind, String), i64>,
) -> Result<(), StoreError> {
    Ok(())
}

/// Indexes new identities `(customer, kind, lookup)` of workspace `ws`. Plain INSERT: an identity
/// another transaction just took is a unique violation, and the whole unit is retried (it then
/// finds that owner and merges).
async fn index_identities(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    rows: &[(i64, IdentityKind, &str)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let mut query =
            sqlx::QueryBuilder::<Db>::new("INSERT INTO identities (workspace_id, lookup, kind, customer_id) ");
        query.push_values(chunk, |mut row, (customer, kind, lookup)| {
            row.push_bind(ws.0).push_bind(lookup.to_string()).push_bind(kind.as_str()).push_bind(*customer);
        });
        query.build().execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// Nothing is pending on PostgreSQL.
async fn settle_identities(_tx: &mut WriteTx) -> Result<(), StoreError> {
    Ok(())
}

/// Nothing is pending on PostgreSQL.
async fn finish_index(_tx: &mut WriteTx) -> Result<(), StoreError> {
    Ok(())
}

/// Nothing is pending on PostgreSQL.
fn index_committed(_index: IndexTx) {}

/// Reserves `n` customer ids from the identity column's sequence (safe under concurrency).
async fn allocate_customer_ids(tx: &mut WriteTx, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)
}

/// Row locking suffix for read-modify-write, so concurrent writers cannot lose each other's traits.
const LOCK_ROW: &str = " FOR UPDATE";
/// A job claim skips the rows another process is claiming, so several nodes claim side by side.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// Adds `AND <trait key> = <JSON value>` on the customers row `c` (jsonb equality).
fn push_trait_equals(query: &mut sqlx::QueryBuilder<Db>, key: &str, value_json: &str) {
    query
        .push(" AND (c.traits::jsonb -> ")
        .push_bind(key.to_string())
        .push(" -> 'v') = ")
        .push_bind(value_json.to_string())
        .push("::jsonb");
}

/// Connects, creates `schema` if given (and uses it), and applies migrations.
pub async fn open(url: &str, schema: Option<&str>) -> Result<Stores, StoreError> {
    let mut options =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend(format!("invalid database URL: {e}")))?;
    options = options.log_statements(tracing::log::LevelFilter::Trace);
    // Plan every execution with its own parameters and the table's current size: a generic plan
    // cached while a table was small keeps scanning it sequentially after it has grown.
    options = options.options([("plan_cache_mode", "force_custom_plan")]);
    if let Some(schema) = schema {
        if !schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(StoreError::Backend(format!("invalid schema name \"{schema}\"")));
        }
        let mut admin = options.connect().await.map_err(db_err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
            .execute(&mut admin)
            .await
            .map_err(db_err)?;
        options = options.options([("search_path", schema)]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(db_err)?;
    crate::migrations::migrator(crate::migrations::Dialect::Postgres)
        .run(&pool)
        .await
        .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
    let store = SqlStore { pool, event_heads: Default::default() };
    Ok(stores(store.clone(), std::sync::Arc::new(store)))
}

#[async_trait::async_trait]
impl siyu_domain::Maintenance for SqlStore {
    /// PostgreSQL's own checkpointer copies its log.
    async fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// First key of the advisory lock that orders a workspace's event appends.
const EVENTS_LOCK: i32 = 0x5e7e;

/// Bytes per row of a stored index snapshot (bytea holds at most 1 GB).
const SNAPSHOT_PART: usize = 64 << 20;

impl SqlStore {
    /// Returns the highest event `seq` of a workspace.
    async fn event_head(executor: impl sqlx::PgExecutor<'_>, ws: WorkspaceId) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM events WHERE workspace_id = $1")
            .bind(ws.0)
            .fetch_one(executor)
            .await
            .map_err(db_err)?;
        Ok(head.unwrap_or(0))
    }

    /// Records the head seen and returns how many times another writer's events were found beyond
    /// what this process knew (the first look only sets the mark).
    fn observe_head(&self, ws: WorkspaceId, head: i64) -> u64 {
        let mut heads = self.event_heads.lock().expect("event head lock is never poisoned");
        let known = heads.entry(ws.0).or_insert((head, 0));
        if head > known.0 {
            known.0 = head;
            known.1 += 1;
        }
        known.1
    }
}

/// Columns of one event row, in insert order.
const EVENT_COLUMNS: &str =
    "workspace_id, customer_id, kind, name, ts_us, received_us, message_id, user_id, anonymous_id, properties, context";

#[async_trait::async_trait]
impl siyu_domain::events::EventStore for SqlStore {
    async fn append(&self, ws: WorkspaceId, events: &[siyu_domain::events::NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // One append per workspace at a time, held to commit: `seq` values are then committed in
        // order, so a scan that saw `seq` n has seen every row below it (a checkpoint never skips a
        // row that committed late). Other writers (a CLI import) take the same lock.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(EVENTS_LOCK)
            .bind(i32::try_from(ws.0 % i64::from(i32::MAX)).unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let before = Self::event_head(&mut *tx, ws).await?;
        self.observe_head(ws, before);
        // 11 parameters a row, under PostgreSQL's 65,535 per statement.
        for chunk in events.chunks(4_000) {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            query.push_values(chunk, |mut row, e| {
                row.push_bind(ws.0)
                    .push_bind(e.customer.0)
                    .push_bind(i16::from(e.kind.code()))
                    .push_bind(e.name.as_str())
                    .push_bind(e.ts_us)
                    .push_bind(e.received_us)
                    .push_bind(e.message_id.as_str())
                    .push_bind(e.user_id.as_str())
                    .push_bind(e.anonymous_id.as_str())
                    .push_bind(e.properties.as_str())
                    .push_bind(e.context.as_str());
            });
            query.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        let after = Self::event_head(&mut *tx, ws).await?;
        tx.commit().await.map_err(db_err)?;
        // Our own rows: the head moves without counting as another writer's.
        let mut heads = self.event_heads.lock().expect("event head lock is never poisoned");
        let head = heads.entry(ws.0).or_insert((after, 0));
        head.0 = head.0.max(after);
        Ok(())
    }

    async fn foreign_version(&self, ws: WorkspaceId) -> Result<u64, StoreError> {
        let head = Self::event_head(&self.pool, ws).await?;
        Ok(self.observe_head(ws, head))
    }

    async fn checkpoint(&self, ws: WorkspaceId) -> Result<String, StoreError> {
        // `seq` values commit in order (see `append`): every row up to the head is visible.
        Ok(Self::event_head(&self.pool, ws).await?.to_string())
    }

    async fn save_snapshot(&self, ws: WorkspaceId, bytes: Vec<u8>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("DELETE FROM index_snapshots WHERE workspace_id = $1")
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (part, chunk) in bytes.chunks(SNAPSHOT_PART).enumerate() {
            sqlx::query("INSERT INTO index_snapshots (workspace_id, part, bytes) VALUES ($1, $2, $3)")
                .bind(ws.0)
                .bind(part as i32)
                .bind(chunk)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn delete_snapshot(&self, ws: WorkspaceId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM index_snapshots WHERE workspace_id = $1")
            .bind(ws.0)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn load_snapshot(&self, ws: WorkspaceId) -> Result<Option<Vec<u8>>, StoreError> {
        use futures::TryStreamExt as _;
        let mut parts = sqlx::query_as::<_, (i32, Vec<u8>)>(
            "SELECT part, bytes FROM index_snapshots WHERE workspace_id = $1 ORDER BY part",
        )
        .bind(ws.0)
        .fetch(&self.pool);
        let mut bytes = Vec::new();
        let mut expected = 0;
        while let Some((part, chunk)) = parts.try_next().await.map_err(db_err)? {
            if part != expected {
                // A part is missing: the snapshot is not whole, so there is none.
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
            expected += 1;
        }
        Ok((expected > 0).then_some(bytes))
    }

    async fn scan_since(
        &self,
        ws: WorkspaceId,
        checkpoint: &str,
        visit: &mut (dyn for<'e> FnMut(siyu_domain::events::EventView<'e>) + Send),
    ) -> Result<(u64, String), StoreError> {
        use futures::TryStreamExt as _;
        let since: i64 = if checkpoint.is_empty() {
            0
        } else {
            checkpoint.parse().map_err(|_| StoreError::Corrupt(format!("event checkpoint \"{checkpoint}\"")))?
        };
        let sql = format!("SELECT seq, {EVENT_COLUMNS} FROM events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq");
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ws.0).bind(since).fetch(&self.pool);
        let mut last = since;
        let mut count = 0;
        while let Some(row) = rows.try_next().await.map_err(db_err)? {
            visit(event_view(&row)?);
            last = get(&row, "seq")?;
            count += 1;
        }
        Ok((count, last.to_string()))
    }

    async fn workspaces_with_clear_events(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        let sql = format!("SELECT DISTINCT workspace_id FROM events WHERE {CLEAR_EVENT} ORDER BY workspace_id");
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(ids.into_iter().map(WorkspaceId).collect())
    }

    async fn clear_event_customers(&self, ws: WorkspaceId) -> Result<Vec<CustomerId>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT customer_id FROM events WHERE workspace_id = $1 AND {CLEAR_EVENT} ORDER BY customer_id"
        );
        let ids: Vec<i64> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(ws.0).fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(ids.into_iter().map(CustomerId).collect())
    }

    async fn seal_clear_events(
        &self,
        ws: WorkspaceId,
        seal: &mut (dyn for<'e> FnMut(siyu_domain::events::EventView<'e>) -> siyu_domain::events::NewEvent + Send),
    ) -> Result<u64, StoreError> {
        let select = format!(
            "SELECT seq, {EVENT_COLUMNS} FROM events WHERE workspace_id = $1 AND seq > $2 AND {CLEAR_EVENT} \
             ORDER BY seq LIMIT 1000"
        );
        let (mut after, mut sealed) = (0i64, 0u64);
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(ws.0)
                .bind(after)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            if rows.is_empty() {
                break;
            }
            // Each chunk in one transaction: its rows are all sealed or all as they were.
            let mut tx = self.pool.begin().await.map_err(db_err)?;
            for row in &rows {
                let seq: i64 = get(row, "seq")?;
                let new = seal(event_view(row)?);
                sqlx::query(
                    "UPDATE events SET user_id = $3, anonymous_id = $4, properties = $5, context = $6 \
                     WHERE workspace_id = $1 AND seq = $2",
                )
                .bind(ws.0)
                .bind(seq)
                .bind(&new.user_id)
                .bind(&new.anonymous_id)
                .bind(&new.properties)
                .bind(&new.context)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                after = seq;
                sealed += 1;
            }
            tx.commit().await.map_err(db_err)?;
        }
        self.delete_snapshot(ws).await?;
        Ok(sealed)
    }
}

/// Reads an `events` row (selected with [`EVENT_COLUMNS`]) as the event it holds.
fn event_view(row: &sqlx::postgres::PgRow) -> Result<siyu_domain::events::EventView<'_>, StoreError> {
    let kind: i16 = get(row, "kind")?;
    let kind = u8::try_from(kind)
        .ok()
        .and_then(siyu_domain::events::EventKind::from_code)
        .ok_or_else(|| corrupt("event kind", &kind.to_string()))?;
    Ok(siyu_domain::events::EventView {
        customer: CustomerId(get(row, "customer_id")?),
        kind,
        name: row.try_get("name").map_err(db_err)?,
        ts_us: get(row, "ts_us")?,
        received_us: get(row, "received_us")?,
        message_id: row.try_get("message_id").map_err(db_err)?,
        user_id: row.try_get("user_id").map_err(db_err)?,
        anonymous_id: row.try_get("anonymous_id").map_err(db_err)?,
        properties: row.try_get("properties").map_err(db_err)?,
        context: row.try_get("context").map_err(db_err)?,
    })
}

/// The condition of an event kept in the clear: properties not starting with the sealed prefix
/// (`SEALED_PREFIX`; a literal, so that PostgreSQL uses the partial index `events_clear`).
const CLEAR_EVENT: &str = "properties NOT LIKE '#sealed1:%'";

// The SQL shared by both backends; last, because it brings its own test module.
include!("sql/rows.rs");
include!("sql/jobs.rs");
include!("sql/messages.rs");
include!("sql/journeys.rs");
include!("sql/campaigns.rs");
include!("sql/coupons.rs");
include!("sql/lotteries.rs");
include!("sql/checkins.rs");
include!("sql/group_buys.rs");
include!("sql/quizzes.rs");
include!("sql/access/workspaces.rs");
include!("sql/access/users.rs");
include!("sql/access/api_keys.rs");
include!("sql/access/audit.rs");
include!("sql/customers/profiles.rs");
include!("sql/customers/tags.rs");
include!("sql/customers/consent.rs");
include!("sql/segments.rs");
include!("sql/customers/traits.rs");
