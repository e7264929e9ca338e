//! The one place that maps errors to HTTP: `application/problem+json` bodies (RFC 9457) naming the
//! offending fields, and a request id (never the cause) on server errors.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use siyu_domain::access::AccessError;
use siyu_domain::campaigns::CampaignError;
use siyu_domain::models::ModelError;
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
    /// Seconds to wait before trying again, sent as `Retry-After` (a rate limit, a busy sale).
    #[serde(skip)]
    pub retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// The problem a campaign's refusal is: each its own type, so a customer's page can say it in
    /// the customer's language.
    pub fn campaign(error: &CampaignError) -> Self {
        let status = match error {
            CampaignError::TokenInvalid | CampaignError::TokenExpired(_) => StatusCode::UNAUTHORIZED,
            CampaignError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            CampaignError::NotEligible(_) | CampaignError::NotYours | CampaignError::NotClaimable => {
                StatusCode::FORBIDDEN
            }
            CampaignError::CouponNotFound => StatusCode::NOT_FOUND,
            CampaignError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            CampaignError::ThresholdNotMet(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::CONFLICT,
        };
        let slug = error.reason();
        let retry_after = match error {
            CampaignError::RateLimited(ms) => Some(ms.div_ceil(1000).max(1)),
            CampaignError::Busy => Some(1),
            _ => None,
        };
        Self { retry_after, ..Self::new(status, slug, error.to_string()) }
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
            DomainError::Access(AccessError::Locked(until)) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "account-locked",
                format!("too many failed logins; try again after {until}"),
            ),
            DomainError::Access(AccessError::Throttled(until)) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                format!("too many failed logins from this address; try again after {until}"),
            ),
            DomainError::Models(ModelError::NoOrderData) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no-order-data", siyu_domain::models::NO_ORDER_DATA)
            }
            DomainError::Campaigns(error) => Self::campaign(&error),
            error @ DomainError::Internal(_) => Self::internal(&error.chain()),
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
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Returns whether `path` belongs to the admin API (`/api/…`), the Tracking API (`/v1/…`), the
/// customer API (`/c/…`) or the providers' callbacks (`/callbacks/…`), whose errors are all
/// problem+json.
pub fn is_api_path(path: &str) -> bool {
    ["/api", "/v1", "/c", "/callbacks"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// Middleware: turns every error response of an API path that is not problem+json yet — axum's
/// extractor rejections (path, query, body), unknown routes, wrong methods, the decompression
/// layer's refusals — into one with the same status, so no handler has to remember it. Console
/// pages keep their HTML errors.
pub async fn api_errors_as_problems(request: Request, next: Next) -> Response {
    if !is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let encoding = request.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Rejection texts are short; a longer body is not worth quoting.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let problem = match status {
        StatusCode::BAD_REQUEST => {
            // axum names the part it could not read; the field says which part of the request it was.
            let field = if text.contains("query string") {
                "query"
            } else if text.starts_with("Invalid URL") || text.contains("path") {
                "path"
            } else {
                "body"
            };
            Problem::malformed(field, lowercase_first(if text.is_empty() { "the request is malformed" } else { &text }))
        }
        StatusCode::NOT_FOUND => Problem::new(status, "not-found", format!("no route matches \"{path}\"")),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            format!(
                "method \"{method}\" is not allowed on \"{path}\"; allowed: {}",
                if allow.is_empty() { "none" } else { &allow }
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(status, "body-too-large", "the body exceeds the size limit of this route")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => match encoding.filter(|e| !matches!(e.trim(), "gzip" | "identity")) {
            Some(encoding) => Problem::new(
                status,
                "unsupported-media-type",
                format!("Content-Encoding \"{encoding}\" is not supported; send gzip or an uncompressed body"),
            ),
            None => Problem::new(status, "unsupported-media-type", "the body's media type is not supported here"),
        },
        status if status.is_server_error() => Problem::internal(&text),
        status => Problem::new(
            status,
            "error",
            if text.is_empty() {
                lowercase_first(status.canonical_reason().unwrap_or("error"))
            } else {
                lowercase_first(&text)
            },
        ),
    };
    let mut answer = problem.into_response();
    // Keep what the original answer told the client about methods and cross-origin use.
    for (name, value) in &parts.headers {
        if name == header::ALLOW || name.as_str().starts_with("access-control-") || name == header::VARY {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
