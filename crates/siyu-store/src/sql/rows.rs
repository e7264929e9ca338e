// Row decoding and error mapping shared by both backends (included into `sqlite` and `postgres`).

use async_trait::async_trait;
use siyu_core::clock::{from_millis, to_millis};
use siyu_core::{ApiKeyId, CustomerId, InvitationId, NoteId, Page, PageRequest, TagGroupId, TagId, UserId, WorkspaceId};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A write transaction, holding this process's turn to write where the backend has one writer.
struct WriteTx {
    tx: sqlx::Transaction<'static, Db>,
    /// The transaction's part in the identity index (see `index_identities`).
    index: IndexTx,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits; the identity index's memory (if the backend keeps one) takes the changes after,
    /// while this process's turn to write is still held.
    async fn commit(mut self) -> Result<(), StoreError> {
        finish_index(&mut self).await?;
        let WriteTx { tx, index, _turn } = self;
        tx.commit().await.map_err(db_err)?;
        index_committed(index);
        Ok(())
    }

    /// Rolls back now (dropping a transaction rolls back too, but later: its row locks would
    /// outlive the answer).
    async fn rollback(self) -> Result<(), StoreError> {
        let WriteTx { tx, .. } = self;
        tx.rollback().await.map_err(db_err)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = <Db as sqlx::Database>::Connection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

fn db_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(db.message().to_string()),
        _ => StoreError::Backend(error.to_string()),
    }
}

fn ts(row: &<Db as sqlx::Database>::Row, column: &str) -> Result<jiff::Timestamp, StoreError> {
    row.try_get::<i64, _>(column).map(from_millis).map_err(db_err)
}

fn opt_ts(row: &<Db as sqlx::Database>::Row, column: &str) -> Result<Option<jiff::Timestamp>, StoreError> {
    row.try_get::<Option<i64>, _>(column).map(|v| v.map(from_millis)).map_err(db_err)
}

fn get<'r, T>(row: &'r <Db as sqlx::Database>::Row, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get::<T, _>(column).map_err(db_err)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} \"{value}\""))
}

fn millis(at: jiff::Timestamp) -> i64 {
    to_millis(at)
}

/// Hands one store to every domain trait.
fn stores(store: SqlStore, events: std::sync::Arc<dyn siyu_domain::events::EventStore>) -> siyu_domain::Stores {
    let store = std::sync::Arc::new(store);
    siyu_domain::Stores {
        workspaces: store.clone(),
        users: store.clone(),
        api_keys: store.clone(),
        customers: store.clone(),
        tags: store.clone(),
        consent: store.clone(),
        segments: store.clone(),
        audit: store.clone(),
        jobs: store.clone(),
        messages: store.clone(),
        journeys: store.clone(),
        campaigns: store.clone(),
        coupons: store.clone(),
        lotteries: store.clone(),
        checkins: store.clone(),
        group_buys: store.clone(),
        quizzes: store.clone(),
        maintenance: store,
        events,
    }
}

/// Rows bound per multi-row statement, well under both backends' parameter limits.
const CHUNK: usize = 500;

fn push_id_list(query: &mut sqlx::QueryBuilder<Db>, ids: &[i64]) {
    let mut separated = query.separated(", ");
    for id in ids {
        separated.push_bind(*id);
    }
}
