//! siyu's HTTP face: the admin REST API (`/api/v1`, OpenAPI 3.1), the public unsubscribe pages, and
//! the server-rendered bilingual console.
//!
//! Modules, in reading order: [`problem`] (errors → problem+json), [`extract`] (strict JSON, API-key
//! auth), [`api`] (REST handlers and the OpenAPI document), [`public`] (no-login pages),
//! [`console`] (login, customers, tags, keys, users), [`tracking`] (Segment's HTTP Tracking API),
//! [`assets`] (embedded JS/CSS).

pub mod api;
pub mod assets;
pub mod console;
pub mod extract;
pub mod problem;
pub mod public;
pub mod tracking;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use siyu_domain::Services;

/// Largest JSON body the API accepts.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// Largest CSV import body.
pub const IMPORT_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The domain services.
    pub services: Services,
    /// The URL the console and links are served from, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// Whether cookies get the `Secure` attribute (HTTPS deployments).
    pub secure_cookies: bool,
}

/// Builds the whole application router.
pub fn router(state: AppState) -> Router {
    let (api, _) = api::router().split_for_parts();
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .merge(api)
        .merge(public::router())
        .merge(tracking::router())
        .merge(console::router())
        .merge(assets::router())
        .with_state(state)
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}
