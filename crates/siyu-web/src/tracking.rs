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
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::{Permission, Principal};
use siyu_domain::events::tracking::{MAX_BATCH_BYTES, MAX_MESSAGE_BYTES};
use siyu_domain::events::{Envelope, EventKind, new_message_id, parse_batch_message, parse_message};

/// The Tracking API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(track, identify, page, screen, group, alias, batch),
    components(schemas(TrackingMessageDoc, BatchDoc, TrackingAnswer))
)]
pub struct TrackingDoc;

/// A Segment message (fields by type; see docs/EVENTS.md).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct TrackingMessageDoc {
    /// In a batch: `track`, `identify`, `page`, `screen`, `group` or `alias`.
    r#type: Option<String>,
    /// The brand's id for the user; this or `anonymousId` is required.
    #[schema(rename = "userId")]
    user_id: Option<String>,
    /// A device or browser id.
    #[schema(rename = "anonymousId")]
    anonymous_id: Option<String>,
    /// track: the event name.
    event: Option<String>,
    /// track, page, screen: properties; `revenue`, `total`, `value`, `price` must be numbers.
    #[schema(value_type = Object)]
    properties: Option<serde_json::Value>,
    /// identify, group: traits.
    #[schema(value_type = Object)]
    traits: Option<serde_json::Value>,
    /// page, screen: the page or screen name.
    name: Option<String>,
    /// group: the group id.
    #[schema(rename = "groupId")]
    group_id: Option<String>,
    /// alias: the earlier id.
    #[schema(rename = "previousId")]
    previous_id: Option<String>,
    /// When it happened (ISO 8601).
    timestamp: Option<String>,
    /// When the device sent it, by its own clock (corrects `timestamp`).
    #[schema(rename = "sentAt")]
    sent_at: Option<String>,
    /// De-duplication key (24 hours).
    #[schema(rename = "messageId")]
    message_id: Option<String>,
    /// Context: ip, userAgent, library, campaign, page, …
    #[schema(value_type = Object)]
    context: Option<serde_json::Value>,
    /// The write key, when not sent as the Basic-auth user name.
    #[schema(rename = "writeKey")]
    write_key: Option<String>,
}

/// A batch of messages (at most 500 KB).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct BatchDoc {
    /// The messages, each with a `type`.
    batch: Vec<TrackingMessageDoc>,
    /// Context shared by the messages (theirs wins).
    #[schema(value_type = Object)]
    context: Option<serde_json::Value>,
    /// When the batch was sent, by the device's clock.
    #[schema(rename = "sentAt")]
    sent_at: Option<String>,
    /// The write key, when not sent as the Basic-auth user name.
    #[schema(rename = "writeKey")]
    write_key: Option<String>,
}

/// What became of the messages.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct TrackingAnswer {
    /// Always true on a 200.
    success: bool,
    /// Messages stored durably.
    accepted: usize,
    /// Messages already stored in the last 24 hours (by `messageId`).
    duplicates: usize,
    /// Refused messages with their index and errors (batch only).
    rejected: Vec<siyu_domain::events::RejectedMessage>,
}

// rustfmt re-indents the attribute inside this macro on every run, so it is left as written.
#[rustfmt::skip]
macro_rules! message_endpoint {
    ($name:ident, $path:literal, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "tracking",
            request_body(content = TrackingMessageDoc, content_type = "application/json"),
            security(("write_key" = [])),
            responses((status = 200, body = TrackingAnswer), (status = 401, body = Problem),
                (status = 413, body = Problem), (status = 422, body = Problem)))]
        async fn $name(state: State<AppState>, peer: Option<Peer>, headers: HeaderMap, body: Body) -> Response {
            single(state, peer, headers, body, $kind).await
        }
    };
}

message_endpoint!(track, "/v1/track", EventKind::Track, "POST /v1/track (also /v1/t): records an action.");
message_endpoint!(
    identify,
    "/v1/identify",
    EventKind::Identify,
    "POST /v1/identify (also /v1/i): sets traits; links ids."
);
message_endpoint!(page, "/v1/page", EventKind::Page, "POST /v1/page (also /v1/p): records a page view.");
message_endpoint!(screen, "/v1/screen", EventKind::Screen, "POST /v1/screen (also /v1/s): records a screen view.");
message_endpoint!(group, "/v1/group", EventKind::Group, "POST /v1/group (also /v1/g): records a group membership.");
message_endpoint!(alias, "/v1/alias", EventKind::Alias, "POST /v1/alias (also /v1/a): merges two ids of one user.");

/// The Tracking API routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/track", post(track))
        .route("/v1/t", post(track))
        .route("/v1/identify", post(identify))
        .route("/v1/i", post(identify))
        .route("/v1/page", post(page))
        .route("/v1/p", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/s", post(screen))
        .route("/v1/group", post(group))
        .route("/v1/g", post(group))
        .route("/v1/alias", post(alias))
        .route("/v1/a", post(alias))
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

/// The write key from `Authorization: Basic base64(key:)`, if the header names one.
fn header_write_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
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
    Ok(Some(key).filter(|k| !k.is_empty()))
}

fn unauthenticated(why: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", why)
}

/// Authenticates a write key and checks that its role may write events.
async fn authorize(state: &AppState, key: &str) -> Result<Principal, Problem> {
    let (_, principal) = state.services.access.authenticate_key(key, KeyKind::Write).await?;
    principal.require(Permission::EventsWrite)?;
    Ok(principal)
}

/// The principal of a write key sent in the header, checked before the body is parsed, so a
/// sender without the permission learns nothing about its input; `None` when the key is expected
/// in the body instead.
async fn header_principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, Problem> {
    match header_write_key(headers)? {
        Some(key) => Ok(Some(authorize(state, &key).await?)),
        None => Ok(None),
    }
}

/// A body that cannot be read is a 400 for a sender the header authenticated; without a header
/// key it is a 401, since the key it may have carried cannot be read either.
fn unreadable(checked: &Option<Principal>, problem: Problem) -> Problem {
    if checked.is_some() {
        return problem;
    }
    unauthenticated(&format!(
        "missing write key; send it as the Basic-auth user name or as \"writeKey\" in a readable body ({})",
        problem.detail
    ))
}

/// The principal of the header's key, else of the body's `writeKey`.
async fn body_principal(
    state: &AppState,
    checked: Option<Principal>,
    body_key: Option<&str>,
) -> Result<Principal, Problem> {
    if let Some(principal) = checked {
        return Ok(principal);
    }
    let key = body_key.filter(|k| !k.is_empty()).ok_or_else(|| {
        unauthenticated("missing write key; send it as the Basic-auth user name or as \"writeKey\" in the body")
    })?;
    authorize(state, key).await
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

/// A request body, or why axum could not buffer it (too large, broken gzip).
type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The connection's peer address (present when the server keeps connect info).
type Peer = axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>;

/// The sender's address as Segment records it in `context.ip`: the first `X-Forwarded-For` hop (or
/// `X-Real-IP`) behind a proxy, else the connection's peer.
fn client_ip(headers: &HeaderMap, peer: Option<&Peer>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-forwarded-for")
        .and_then(|v| v.split(',').next())
        .or_else(|| header("x-real-ip"))
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
        .or_else(|| peer.map(|p| p.0.0.ip().to_string()))
}

fn envelope(
    state: &AppState,
    ip: Option<String>,
    sent_at: Option<&Value>,
    context: Option<&Value>,
) -> Result<Envelope, Problem> {
    let received_us = state.services.now().as_microsecond();
    let sent_at_us = match sent_at {
        None | Some(Value::Null) => None,
        // The batch's sentAt is held to the range of every instant field (docs/EVENTS.md).
        Some(Value::String(text)) => Some(
            siyu_domain::events::tracking::parse_instant(text, received_us)
                .map_err(|reason| Problem::malformed("sentAt", reason))?,
        ),
        Some(other) => return Err(Problem::malformed("sentAt", format!("must be an ISO 8601 string, not {other}"))),
    };
    let context = match context {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => return Err(Problem::malformed("context", format!("must be an object, not {other}"))),
    };
    let mut context = context;
    if let Some(ip) = ip
        && !context.contains_key("ip")
    {
        // Under each message's own context: a client that names its ip keeps it.
        context.insert("ip".into(), Value::String(ip));
    }
    Ok(Envelope { received_us, sent_at_us, context, reads_customer_id: false })
}

/// The body as sent, or a problem naming why it cannot be read: too large, or not valid gzip.
fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Problem> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                format!("a request may be at most {MAX_BATCH_BYTES} bytes (after decompression)"),
            );
        }
        let gzip = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let reason = rejection.body_text();
        let reason = reason.strip_prefix("Failed to buffer the request body: ").unwrap_or(&reason);
        if gzip {
            Problem::malformed("body", format!("is not valid gzip: {reason}"))
        } else {
            Problem::malformed("body", format!("cannot be read: {reason}"))
        }
    })
}

fn body_text(body: &Bytes) -> Result<&str, Problem> {
    std::str::from_utf8(body).map_err(|_| Problem::malformed("body", "the body is not UTF-8 JSON"))
}

async fn single(
    State(state): State<AppState>,
    peer: Option<Peer>,
    headers: HeaderMap,
    body: Body,
    kind: EventKind,
) -> Response {
    let body = match read_body(&headers, body) {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match single_inner(&state, peer.as_ref(), &headers, &body, kind).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn single_inner(
    state: &AppState,
    peer: Option<&Peer>,
    headers: &HeaderMap,
    body: &Bytes,
    kind: EventKind,
) -> Result<Response, Problem> {
    let checked = header_principal(state, headers).await?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("a message may be at most {MAX_MESSAGE_BYTES} bytes; send larger volumes through /v1/batch"),
        ));
    }
    let text = body_text(body).map_err(|problem| unreadable(&checked, problem))?;
    let raw: Map<String, Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(unreadable(&checked, Problem::malformed("body", "must be a JSON object"))),
        Err(e) => return Err(unreadable(&checked, Problem::malformed("body", e.to_string()))),
    };
    let principal = body_principal(state, checked, raw.get("writeKey").and_then(Value::as_str)).await?;
    let envelope = envelope(state, client_ip(headers, peer), None, None)?;
    let message = parse_message(raw, Some(kind), &envelope, "", new_message_id);
    if let Err(errors) = message {
        return Err(Problem::invalid(errors));
    }
    let outcome = state.services.events.ingest(&principal, vec![message], envelope.received_us).await?;
    if let Some(rejected) = outcome.rejected.into_iter().next() {
        return Err(Problem::invalid(rejected.errors));
    }
    Ok((
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"success": true, "accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": []}),
        ),
    )
        .into_response())
}

/// POST /v1/batch (also /v1/b, /v1/import): records many messages; each bad one is refused on its own.
#[utoipa::path(post, path = "/v1/batch", tag = "tracking",
    request_body(content = BatchDoc, content_type = "application/json"),
    security(("write_key" = [])),
    responses((status = 200, body = TrackingAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn batch(State(state): State<AppState>, peer: Option<Peer>, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(&headers, body) {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match batch_inner(&state, peer.as_ref(), &headers, &body).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn batch_inner(
    state: &AppState,
    peer: Option<&Peer>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Problem> {
    let checked = header_principal(state, headers).await?;
    let text = body_text(body).map_err(|problem| unreadable(&checked, problem))?;
    // serde would also read the batch's fields from an array in their order.
    if !text.trim_start().starts_with('{') {
        return Err(unreadable(&checked, Problem::malformed("body", "expected a JSON object with a \"batch\" array")));
    }
    let parsed: BatchBody<'_> =
        serde_json::from_str(text).map_err(|e| unreadable(&checked, Problem::malformed("body", e.to_string())))?;
    let principal = body_principal(state, checked, parsed.write_key.as_deref()).await?;
    let items = parsed.batch.ok_or_else(|| Problem::malformed("batch", "is required: an array of messages"))?;
    let envelope = envelope(state, client_ip(headers, peer), parsed.sent_at.as_ref(), parsed.context.as_ref())?;
    // Each message is checked on its own, its fields named relative to it; every error is then
    // placed under the message's position (`batch[3].traits.email`) in one place.
    let messages: Vec<_> = items
        .iter()
        .map(|raw| {
            if raw.get().len() > MAX_MESSAGE_BYTES {
                return Err(vec![FieldError::new(
                    "",
                    format!("is {} bytes; a message may be at most {MAX_MESSAGE_BYTES}", raw.get().len()),
                )]);
            }
            parse_batch_message(raw.get(), &envelope, new_message_id)
        })
        .collect();
    let total = messages.len();
    let mut outcome = state.services.events.ingest(&principal, messages, envelope.received_us).await?;
    for rejected in &mut outcome.rejected {
        let parent = format!("batch[{}]", rejected.index);
        rejected.errors = std::mem::take(&mut rejected.errors).into_iter().map(|e| e.within(&parent)).collect();
    }
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
