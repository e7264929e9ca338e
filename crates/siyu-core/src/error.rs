//! The error every store method returns.

/// Says why a store method failed, in terms a service can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the payload names the constraint or value.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The addressed row does not exist in the caller's workspace.
    #[error("not found: {0}")]
    NotFound(String),
    /// Stored data could not be decoded (a bug or tampering).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Backend(String),
}
