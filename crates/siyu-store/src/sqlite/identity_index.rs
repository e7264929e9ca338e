//! The identity lookup index in two steps (SQLite).
//!
//! `identities` is keyed by blind indexes, random by design, so each row inserted lands on a page
//! of its own: a transaction of 500 new profiles dirtied ~500 pages of 4 KiB, and SQLite writes each
//! dirty page to its write-ahead log at commit (3 KiB+ of log per new identity, however the writes
//! are grouped, until a group is as large as the index). So the identities of new rows go first to
//! `identities_pending`, appended in rowid order (a transaction writes its last few pages), and to
//! this process's memory; once `flush_at` of them are pending they move into `identities` in one
//! statement, sorted, so each page of the index is written once for many rows.
//!
//! Invariant: an indexed identity is in exactly one of `identities` and `identities_pending`, and
//! every lookup reads both. A write transaction reads the pending rows as of its own start (it holds
//! SQLite's only write lock; the memory is reloaded when another process changed the table), plus
//! its own. A read takes the pending rows first and then queries `identities`, so a row that moves
//! from one to the other meanwhile is still seen. Whatever changes or removes indexed identities
//! (merges, removals, erasure, sealing) first settles: moves every pending row into `identities`
//! within its own transaction.
//!
//! Rows are only appended to the pending table or all deleted at once, and its `seq` is
//! AUTOINCREMENT (never reused), so its lowest and highest `seq` name its contents: the memory
//! records both and is reloaded when the table's differ.

use super::{CHUNK, corrupt, db_err};
use siyu_core::StoreError;
use siyu_domain::customers::IdentityKind;
use sqlx::SqliteConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Pending identities at which a commit moves them into the index: large enough that a flush
/// writes each page of a million-row index about once per three rows, small enough to keep in
/// memory (~7 MB) and to move in one transaction.
pub(crate) const FLUSH_AT: usize = 50_000;

/// `(workspace, kind, blind index)`.
type Key = (i64, IdentityKind, String);

/// The lowest and highest `seq` of the pending table (`None` when it is empty).
type Marks = (Option<i64>, Option<i64>);

/// The pending rows of one snapshot of the table: `(workspace, kind, lookup) → customer`.
#[derive(Default)]
struct Snapshot {
    marks: Marks,
    owners: HashMap<Key, i64>,
}

/// The pending part of the identity index as this process last saw it. Only a write transaction
/// (which holds SQLite's write lock, so nothing else commits meanwhile) replaces or changes it.
pub(crate) struct PendingIdentities {
    state: Mutex<Snapshot>,
    flush_at: usize,
}

async fn marks(conn: &mut SqliteConnection) -> Result<Marks, sqlx::Error> {
    sqlx::query_as("SELECT (SELECT MIN(seq) FROM identities_pending), (SELECT MAX(seq) FROM identities_pending)")
        .fetch_one(conn)
        .await
}

async fn load(conn: &mut SqliteConnection, marks: Marks) -> Result<Snapshot, StoreError> {
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT workspace_id, kind, lookup, customer_id FROM identities_pending")
            .fetch_all(conn)
            .await
            .map_err(db_err)?;
    let mut owners = HashMap::with_capacity(rows.len());
    for (ws, kind, lookup, customer) in rows {
        let kind = IdentityKind::parse(&kind).ok_or_else(|| corrupt("identity kind", &kind))?;
        owners.insert((ws, kind, lookup), customer);
    }
    Ok(Snapshot { marks, owners })
}

impl PendingIdentities {
    pub(crate) fn new(flush_at: usize) -> Self {
        Self { state: Mutex::new(Snapshot::default()), flush_at: flush_at.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns the customers that own any of `identities` among the pending rows, as a read on
    /// `conn` sees them (call before querying `identities`; see the module's invariant).
    pub(crate) async fn owners_for_read(
        &self,
        conn: &mut SqliteConnection,
        ws: i64,
        identities: &[(IdentityKind, String)],
    ) -> Result<Vec<i64>, StoreError> {
        let now = marks(conn).await.map_err(db_err)?;
        let find = |snapshot: &Snapshot| -> Vec<i64> {
            identities
                .iter()
                .filter_map(|(kind, lookup)| snapshot.owners.get(&(ws, *kind, lookup.clone())).copied())
                .collect()
        };
        {
            let state = self.lock();
            if state.marks == now {
                return Ok(find(&state));
            }
        }
        // Another process changed the table (or this one's commit is not yet in memory): read it as
        // this snapshot has it, without keeping it (only writers replace the memory).
        Ok(find(&load(conn, now).await?))
    }
}

/// A write transaction's part in the pending index: what it added, and whether it moved every
/// pending row into the index; applied to the memory once the transaction commits.
pub(crate) struct IndexTx {
    shared: Arc<PendingIdentities>,
    synced: bool,
    added: HashMap<Key, i64>,
    cleared: bool,
    /// The table's marks as this transaction leaves it (known once it has changed it).
    final_marks: Option<Marks>,
}

impl IndexTx {
    pub(crate) fn new(shared: Arc<PendingIdentities>) -> Self {
        Self { shared, synced: false, added: HashMap::new(), cleared: false, final_marks: None }
    }

    /// Reloads the memory if another process changed the table since this process last saw it.
    async fn sync(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.synced {
            return Ok(());
        }
        let now = marks(conn).await.map_err(db_err)?;
        if self.shared.lock().marks != now {
            let snapshot = load(conn, now).await?;
            *self.shared.lock() = snapshot;
        }
        self.synced = true;
        Ok(())
    }

    fn owner(&self, key: &Key) -> Option<i64> {
        self.added
            .get(key)
            .copied()
            .or_else(|| if self.cleared { None } else { self.shared.lock().owners.get(key).copied() })
    }

    /// Adds to `owners` the pending owners of `wanted` in workspace `ws`.
    pub(crate) async fn owners<'a>(
        &mut self,
        conn: &mut SqliteConnection,
        ws: i64,
        wanted: impl Iterator<Item = (IdentityKind, &'a str)>,
        owners: &mut HashMap<(IdentityKind, String), i64>,
    ) -> Result<(), StoreError> {
        self.sync(conn).await?;
        for (kind, lookup) in wanted {
            if let Some(customer) = self.owner(&(ws, kind, lookup.to_string())) {
                owners.insert((kind, lookup.to_string()), customer);
            }
        }
        Ok(())
    }

    /// Indexes identities of workspace `ws`: `(customer, kind, lookup)`, none owned yet.
    pub(crate) async fn add(
        &mut self,
        conn: &mut SqliteConnection,
        ws: i64,
        rows: &[(i64, IdentityKind, &str)],
    ) -> Result<(), StoreError> {
        self.sync(conn).await?;
        for &(customer, kind, lookup) in rows {
            let key = (ws, kind, lookup.to_string());
            if self.owner(&key).is_some() {
                // What the primary key of `identities` refuses; the caller's unit is retried.
                return Err(StoreError::Conflict(format!("{} identity is already indexed", kind.as_str())));
            }
            self.added.insert(key, customer);
        }
        for chunk in rows.chunks(CHUNK) {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO identities_pending (workspace_id, lookup, kind, customer_id) ",
            );
            query.push_values(chunk, |mut row, (customer, kind, lookup)| {
                row.push_bind(ws).push_bind(lookup.to_string()).push_bind(kind.as_str()).push_bind(*customer);
            });
            query.build().execute(&mut *conn).await.map_err(db_err)?;
        }
        self.final_marks = None;
        Ok(())
    }

    /// Moves every pending row (this process's, another's, this transaction's) into `identities`.
    pub(crate) async fn settle(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        self.sync(conn).await?;
        if self.added.is_empty() && (self.cleared || self.shared.lock().marks == (None, None)) {
            return Ok(());
        }
        // Sorted, so the index's pages are visited in order, each written once.
        sqlx::query(
            "INSERT INTO identities (workspace_id, lookup, kind, customer_id) \
             SELECT workspace_id, lookup, kind, customer_id FROM identities_pending ORDER BY workspace_id, lookup, kind",
        )
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM identities_pending").execute(&mut *conn).await.map_err(db_err)?;
        self.added.clear();
        self.cleared = true;
        self.final_marks = Some((None, None));
        Ok(())
    }

    /// Before the commit: moves the pending rows into the index once there are `flush_at` of them,
    /// and reads the marks the transaction leaves.
    pub(crate) async fn before_commit(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        if self.added.is_empty() {
            return Ok(());
        }
        let pending = self.added.len() + if self.cleared { 0 } else { self.shared.lock().owners.len() };
        if pending >= self.shared.flush_at {
            return self.settle(conn).await;
        }
        self.final_marks = Some(marks(conn).await.map_err(db_err)?);
        Ok(())
    }

    /// After the commit (the caller still holds this process's writer turn): the memory takes the
    /// transaction's changes.
    pub(crate) fn committed(self) {
        let Some(marks) = self.final_marks else { return };
        let mut state = self.shared.lock();
        if self.cleared {
            state.owners.clear();
        }
        state.owners.extend(self.added);
        state.marks = marks;
    }
}
