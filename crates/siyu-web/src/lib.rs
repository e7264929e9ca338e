//! siyu's HTTP face: the admin REST API (`/api/v1`, OpenAPI 3.1), the public unsubscribe pages, and
//! the server-rendered bilingual console.
//!
//! Modules, in reading order: [`problem`] (errors → problem+json), [`extract`] (strict JSON, API-key
//! auth), [`api`] (REST handlers and the OpenAPI document), [`public`] (no-login pages),
//! [`console`] (login, customers, tags, keys, users), [`tracking`] (Segment's HTTP Tracking API),
//! [`customer_api`] (what end customers do in campaigns, with a customer token),
//! [`callbacks`] (providers' signed callbacks to channels),
//! [`assets`] (embedded JS/CSS).

pub mod api;
pub mod assets;
pub mod callbacks;
pub mod console;
pub mod customer_api;
pub mod extract;
pub mod problem;
pub mod public;
pub mod tracking;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use siyu_domain::Services;

/// Largest JSON body the API accepts.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// Largest CSV import body.
pub const IMPORT_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// Shared state of every handler: one pointer, so that each request's copies of it (axum clones
/// the state for every extractor and middleware) touch one counter, not one per service.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<AppParts>);

impl AppState {
    /// The state over its parts.
    pub fn new(parts: AppParts) -> Self {
        Self(std::sync::Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What every handler shares.
pub struct AppParts {
    /// The domain services.
    pub services: Services,
    /// The background workers' statuses (shown by `/healthz`).
    pub workers: siyu_domain::jobs::WorkerStatuses,
    /// The URL the console and links are served from, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// Whether cookies get the `Secure` attribute (HTTPS deployments).
    pub secure_cookies: bool,
}

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let (api, _) = api::router().split_for_parts();
    // A route layer runs after routing, so the middleware sees which route matched.
    let api = api.route_layer(axum::middleware::from_fn_with_state(state.clone(), api::authorize));
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .merge(api)
        .merge(public::router())
        .merge(tracking::router())
        .merge(customer_api::router())
        .merge(callbacks::router())
        .merge(console::router())
        .merge(assets::router())
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
        .layer(axum::middleware::from_fn(problem::api_errors_as_problems))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Headers every response carries unless its handler chose stricter ones (console pages set their
/// own policy): no MIME sniffing, no framing by other sites, no URLs leaked to them, and a content
/// policy that allows only siyu's own scripts (the API viewer's icons are `data:` images).
const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    ),
];

/// Middleware: adds [`SECURITY_HEADERS`] to every response (pages, API answers, assets, errors).
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(name, axum::http::HeaderValue::from_static(value));
        }
    }
    response
}

/// GET /healthz: 200 with `{"status": "ok", "workers": [...]}`, each background worker's name,
/// state (`working`, `idle`, `backing_off`…), rounds, failures in a row and next due time. Errors'
/// texts stay out: the endpoint needs no credentials.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let workers: Vec<serde_json::Value> = state
        .workers
        .all()
        .into_iter()
        .map(|w| {
            serde_json::json!({"name": w.name, "state": w.state, "runs": w.runs, "failures": w.failures,
                "next_due": w.next_due})
        })
        .collect();
    (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "workers": workers})))
}
