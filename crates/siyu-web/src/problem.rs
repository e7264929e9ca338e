//! The one place that maps errors to HTTP: `application/problem+json` bodies (RFC 9457) naming the
//! offending fields, and a request id (never the cause) on server errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use siyu_domain::{DomainError, FieldError};

/// A problem+json response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened in this occurrence.
    pub detail: String,
    /// The offending fields, when input was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// Builds a problem with a status, a type slug and a detail.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://siyu.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 422 naming invalid fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.reason),
            many => format!("{} fields are invalid", many.len()),
        };
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", detail) }
    }

    /// A 400 naming the fields of a query that cannot be answered (an unknown event or property, a
    /// parameter out of range); other errors map as usual.
    pub fn bad_query(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => {
                Self { status: StatusCode::BAD_REQUEST.as_u16(), title: "Bad Request".into(), ..Self::invalid(errors) }
            }
            other => other.into(),
        }
    }

    /// A 400 for a body that could not be read as the expected JSON.
    pub fn malformed(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let error = FieldError::new(field, reason);
        Self {
            detail: format!("{}: {}", error.field, error.reason),
            errors: vec![error],
            ..Self::new(StatusCode::BAD_REQUEST, "malformed-body", "")
        }
    }

    /// A 500 that names only a request id; the cause goes to the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let request_id = siyu_core::crypto::random_bytes::<8>().map(hex::encode).unwrap_or_default();
        tracing::error!(request_id, %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error; request id {request_id}"))
    }
}

impl From<DomainError> for Problem {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => Self::invalid(errors),
            DomainError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found")),
            DomainError::Conflict(what) => Self::new(StatusCode::CONFLICT, "conflict", what),
            DomainError::Forbidden(permission) => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("your role lacks the \"{permission}\" permission"),
            ),
            DomainError::Unauthenticated(why) => Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", why),
            DomainError::Locked(until) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "account-locked",
                format!("too many failed logins; try again after {until}"),
            ),
            DomainError::Throttled(until) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                format!("too many failed logins from this address; try again after {until}"),
            ),
            DomainError::NoOrderData => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no-order-data", siyu_domain::models::NO_ORDER_DATA)
            }
            DomainError::Internal(cause) => Self::internal(&cause),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
