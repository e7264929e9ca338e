//! The error every domain service returns; `siyu-web::problem` maps it to HTTP. The kinds every
//! slice shares (invalid input, not found, conflict, forbidden, unauthenticated, internal with its
//! chain of causes) are variants here; a slice's own failures are an enum of the slice (`AccessError`,
//! `ModelError`, re-exported by their slices) that converts into one variant. They are defined here,
//! beside the variant that carries them, so that this module imports no slice; the web layer matches
//! every variant, so a new slice's enum cannot go unmapped.

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
    /// The access slice refused (a locked account, a throttled address).
    #[error(transparent)]
    Access(AccessError),
    /// The models slice cannot answer (no orders).
    #[error(transparent)]
    Models(ModelError),
    /// The campaigns slice refused a customer's action (sold out, a limit reached, a bad token).
    #[error(transparent)]
    Campaigns(CampaignError),
    /// Storage, cryptography or a background task failed; the chain of causes goes to the log
    /// (`siyu-web` logs it with a request id), never into an answer.
    #[error(transparent)]
    Internal(Internal),
}

/// An internal failure: what was being done, and the error that caused it (whose own causes
/// follow through [`std::error::Error::source`]).
#[derive(Debug)]
pub struct Internal {
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal error: {}", self.context)
    }
}

impl std::error::Error for Internal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl DomainError {
    /// Shorthand for a single invalid field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, reason)])
    }

    /// An internal failure with no error behind it (a broken invariant).
    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal(Internal { context: context.into(), source: None })
    }

    /// An internal failure while doing `context`, caused by `source`.
    pub fn internal_from(context: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Internal { context: context.into(), source: Some(Box::new(source)) })
    }

    /// The error and every cause under it, outermost first, joined by `: ` (for logs).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            text.push_str(": ");
            text.push_str(&error.to_string());
            cause = error.source();
        }
        text
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::internal_from("the store failed", other),
        }
    }
}

impl From<CryptoError> for DomainError {
    fn from(error: CryptoError) -> Self {
        Self::internal_from("sealing or opening personal data failed", error)
    }
}

/// The access slice's own failures (`access::AccessError`): why it refused a sign-in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Too many failed logins; the account is locked until the given time.
    #[error("account locked until {0}")]
    Locked(jiff::Timestamp),
    /// Too many failed logins from the client's network address; it may try again at the given time.
    #[error("too many failed logins from this address; try again after {0}")]
    Throttled(jiff::Timestamp),
}

impl From<AccessError> for DomainError {
    fn from(error: AccessError) -> Self {
        Self::Access(error)
    }
}

/// The models slice's own failures (`models::ModelError`): why a model cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A model needs orders and the workspace has none.
    #[error("{}", NO_ORDER_DATA)]
    NoOrderData,
}

impl From<ModelError> for DomainError {
    fn from(error: ModelError) -> Self {
        Self::Models(error)
    }
}

/// The campaigns slice's own failures (`campaigns::CampaignError`): why a customer's action on a
/// campaign was refused. Each is counted where the action is (a sale's refusals, the limits').
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    /// No customer token, or one not shaped or not signed as siyu makes them.
    #[error("the customer token is missing, malformed or not signed by this siyu")]
    TokenInvalid,
    /// The customer token expired at the given time.
    #[error("the customer token expired at {0}")]
    TokenExpired(jiff::Timestamp),
    /// Too many requests from this customer or address; try again after the given milliseconds.
    #[error("too many requests; try again in {0} ms")]
    RateLimited(u64),
    /// The sale has not opened yet.
    #[error("the sale opens at {0}")]
    NotStarted(jiff::Timestamp),
    /// The sale has closed.
    #[error("the sale closed at {0}")]
    Ended(jiff::Timestamp),
    /// Every unit is taken.
    #[error("sold out")]
    SoldOut,
    /// The customer made as many purchases as the sale allows.
    #[error("you have already bought the most this sale allows ({0})")]
    LimitReached(i64),
    /// The customer is not among those the sale is for.
    #[error("this sale is for the members of segment \"{0}\" only")]
    NotEligible(String),
    /// Too many purchases are being decided at once; try again shortly.
    #[error("the sale is busy; try again in a moment")]
    Busy,
    /// No coupon of this workspace has this code.
    #[error("no coupon has this code")]
    CouponNotFound,
    /// The coupon's window has not opened.
    #[error("the coupon may be used from {0}")]
    CouponNotYetValid(jiff::Timestamp),
    /// The coupon's window closed.
    #[error("the coupon expired at {0}")]
    CouponExpired(jiff::Timestamp),
    /// The coupon was used on another order.
    #[error("the coupon was already used on another order")]
    CouponRedeemed,
    /// The order already used another coupon.
    #[error("order \"{0}\" already used another coupon")]
    OrderUsed(String),
    /// The order's amount is under the coupon's least (in fen).
    #[error("the order must come to at least {0} fen for this coupon")]
    ThresholdNotMet(i64),
    /// The coupon is not for this channel.
    #[error("the coupon may not be used on channel \"{0}\"")]
    WrongChannel(String),
    /// The coupon is not for this store.
    #[error("the coupon may not be used in store \"{0}\"")]
    WrongStore(String),
    /// The coupon belongs to another customer.
    #[error("the coupon belongs to another customer")]
    NotYours,
    /// Every coupon of the template has been issued.
    #[error("no coupon of this kind is left")]
    OutOfStock,
    /// The customer claimed as many as the template allows.
    #[error("you have already claimed the most this coupon allows ({0})")]
    ClaimLimitReached(i64),
    /// Customers may not claim this coupon themselves.
    #[error("this coupon cannot be claimed")]
    NotClaimable,
    /// The customer has drawn as many times today as the lottery allows.
    #[error("no draw left today ({0} a day); come back tomorrow")]
    DailyDrawLimit(i64),
    /// The customer has used every draw and extra chance.
    #[error("no draw left; invite friends or check in for more chances")]
    NoDrawsLeft,
    /// The customer checked in on that day already.
    #[error("already checked in on {0}")]
    AlreadyCheckedIn(String),
    /// The customer has used every make-up card the activity allows.
    #[error("no make-up card left (the activity allows {0})")]
    NoMakeupCards(i64),
    /// Every place in the group is taken.
    #[error("the group is full")]
    GroupFull,
    /// The group's time ran out.
    #[error("the group's time ran out at {0}")]
    GroupExpired(jiff::Timestamp),
    /// The customer is in this group already.
    #[error("you are in this group already")]
    AlreadyInGroup,
    /// The customer made every attempt the quiz allows.
    #[error("no attempt left (the quiz allows {0})")]
    NoAttemptsLeft(i64),
    /// The attempt's answers were taken already.
    #[error("this attempt was submitted already")]
    AlreadySubmitted,
    /// The attempt's time ran out.
    #[error("the attempt's time ran out at {0}")]
    AttemptExpired(jiff::Timestamp),
}

impl CampaignError {
    /// The refusal's short name, as counted and as its problem type says.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TokenInvalid => "customer-token-invalid",
            Self::TokenExpired(_) => "customer-token-expired",
            Self::RateLimited(_) => "rate-limited",
            Self::NotStarted(_) => "not-started",
            Self::Ended(_) => "ended",
            Self::SoldOut => "sold-out",
            Self::LimitReached(_) => "purchase-limit-reached",
            Self::NotEligible(_) => "not-eligible",
            Self::Busy => "busy",
            Self::CouponNotFound => "coupon-not-found",
            Self::CouponNotYetValid(_) => "coupon-not-yet-valid",
            Self::CouponExpired(_) => "coupon-expired",
            Self::CouponRedeemed => "coupon-already-redeemed",
            Self::OrderUsed(_) => "order-already-used",
            Self::ThresholdNotMet(_) => "threshold-not-met",
            Self::WrongChannel(_) => "coupon-wrong-channel",
            Self::WrongStore(_) => "coupon-wrong-store",
            Self::NotYours => "coupon-not-yours",
            Self::OutOfStock => "out-of-stock",
            Self::ClaimLimitReached(_) => "claim-limit-reached",
            Self::NotClaimable => "not-claimable",
            Self::DailyDrawLimit(_) => "daily-draw-limit",
            Self::NoDrawsLeft => "no-draws-left",
            Self::AlreadyCheckedIn(_) => "already-checked-in",
            Self::NoMakeupCards(_) => "no-makeup-cards",
            Self::GroupFull => "group-full",
            Self::GroupExpired(_) => "group-expired",
            Self::AlreadyInGroup => "already-in-group",
            Self::NoAttemptsLeft(_) => "no-attempts-left",
            Self::AlreadySubmitted => "already-submitted",
            Self::AttemptExpired(_) => "attempt-expired",
        }
    }
}

impl From<CampaignError> for DomainError {
    fn from(error: CampaignError) -> Self {
        Self::Campaigns(error)
    }
}

/// Result of a domain operation.
pub type DomainResult<T> = Result<T, DomainError>;

/// The answer given for RFM and LTV when the workspace has no orders.
pub const NO_ORDER_DATA: &str =
    "no order data: no customer of this workspace has an \"Order Completed\" event, so there is nothing to score";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_causes_for_the_log_and_shows_only_its_context() {
        let store = StoreError::Backend("disk I/O error".into());
        let error = DomainError::from(store);
        assert_eq!(error.to_string(), "internal error: the store failed");
        assert_eq!(error.chain(), "internal error: the store failed: database error: disk I/O error");
        let parsed = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let error = DomainError::internal_from("stored model settings are unreadable", parsed);
        assert!(
            error.chain().starts_with("internal error: stored model settings are unreadable: "),
            "{}",
            error.chain()
        );
        assert!(error.chain().contains("EOF"), "{}", error.chain());
    }
}
