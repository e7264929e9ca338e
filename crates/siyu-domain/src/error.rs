//! The error every domain service returns; `siyu-web::problem` maps it to HTTP.

use siyu_core::StoreError;
use siyu_core::crypto::CryptoError;

/// One invalid input field and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON-pointer-like path of the field, e.g. `identities[0].value`.
    pub field: String,
    /// Lowercase reason quoting the value.
    pub reason: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }

    /// Returns the error with its field placed under `parent`: `email` under `batch[0].traits` is
    /// `batch[0].traits.email`, `[2]` under `tags` is `tags[2]`, and an empty field names the
    /// parent itself.
    pub fn within(self, parent: &str) -> Self {
        let field = match (parent.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => parent.to_string(),
            (false, false) if self.field.starts_with('[') => format!("{parent}{}", self.field),
            (false, false) => format!("{parent}.{}", self.field),
        };
        Self { field, ..self }
    }
}

/// Says what went wrong for the caller.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input broke one or more rules; nothing was written.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The addressed thing does not exist (in the caller's workspace).
    #[error("{0} not found")]
    NotFound(String),
    /// The write would break a uniqueness rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller lacks the permission named.
    #[error("permission \"{0}\" is required")]
    Forbidden(&'static str),
    /// Credentials are missing or wrong.
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// Too many failed logins; the account is locked until the given time.
    #[error("account locked until {0}")]
    Locked(jiff::Timestamp),
    /// Too many failed logins from the client's network address; it may try again at the given time.
    #[error("too many failed logins from this address; try again after {0}")]
    Throttled(jiff::Timestamp),
    /// A model needs orders and the workspace has none.
    #[error("{}", NO_ORDER_DATA)]
    NoOrderData,
    /// Storage or cryptography failed; details are in the log, not in the answer.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// Shorthand for a single invalid field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, reason)])
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<CryptoError> for DomainError {
    fn from(error: CryptoError) -> Self {
        Self::Internal(error.to_string())
    }
}

/// Result of a domain operation.
pub type DomainResult<T> = Result<T, DomainError>;

/// The answer given for RFM and LTV when the workspace has no orders.
pub const NO_ORDER_DATA: &str =
    "no order data: no customer of this workspace has an \"Order Completed\" event, so there is nothing to score";
