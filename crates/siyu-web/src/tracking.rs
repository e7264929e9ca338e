//! Segment's HTTP Tracking API (`/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, `/v1/group`,
//! `/v1/alias`, `/v1/batch`, and analytics.js's one-letter aliases), so Segment, RudderStack and
//! Jitsu libraries work unchanged when pointed at siyu. Authenticated by a workspace write key, as
//! the Basic-auth user name or as `writeKey` in the body; bodies may be gzip-compressed.

use crate::AppState;
use crate::problem::Problem;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use siyu_domain::FieldError;
use siyu_domain::api_keys::KeyKind;
use siyu_domain::events::segment::{MAX_BATCH_BYTES, MAX_MESSAGE_BYTES};
use siyu_domain::events::{Envelope, EventKind, parse_message};

/// The Tracking API routes.
pub fn router() -> Router<AppState> {
    let one = |kind: EventKind| {
        post(move |state: State<AppState>, headers: HeaderMap, body: Bytes| single(state, headers, body, kind))
    };
    Router::new()
        .route("/v1/track", one(EventKind::Track))
        .route("/v1/t", one(EventKind::Track))
        .route("/v1/identify", one(EventKind::Identify))
        .route("/v1/i", one(EventKind::Identify))
        .route("/v1/page", one(EventKind::Page))
        .route("/v1/p", one(EventKind::Page))
        .route("/v1/screen", one(EventKind::Screen))
        .route("/v1/s", one(EventKind::Screen))
        .route("/v1/group", one(EventKind::Group))
        .route("/v1/g", one(EventKind::Group))
        .route("/v1/alias", one(EventKind::Alias))
        .route("/v1/a", one(EventKind::Alias))
        .route("/v1/batch", post(batch))
        .route("/v1/b", post(batch))
        .route("/v1/import", post(batch))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BATCH_BYTES))
        .layer(tower_http::decompression::RequestDecompressionLayer::new().gzip(true))
        // Browser SDKs (analytics.js) post from the brand's own sites: any origin may send events,
        // authenticated by the write key, which is meant to be public; no cookies are involved.
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::CONTENT_ENCODING])
                .max_age(std::time::Duration::from_secs(86_400)),
        )
}

/// The write key from `Authorization: Basic base64(key:)`, else from the body's `writeKey`.
fn write_key(headers: &HeaderMap, body: Option<&str>) -> Result<String, Problem> {
    let unauthenticated = |why: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", why);
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .ok_or_else(|| unauthenticated("expected Authorization: Basic base64(<write key>:)"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| unauthenticated("the Basic credentials are not base64 of \"<write key>:\""))?;
        let key = decoded.split(':').next().unwrap_or_default().trim().to_string();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    body.map(str::to_string).filter(|k| !k.is_empty()).ok_or_else(|| {
        unauthenticated("missing write key; send it as the Basic-auth user name or as \"writeKey\" in the body")
    })
}

#[derive(serde::Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    context: Option<Value>,
}

fn envelope(state: &AppState, sent_at: Option<&Value>, context: Option<&Value>) -> Result<Envelope, Problem> {
    let received_us = state.services.now().as_microsecond();
    let sent_at_us = match sent_at {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            text.parse::<jiff::Timestamp>()
                .map_err(|_| Problem::malformed("sentAt", format!("\"{text}\" is not an ISO 8601 instant")))?
                .as_microsecond(),
        ),
        Some(other) => return Err(Problem::malformed("sentAt", format!("must be an ISO 8601 string, not {other}"))),
    };
    let context = match context {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => return Err(Problem::malformed("context", format!("must be an object, not {other}"))),
    };
    Ok(Envelope { received_us, sent_at_us, context })
}

fn new_message_id() -> String {
    let bytes: [u8; 16] = siyu_core::crypto::random_bytes().expect("the thread CSPRNG does not fail");
    format!("siyu-{}", hex::encode(bytes))
}

fn body_text(body: &Bytes) -> Result<&str, Problem> {
    std::str::from_utf8(body).map_err(|_| Problem::malformed("body", "the body is not UTF-8 JSON"))
}

async fn single(State(state): State<AppState>, headers: HeaderMap, body: Bytes, kind: EventKind) -> Response {
    match single_inner(&state, &headers, &body, kind).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn single_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    kind: EventKind,
) -> Result<Response, Problem> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("a message may be at most {MAX_MESSAGE_BYTES} bytes; send larger volumes through /v1/batch"),
        ));
    }
    let raw: Map<String, Value> = match serde_json::from_str::<Value>(body_text(body)?) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Problem::malformed("body", "must be a JSON object")),
        Err(e) => return Err(Problem::malformed("body", e.to_string())),
    };
    let key = write_key(headers, raw.get("writeKey").and_then(Value::as_str))?;
    let (_, principal) = state.services.authenticate_key(&key, KeyKind::Write).await?;
    let envelope = envelope(state, None, None)?;
    let message = parse_message(&raw, Some(kind), &envelope, "", new_message_id);
    if let Err(errors) = message {
        return Err(Problem::invalid(errors));
    }
    let outcome = state.services.ingest(&principal, vec![message], envelope.received_us).await?;
    if let Some(rejected) = outcome.rejected.into_iter().next() {
        return Err(Problem::invalid(rejected.errors));
    }
    Ok((
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"success": true, "accepted": outcome.accepted, "duplicates": outcome.duplicates}),
        ),
    )
        .into_response())
}

async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match batch_inner(&state, &headers, &body).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn batch_inner(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Result<Response, Problem> {
    let parsed: BatchBody<'_> =
        serde_json::from_str(body_text(body)?).map_err(|e| Problem::malformed("body", e.to_string()))?;
    let key = write_key(headers, parsed.write_key.as_deref())?;
    let (_, principal) = state.services.authenticate_key(&key, KeyKind::Write).await?;
    let items = parsed.batch.ok_or_else(|| Problem::malformed("batch", "is required: an array of messages"))?;
    let envelope = envelope(state, parsed.sent_at.as_ref(), parsed.context.as_ref())?;
    let messages: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let prefix = format!("batch[{i}].");
            if raw.get().len() > MAX_MESSAGE_BYTES {
                return Err(vec![FieldError::new(
                    format!("batch[{i}]"),
                    format!("is {} bytes; a message may be at most {MAX_MESSAGE_BYTES}", raw.get().len()),
                )]);
            }
            match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::Object(map)) => parse_message(&map, None, &envelope, &prefix, new_message_id),
                Ok(_) => Err(vec![FieldError::new(format!("batch[{i}]"), "must be a JSON object")]),
                Err(e) => Err(vec![FieldError::new(format!("batch[{i}]"), e.to_string())]),
            }
        })
        .collect();
    let total = messages.len();
    let outcome = state.services.ingest(&principal, messages, envelope.received_us).await?;
    if total > 0 && outcome.rejected.len() == total {
        return Err(Problem::invalid(outcome.rejected.into_iter().flat_map(|r| r.errors).collect()));
    }
    let body = serde_json::json!({
        "success": true,
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "rejected": outcome.rejected,
    });
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
