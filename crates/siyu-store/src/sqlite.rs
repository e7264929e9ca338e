//! The SQLite backend: one file in WAL mode, writers serialised with `BEGIN IMMEDIATE`.

use siyu_core::StoreError;
use siyu_domain::Stores;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod identity_index;

use identity_index::{IndexTx, PendingIdentities};
use siyu_domain::customers::IdentityKind;

type Db = sqlx::Sqlite;

/// All stores over one SQLite pool.
#[derive(Clone)]
pub struct SqlStore {
    pool: sqlx::Pool<Db>,
    /// SQLite has one writer at a time. Write transactions of this process queue here, in order,
    /// and start the moment the previous one ends; left to SQLite's busy handler they would poll
    /// the lock with sleeps of up to 100 ms. Other processes (a CLI command next to the server)
    /// still meet on the busy timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Where ordinary write transactions queue before `writer`, one at a time, so that an urgent
    /// one (journey timers) waits for at most the transaction in progress and one other.
    queue: Arc<tokio::sync::Mutex<()>>,
    /// The identities not yet moved into the `identities` index (see `identity_index`).
    pending: Arc<PendingIdentities>,
}

impl SqlStore {
    /// Starts a write transaction; IMMEDIATE takes the write lock up front so that a read
    /// transaction never has to upgrade (and fail) half-way.
    async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let turn = {
            let _in_line = self.queue.lock().await;
            self.writer.clone().lock_owned().await
        };
        self.begin_in_turn(turn).await
    }

    /// Runs one write statement in this process's turn to write: run straight on the pool it
    /// would meet the queued writers on SQLite's busy handler (sleeps of up to 100 ms, for it and
    /// for the writer it got in the way of).
    async fn write_one(
        &self,
        query: sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments>,
    ) -> Result<<Db as sqlx::Database>::QueryResult, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await?;
        Ok(done)
    }

    /// Starts a write transaction ahead of the ordinary ones waiting (for work whose lateness is
    /// measured: the journeys' due entries).
    async fn begin_urgent_write(&self) -> Result<WriteTx, StoreError> {
        let turn = self.writer.clone().lock_owned().await;
        self.begin_in_turn(turn).await
    }

    async fn begin_in_turn(&self, turn: tokio::sync::OwnedMutexGuard<()>) -> Result<WriteTx, StoreError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        Ok(WriteTx { tx, index: IndexTx::new(self.pending.clone()), _turn: Some(turn) })
    }

    /// Returns the customers of workspace `ws` owning any of `identities` whose index rows are
    /// still pending; a read calls this before it queries `identities`.
    async fn pending_identity_owners(
        &self,
        ws: WorkspaceId,
        identities: &[(IdentityKind, String)],
    ) -> Result<Vec<i64>, StoreError> {
        if identities.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        self.pending.owners_for_read(&mut conn, ws.0, identities).await
    }
}

/// Adds to `owners` the owners of `wanted` that only the pending part of the index holds.
async fn pending_owners<'a>(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    wanted: impl Iterator<Item = (IdentityKind, &'a str)>,
    owners: &mut HashMap<(IdentityKind, String), i64>,
) -> Result<(), StoreError> {
    let WriteTx { tx, index, .. } = tx;
    index.owners(tx, ws.0, wanted, owners).await
}

/// Indexes new identities `(customer, kind, lookup)` of workspace `ws`: appended to the pending
/// table, moved into `identities` in large sorted batches (see `identity_index`).
async fn index_identities(
    tx: &mut WriteTx,
    ws: WorkspaceId,
    rows: &[(i64, IdentityKind, &str)],
) -> Result<(), StoreError> {
    let WriteTx { tx, index, .. } = tx;
    index.add(tx, ws.0, rows).await
}

/// Moves every pending identity into `identities`, before a statement that changes or removes
/// indexed identities.
async fn settle_identities(tx: &mut WriteTx) -> Result<(), StoreError> {
    let WriteTx { tx, index, .. } = tx;
    index.settle(tx).await
}

/// Before a commit: flushes the pending identities once there are enough of them.
async fn finish_index(tx: &mut WriteTx) -> Result<(), StoreError> {
    let WriteTx { tx, index, .. } = tx;
    index.before_commit(tx).await
}

/// After a commit: this process's memory of the pending identities takes the transaction's.
fn index_committed(index: IndexTx) {
    index.committed();
}

/// Reserves `n` customer ids. Called inside a write transaction, which holds SQLite's only write
/// lock, so no other writer can take the same ids; explicit ids advance the AUTOINCREMENT counter.
async fn allocate_customer_ids(tx: &mut WriteTx, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(n) FROM (SELECT seq AS n FROM sqlite_sequence WHERE name = 'customers' \
         UNION ALL SELECT MAX(id) AS n FROM customers)",
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(db_err)?;
    let first = last.unwrap_or(0) + 1;
    Ok((first..first + n as i64).collect())
}

/// Row locking suffix for read-modify-write; SQLite's write transaction already excludes writers.
const LOCK_ROW: &str = "";
/// A job claim's row locking: none, SQLite's single writer already claims alone.
const SKIP_LOCKED: &str = "";

/// Adds `AND <trait key> = <JSON value>` on the customers row `c` (typed comparison via json_extract).
fn push_trait_equals(query: &mut sqlx::QueryBuilder<Db>, key: &str, value_json: &str) {
    query
        .push(" AND json_extract(c.traits, ")
        .push_bind(format!("$.\"{key}\".v"))
        .push(") = json_extract(")
        .push_bind(value_json.to_string())
        .push(", '$')");
}

/// How long a statement waits for a lock another connection holds.
const BUSY_WAIT: Duration = Duration::from_secs(30);
/// How long the checkpointer's TRUNCATE waits for readers (holding new writers back meanwhile).
const TRUNCATE_WAIT: Duration = Duration::from_millis(50);

/// The connection settings of siyu's SQLite file (WAL, full sync, busy wait, caches).
pub(crate) fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL makes every acknowledged commit durable across power loss, not only process crashes.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_WAIT)
        .foreign_keys(true)
        .pragma("cache_size", "-262144")
        .pragma("temp_store", "memory")
        // Pages are shared through the OS cache instead of copied into each pooled connection.
        .pragma("mmap_size", "4294967296")
        // Checkpoints run on the `store.checkpoint` worker (`Maintenance::checkpoint`); the writer only
        // checkpoints itself if the WAL ever reaches 1 GiB.
        .pragma("wal_autocheckpoint", "262144")
}

/// Opens (creating if needed) the database file and applies migrations.
pub async fn open(path: &Path) -> Result<Stores, StoreError> {
    open_with(path, identity_index::FLUSH_AT).await
}

/// [`open`], moving pending identities into the index once `identity_flush_at` are pending
/// (tests set it low, so that the moves happen between their steps).
pub async fn open_with(path: &Path, identity_flush_at: usize) -> Result<Stores, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        crate::private_files::create_dir(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
    }
    // SQLite gives its -wal and -shm files the mode of the database file: create it private first.
    crate::private_files::ensure_file(path)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", path.display())))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = crate::private_files::tighten(Path::new(&side), 0o600);
    }
    let options = connect_options(path);
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(db_err)?;
    crate::migrations::migrator(crate::migrations::Dialect::Sqlite)
        .run(&pool)
        .await
        .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
    let events_dir = path.parent().unwrap_or(Path::new(".")).join("events");
    let events = std::sync::Arc::new(crate::eventlog::LogFiles::open(&events_dir)?);
    let pending = Arc::new(PendingIdentities::new(identity_flush_at));
    Ok(stores(SqlStore { pool, writer: Default::default(), queue: Default::default(), pending }, events))
}

/// WAL size (in 4 KiB frames) at which the background checkpointer resets the log: 64 MiB.
const WAL_RESET_FRAMES: i64 = 16_384;

#[async_trait::async_trait]
impl siyu_domain::Maintenance for SqlStore {
    /// A PASSIVE checkpoint on a pooled connection, so the writer's commits do not pay for it
    /// (PASSIVE never waits for locks). Under a steady stream of commits the log never finds an
    /// idle moment to start over, so once it is large and fully copied, a brief TRUNCATE
    /// checkpoint resets it.
    async fn checkpoint(&self) -> Result<(), StoreError> {
        let (_, wal_frames, copied) = sqlx::query_as::<Db, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        if wal_frames >= WAL_RESET_FRAMES && copied == wal_frames {
            // TRUNCATE holds new writers back while it waits for readers of older snapshots: on
            // this connection it waits briefly, and when they are still reading it is tried again
            // at the next round instead of holding the writer for seconds.
            let mut connection = self.pool.acquire().await.map_err(db_err)?;
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {}", TRUNCATE_WAIT.as_millis())))
                .execute(&mut *connection)
                .await
                .map_err(db_err)?;
            let truncated =
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *connection).await.map_err(db_err);
            let restored = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {}", BUSY_WAIT.as_millis())))
                .execute(&mut *connection)
                .await
                .map_err(db_err);
            if restored.is_err() {
                // A connection left with the short wait must not go back to the pool.
                connection.detach();
            }
            truncated?;
            restored?;
        }
        Ok(())
    }
}

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
