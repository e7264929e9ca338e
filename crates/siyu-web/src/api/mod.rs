//! The admin REST API under `/api/v1`: every route authenticates a secret key and checks the
//! permissions [`ROUTES`] names for it before anything else of the request is read (the services
//! check again), and answers JSON or problem+json. The OpenAPI document is generated from these
//! handlers, so it cannot drift.

mod admin;
mod analytics;
mod campaigns;
mod checkins;
mod coupons;
mod customers;
mod group_buys;
mod journeys;
mod lotteries;
mod messages;
mod models;
mod quizzes;
mod segments;
mod tags;

use crate::AppState;
use crate::extract::{ApiAuth, Authenticated};
use crate::problem::Problem;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::response::{Html, IntoResponse};
use siyu_domain::access::Permission;
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
            "customer_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("siyu customer token")
                    .description(Some("a customer token from POST /api/v1/customers/{id}/token"))
                    .build(),
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

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key (the OpenAPI document and its viewer).
    Public,
    /// A secret key whose role holds every one of these permissions (none: any role).
    Role(&'static [Permission]),
    /// A customer token (the customer API, `/c/v1`), checked by its own extractor.
    Customer,
}

/// Every admin API route (method, path template as routed) and who may call it. The middleware
/// [`authorize`] checks it before a handler reads the path, query or body, so a caller without the
/// permission gets 403 whatever its input; a route missing here is refused (and a test fails).
pub const ROUTES: &[(&str, &str, Access)] = {
    use Access::{Customer, Public, Role};
    use Permission::*;
    &[
        ("GET", "/api/v1/openapi.json", Public),
        ("GET", "/api/docs", Public),
        ("GET", "/api/v1/customers", Role(&[CustomersRead])),
        ("POST", "/api/v1/customers", Role(&[CustomersWrite])),
        ("POST", "/api/v1/customers/batch", Role(&[CustomersWrite])),
        ("POST", "/api/v1/customers/import", Role(&[CustomersImport, CustomersWrite])),
        ("GET", "/api/v1/customers/{id}", Role(&[CustomersRead])),
        ("PATCH", "/api/v1/customers/{id}", Role(&[CustomersWrite])),
        ("DELETE", "/api/v1/customers/{id}", Role(&[CustomersDelete])),
        ("GET", "/api/v1/customers/{id}/export", Role(&[CustomersRead, PiiRead])),
        ("POST", "/api/v1/customers/{id}/identities", Role(&[CustomersWrite])),
        ("DELETE", "/api/v1/customers/{id}/identities/{type}/{value}", Role(&[CustomersWrite])),
        ("POST", "/api/v1/customers/{id}/tags", Role(&[CustomersWrite])),
        ("DELETE", "/api/v1/customers/{id}/tags/{tag}", Role(&[CustomersWrite])),
        ("GET", "/api/v1/customers/{id}/notes", Role(&[CustomersRead])),
        ("POST", "/api/v1/customers/{id}/notes", Role(&[NotesWrite])),
        ("GET", "/api/v1/customers/{id}/merges", Role(&[CustomersRead])),
        ("GET", "/api/v1/customers/{id}/consent", Role(&[CustomersRead])),
        ("POST", "/api/v1/customers/{id}/consent", Role(&[ConsentWrite])),
        ("GET", "/api/v1/customers/{id}/unsubscribe-link", Role(&[ConsentWrite])),
        ("GET", "/api/v1/customers/{id}/models", Role(&[CustomersRead])),
        ("GET", "/api/v1/tag-groups", Role(&[CustomersRead])),
        ("POST", "/api/v1/tag-groups", Role(&[TagsManage])),
        ("GET", "/api/v1/tags", Role(&[CustomersRead])),
        ("POST", "/api/v1/tags", Role(&[TagsManage])),
        ("DELETE", "/api/v1/tags/{id}", Role(&[TagsManage])),
        ("POST", "/api/v1/analytics/funnel", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/analytics/retention", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/analytics/rfm", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/analytics/segmentation", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/analytics/paths", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/analytics/kpi", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/models/run", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models/rfm", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models/ltv", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models/recall", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models/lifecycle/flows", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/models/settings", Role(&[AnalyticsRead])),
        ("PUT", "/api/v1/models/settings", Role(&[SegmentsManage])),
        ("GET", "/api/v1/segments", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/segments", Role(&[SegmentsManage])),
        ("POST", "/api/v1/segments/preview", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/segments/{key}", Role(&[AnalyticsRead])),
        ("PUT", "/api/v1/segments/{key}", Role(&[SegmentsManage])),
        ("DELETE", "/api/v1/segments/{key}", Role(&[SegmentsManage])),
        ("GET", "/api/v1/segments/{key}/members", Role(&[AnalyticsRead, CustomersRead])),
        ("GET", "/api/v1/segments/{key}/export", Role(&[AnalyticsRead, CustomersRead])),
        ("GET", "/api/v1/workspace", Role(&[])),
        ("PATCH", "/api/v1/workspace", Role(&[WorkspaceManage])),
        ("GET", "/api/v1/users", Role(&[UsersManage])),
        ("POST", "/api/v1/users", Role(&[UsersManage])),
        ("PATCH", "/api/v1/users/{id}", Role(&[UsersManage])),
        ("DELETE", "/api/v1/users/{id}", Role(&[UsersManage])),
        ("GET", "/api/v1/invitations", Role(&[UsersManage])),
        ("DELETE", "/api/v1/invitations/{id}", Role(&[UsersManage])),
        ("GET", "/api/v1/keys", Role(&[KeysManage])),
        ("POST", "/api/v1/keys", Role(&[KeysManage])),
        ("DELETE", "/api/v1/keys/{id}", Role(&[KeysManage])),
        ("GET", "/api/v1/audit", Role(&[AuditRead])),
        ("GET", "/api/v1/channels", Role(&[MessagesSend])),
        ("PUT", "/api/v1/channels/{name}", Role(&[WorkspaceManage])),
        ("DELETE", "/api/v1/channels/{name}", Role(&[WorkspaceManage])),
        ("POST", "/api/v1/channels/{name}/test", Role(&[WorkspaceManage])),
        ("GET", "/api/v1/messages", Role(&[MessagesRead])),
        ("POST", "/api/v1/messages", Role(&[MessagesSend])),
        ("POST", "/api/v1/messages/preview", Role(&[MessagesSend])),
        ("GET", "/api/v1/templates", Role(&[MessagesSend])),
        ("GET", "/api/v1/templates/{name}", Role(&[MessagesSend])),
        ("PUT", "/api/v1/templates/{name}", Role(&[JourneysManage])),
        ("DELETE", "/api/v1/templates/{name}", Role(&[JourneysManage])),
        ("GET", "/api/v1/messaging/settings", Role(&[MessagesSend])),
        ("PUT", "/api/v1/messaging/settings", Role(&[WorkspaceManage])),
        ("GET", "/api/v1/journeys", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/journeys", Role(&[JourneysManage])),
        ("GET", "/api/v1/journeys/{id}", Role(&[AnalyticsRead])),
        ("PUT", "/api/v1/journeys/{id}", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/check", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/{id}/publish", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/{id}/pause", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/{id}/resume", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/{id}/archive", Role(&[JourneysManage])),
        ("POST", "/api/v1/journeys/{id}/entries", Role(&[JourneysManage])),
        ("GET", "/api/v1/customers/{id}/journeys", Role(&[CustomersRead])),
        ("GET", "/api/v1/tasks", Role(&[NotesWrite])),
        ("POST", "/api/v1/tasks/{id}/done", Role(&[NotesWrite])),
        ("POST", "/api/v1/customers/{id}/token", Role(&[CampaignsManage])),
        ("GET", "/api/v1/flash-sales", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/flash-sales", Role(&[CampaignsManage])),
        ("GET", "/api/v1/flash-sales/{id}", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/flash-sales/{id}/orders", Role(&[AnalyticsRead, CustomersRead])),
        ("POST", "/api/v1/flash-sales/{id}/orders/{order}/pay", Role(&[CampaignsManage])),
        ("GET", "/api/v1/coupon-templates", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/coupon-templates", Role(&[CampaignsManage])),
        ("GET", "/api/v1/coupon-templates/{id}", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/coupon-templates/{id}/issue", Role(&[CampaignsManage])),
        ("POST", "/api/v1/coupon-templates/{id}/grant", Role(&[CampaignsManage])),
        ("GET", "/api/v1/coupon-issues/{id}", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/coupons/{code}", Role(&[CampaignsManage])),
        ("POST", "/api/v1/coupons/redeem", Role(&[CampaignsManage])),
        ("POST", "/api/v1/coupons/release", Role(&[CampaignsManage])),
        ("GET", "/api/v1/customers/{id}/coupons", Role(&[CustomersRead])),
        ("GET", "/api/v1/lotteries", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/lotteries", Role(&[CampaignsManage])),
        ("GET", "/api/v1/lotteries/{id}", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/lotteries/{id}/audit", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/lotteries/{id}/chances", Role(&[CampaignsManage])),
        ("GET", "/api/v1/checkins", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/checkins", Role(&[CampaignsManage])),
        ("GET", "/api/v1/checkins/{id}", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/group-buys", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/group-buys", Role(&[CampaignsManage])),
        ("GET", "/api/v1/group-buys/{id}", Role(&[AnalyticsRead])),
        ("GET", "/api/v1/quizzes", Role(&[AnalyticsRead])),
        ("POST", "/api/v1/quizzes", Role(&[CampaignsManage])),
        ("GET", "/api/v1/quizzes/{id}", Role(&[AnalyticsRead])),
        ("GET", "/c/v1/quizzes/{id}", Customer),
        ("POST", "/c/v1/quizzes/{id}/attempts", Customer),
        ("GET", "/c/v1/quizzes/{id}/leaderboard", Customer),
        ("POST", "/c/v1/quiz-attempts/{id}/answers", Customer),
        ("GET", "/c/v1/group-buys/{id}", Customer),
        ("POST", "/c/v1/group-buys/{id}/groups", Customer),
        ("GET", "/c/v1/groups/{id}", Customer),
        ("POST", "/c/v1/groups/{id}/join", Customer),
        ("GET", "/c/v1/checkins/{id}", Customer),
        ("POST", "/c/v1/checkins/{id}/check-in", Customer),
        ("POST", "/c/v1/checkins/{id}/makeup", Customer),
        ("GET", "/c/v1/lotteries/{id}", Customer),
        ("POST", "/c/v1/lotteries/{id}/draw", Customer),
        ("GET", "/c/v1/coupons", Customer),
        ("POST", "/c/v1/coupon-templates/{id}/claim", Customer),
        ("GET", "/c/v1/flash-sales/{id}", Customer),
        ("POST", "/c/v1/flash-sales/{id}/purchase", Customer),
    ]
};

/// Returns who may call `method` on the routed path template `route`; `None` for a route missing
/// from [`ROUTES`].
pub fn access_of(method: &str, route: &str) -> Option<Access> {
    // HEAD is served by the GET handler.
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, access)| *access)
}

/// Middleware over the API routes: authenticates the key and checks the route's permissions
/// before the handler's extractors read the path, query or body; the principal is handed to
/// [`ApiAuth`] through the request's extensions.
pub async fn authorize(
    State(app): State<AppState>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let route = route.map(|r| r.as_str().to_string()).unwrap_or_default();
    let permissions = match access_of(request.method().as_str(), &route) {
        Some(Access::Public) | Some(Access::Customer) => return Ok(next.run(request).await),
        Some(Access::Role(permissions)) => permissions,
        // Another method on a known route: the router answers 405 without calling a handler.
        None if ROUTES.iter().any(|(_, r, _)| *r == route) => return Ok(next.run(request).await),
        None => {
            return Err(Problem::internal(&format!(
                "{} {route} has no entry in siyu_web::api::ROUTES",
                request.method()
            )));
        }
    };
    let (mut parts, body) = request.into_parts();
    let ApiAuth(principal) = ApiAuth::from_request_parts(&mut parts, &app).await?;
    for permission in permissions {
        principal.require(*permission)?;
    }
    parts.extensions.insert(Authenticated(principal));
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// Returns the API router together with its OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    let mut document = ApiDoc::openapi();
    document.merge(crate::tracking::TrackingDoc::openapi());
    document.merge(crate::customer_api::CustomerDoc::openapi());
    let mut api = OpenApiRouter::with_openapi(document)
        .merge(customers::router())
        .merge(tags::router())
        .merge(admin::router())
        .merge(analytics::router())
        .merge(models::router())
        .merge(segments::router())
        .merge(messages::router())
        .merge(journeys::router())
        .merge(campaigns::router())
        .merge(coupons::router())
        .merge(lotteries::router())
        .merge(checkins::router())
        .merge(group_buys::router())
        .merge(quizzes::router())
        .layer(axum::extract::DefaultBodyLimit::max(crate::JSON_BODY_LIMIT));
    problems_everywhere(api.get_openapi_mut());
    let document = api.get_openapi().clone();
    let json = serde_json::to_string_pretty(&document).expect("the OpenAPI document serialises");
    api.route(
        "/api/v1/openapi.json",
        axum::routing::get(
            move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()) },
        ),
    )
    .route("/api/docs", axum::routing::get(docs))
}

/// Documents problems as siyu sends them: every problem response under `application/problem+json`
/// (utoipa writes `application/json` for any JSON body), and a `default` problem response on every
/// operation, since any status an operation does not list (401, 403, 405, 413, 415, …) is one too.
fn problems_everywhere(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let is_problem = |content: &RefOr<utoipa::openapi::Content>| matches!(content, RefOr::T(content) if matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == "#/components/schemas/Problem"));
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else { continue };
                if response.content.get("application/json").is_some_and(is_problem)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert("application/problem+json".into(), content);
                }
            }
            operation.responses.responses.entry("default".into()).or_insert_with(|| {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                RefOr::T(
                    ResponseBuilder::new()
                        .description("an error, as application/problem+json")
                        .content("application/problem+json", content)
                        .build(),
                )
            });
        }
    }
}

/// Returns the OpenAPI document as pretty JSON (for `siyu openapi` and the snapshot test).
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(router().get_openapi()).expect("the OpenAPI document serialises")
}

async fn docs() -> impl IntoResponse {
    Html(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>siyu API</title>
<link rel="stylesheet" href="/assets/swagger-ui/swagger-ui.css"></head><body><div id="swagger"></div>
<script src="/assets/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/assets/swagger-ui/init.js"></script></body></html>"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_names_who_may_call_it_and_nothing_else_is_listed() {
        let document: serde_json::Value = serde_json::from_str(&openapi_json()).expect("the document is JSON");
        let mut documented = Vec::new();
        for (path, operations) in document["paths"].as_object().expect("paths") {
            for method in operations.as_object().expect("operations").keys() {
                let method = method.to_uppercase();
                if !path.starts_with("/v1/") {
                    assert!(access_of(&method, path).is_some(), "{method} {path} is missing from ROUTES");
                }
                documented.push((method, path.clone()));
            }
        }
        for (method, route, access) in ROUTES {
            let listed = documented.iter().any(|(m, p)| m == method && p == route);
            assert!(listed || *access == Access::Public, "{method} {route} is in ROUTES but not in the document");
            assert_eq!(
                route.starts_with("/c/"),
                *access == Access::Customer,
                "{method} {route}: customer routes are /c/…"
            );
        }
    }
}
