//! The admin REST API under `/api/v1`: every route authenticates a secret key, checks the role's
//! permission in the service it calls, and answers JSON or problem+json. The OpenAPI document is
//! generated from these handlers, so it cannot drift.

mod admin;
mod analytics;
mod customers;
mod models;
mod segments;
mod tags;

use crate::AppState;
use crate::problem::Problem;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "siyu admin API", description = "Customer profiles, identities, tags, consent, keys, users and analytics of one workspace. Authenticate with `Authorization: Bearer <secret key>`; the Segment-compatible Tracking API (`/v1/*`) takes a write key instead. Errors are application/problem+json (RFC 9457)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("siyu secret key").build(),
            ),
        );
        components.add_security_scheme(
            "write_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("the workspace write key as the user name, an empty password"))
                    .build(),
            ),
        );
    }
}

/// Returns the API router together with its OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    let mut document = ApiDoc::openapi();
    document.merge(crate::tracking::TrackingDoc::openapi());
    let api = OpenApiRouter::with_openapi(document)
        .merge(customers::router())
        .merge(tags::router())
        .merge(admin::router())
        .merge(analytics::router())
        .merge(models::router())
        .merge(segments::router())
        .layer(axum::extract::DefaultBodyLimit::max(crate::JSON_BODY_LIMIT));
    let document = api.get_openapi().clone();
    let json = serde_json::to_string_pretty(&document).expect("the OpenAPI document serialises");
    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(
            move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()) },
        ),
    )
    .route("/api/docs", axum::routing::get(docs))
    .route("/api/v1/{*rest}", axum::routing::any(not_found))
}

/// Returns the OpenAPI document as pretty JSON (for `siyu openapi` and the snapshot test).
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(router().get_openapi()).expect("the OpenAPI document serialises")
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not-found", "no such API route")
}

async fn docs() -> impl IntoResponse {
    Html(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>siyu API</title>
<link rel="stylesheet" href="/assets/swagger-ui/swagger-ui.css"></head><body><div id="swagger"></div>
<script src="/assets/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/assets/swagger-ui/init.js"></script></body></html>"#,
    )
}
