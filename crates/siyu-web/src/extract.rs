//! Request extractors: strict JSON bodies and API-key authentication, each failing with a
//! problem+json that names the field; and the shared page-parameter parser.

use crate::AppState;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use siyu_domain::access::Principal;
use siyu_domain::api_keys::KeyKind;

/// A JSON body deserialised strictly: wrong types, unknown fields and malformed JSON are 400s naming
/// the field; a body over the limit is a 413; a non-JSON content type is a 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "the body exceeds the size limit")
            } else {
                Problem::malformed("body", rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises JSON, naming the path of the first offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // The plain parser is about twice as fast; the path-tracking one only runs to explain a failure.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        // serde's messages end with " at line L column C"; keep them, they help with big bodies.
        let inner = error.into_inner();
        // A syntax error has no meaningful path ("?" or "."): the body as a whole is at fault.
        let field = if inner.is_syntax() || inner.is_eof() || path == "." || path.contains('?') {
            "body".to_string()
        } else {
            path
        };
        Problem::malformed(field, inner.to_string())
    })
}

/// The principal of a request authenticated with a secret API key (`Authorization: Bearer …`).
pub struct ApiAuth(pub Principal);

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing Authorization header; send Authorization: Bearer <secret key>",
            )
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "expected a Bearer token"))?;
        let (_, principal) = state.services.authenticate_key(token, KeyKind::Secret).await?;
        Ok(ApiAuth(principal))
    }
}

/// Applies a `limit` or `cursor` query parameter to a page request; returns `Ok(false)` for any
/// other parameter so the caller can handle (or reject) it.
pub fn page_param(page: &mut siyu_core::PageRequest, key: &str, value: &str) -> Result<bool, Problem> {
    use siyu_core::PageRequest;
    match key {
        "limit" => {
            page.limit =
                value.parse().ok().filter(|l| (1..=PageRequest::MAX_LIMIT).contains(l)).ok_or_else(|| {
                    Problem::malformed("limit", format!("\"{value}\" must be a number from 1 to 1000"))
                })?;
            Ok(true)
        }
        "cursor" => {
            let after = PageRequest::decode_cursor(value)
                .ok_or_else(|| Problem::malformed("cursor", format!("\"{value}\" is not a cursor from this API")))?;
            page.after = Some(after);
            Ok(true)
        }
        _ => Ok(false),
    }
}
