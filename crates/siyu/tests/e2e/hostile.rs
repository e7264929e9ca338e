//! Hostile input over HTTP: every error of the API and the Tracking API is problem+json, the
//! permission check comes before any input is read (walked over every route of the OpenAPI
//! document), arrays are refused where objects are expected, batch errors name their message,
//! every response carries the security headers, and imports are bounded.

use crate::TestApp;
use base64::Engine as _;
use serde_json::{Value, json};
use siyu_domain::access::Role;
use siyu_domain::access::api_keys::KeyKind;
use siyu_web::api::{Access, access_of};

crate::both_backends!(
    every_api_error_is_problem_json,
    permission_is_checked_before_any_input_is_read_on_every_route,
    arrays_are_refused_where_objects_are_expected,
    batch_errors_name_the_message_and_its_field,
    every_response_carries_the_security_headers,
    customer_import_refuses_oversized_fields_and_bodies,
);

/// A response's status, content type, headers and body (JSON when it parses).
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, content_type, headers, body }
}

/// Asserts a problem+json answer with `status` whose body is a well-formed problem.
fn assert_problem(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json", "{what}: {}", answer.body);
    assert_eq!(answer.body["status"], status, "{what}: {}", answer.body);
    assert!(answer.body["type"].as_str().is_some_and(|t| t.starts_with("https://siyu.dev/problems/")), "{what}");
    assert!(answer.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {}", answer.body);
}

fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

async fn write_key(app: &TestApp, role: Role) -> String {
    // A write key whose role cannot send events is refused at creation now, but an older version may
    // have made one: such keys are written straight to the store, as that version would have.
    let token = siyu_domain::access::api_keys::generate_token(KeyKind::Write).unwrap();
    let (ws, now) = (app.owner.workspace_id(), app.services.now());
    app.services
        .stores
        .api_keys
        .insert(ws, KeyKind::Write, role, "site", &token.prefix, &token.hash, now)
        .await
        .unwrap();
    token.token
}

async fn every_api_error_is_problem_json(app: TestApp) {
    let url = |path: &str| format!("{}{path}", app.base_url);
    let key = write_key(&app, Role::Operator).await;
    // The Tracking API: a body over the limit, broken gzip, an unsupported encoding.
    let huge =
        json!({"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"p": "x".repeat(600_000)}}]});
    let answer = send(app.http.post(url("/v1/batch")).header("authorization", basic(&key)).json(&huge)).await;
    assert_problem(&answer, 413, "tracking body over the limit");
    let answer = send(
        app.http
            .post(url("/v1/track"))
            .header("authorization", basic(&key))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body("this is not gzip"),
    )
    .await;
    assert_problem(&answer, 400, "invalid gzip");
    assert_eq!(answer.body["errors"][0]["field"], "body");
    let answer = send(
        app.http
            .post(url("/v1/track"))
            .header("authorization", basic(&key))
            .header("content-type", "application/json")
            .header("content-encoding", "br")
            .body("{}"),
    )
    .await;
    assert_problem(&answer, 415, "brotli");
    assert!(answer.body["detail"].as_str().unwrap().contains("\"br\""), "{}", answer.body);
    // Invalid UTF-8 in a path parameter, and a path parameter of the wrong type.
    let answer = send(app.http.get(url("/api/v1/customers/%FF%FE")).bearer_auth(&app.key)).await;
    assert_problem(&answer, 400, "invalid UTF-8 in a path parameter");
    let answer = send(app.http.get(url("/api/v1/customers/abc/models")).bearer_auth(&app.key)).await;
    assert_problem(&answer, 400, "a path parameter of the wrong type");
    let answer = send(app.http.delete(url("/api/v1/segments/%C0")).bearer_auth(&app.key)).await;
    assert_problem(&answer, 400, "invalid UTF-8 in a segment key");
    // Wrong methods keep their Allow header.
    let answer = send(app.http.put(url("/v1/track")).header("authorization", basic(&key))).await;
    assert_problem(&answer, 405, "PUT /v1/track");
    assert!(answer.headers.contains_key("allow"));
    let answer = send(app.http.put(url("/api/v1/customers")).bearer_auth(&app.key)).await;
    assert_problem(&answer, 405, "PUT /api/v1/customers");
    // Unknown routes under both prefixes.
    for path in ["/api/v1/nothing-here", "/api/v2/customers", "/api", "/v1/nothing-here", "/v1"] {
        assert_problem(&send(app.http.get(url(path)).bearer_auth(&app.key)).await, 404, path);
    }
    // A malformed body, as before.
    let answer = send(
        app.http
            .post(url("/api/v1/customers"))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_problem(&answer, 400, "truncated JSON");
    // Console pages keep HTML errors.
    let answer = send(app.http.get(url("/no-such-page"))).await;
    assert_eq!(answer.status, 404);
    assert_ne!(answer.content_type, "application/problem+json");
}

/// Replaces each `{param}` of a path template with a value no route accepts (invalid UTF-8).
fn hostile_path(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
        path.push_str("%FF-not-an-id");
        rest = &rest[end..];
    }
    path.push_str(rest);
    path
}

async fn permission_is_checked_before_any_input_is_read_on_every_route(app: TestApp) {
    let document: Value =
        app.http.get(format!("{}/api/v1/openapi.json", app.base_url)).send().await.unwrap().json().await.unwrap();
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, app.key_with_role(role).await, write_key(&app, role).await));
    }
    let bad_query = "?from=2026-10-01&limit=0&cursor=zzz&as_of=-009999-01-01&channel=pigeon&bogus=1";
    let bad_bodies: [&[u8]; 3] = [b"[1, 2]", b"{\"bogus\": ", b"{\"steps\": 1e999, \"\xFF\": [[[[]]]]}"];
    let mut walked = 0;
    for (template, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let url = format!("{}{}{bad_query}", app.base_url, hostile_path(template));
            let request = |credential: Option<String>, body: &[u8]| {
                let mut request = app
                    .http
                    .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url)
                    .header("content-type", "application/json")
                    .body(body.to_vec());
                if let Some(credential) = credential {
                    request = request.header("authorization", credential);
                }
                request
            };
            let what = |who: &str| format!("{method} {template} as {who}");
            let tracking = template.starts_with("/v1/");
            // Without a key: 401, whatever the input.
            for body in bad_bodies {
                assert_problem(&send(request(None, body)).await, 401, &what("nobody"));
            }
            let permissions = match access_of(&method, template) {
                Some(Access::Role(permissions)) => permissions.to_vec(),
                Some(Access::Public) => continue,
                Some(Access::Customer) => {
                    // A staff key is no customer token.
                    let answer = send(request(Some(format!("Bearer {}", keys[0].1)), bad_bodies[0])).await;
                    assert_problem(&answer, 401, &what("a staff key"));
                    continue;
                }
                None if tracking => vec![siyu_domain::access::Permission::EventsWrite],
                None => panic!("{method} {template} is missing from siyu_web::api::ROUTES"),
            };
            for (role, secret, write) in &keys {
                if permissions.iter().all(|p| role.allows(*p)) {
                    continue;
                }
                let credential = if tracking { basic(write) } else { format!("Bearer {secret}") };
                for body in bad_bodies {
                    let answer = send(request(Some(credential.clone()), body)).await;
                    assert_problem(&answer, 403, &what(role.as_str()));
                    walked += 1;
                }
            }
        }
    }
    assert!(walked > 100, "only {walked} refused requests walked");
    // The server is alive afterwards.
    assert_eq!(app.call("GET", "/api/v1/workspace", &app.key, None).await.0, 200);
}

async fn arrays_are_refused_where_objects_are_expected(app: TestApp) {
    let (_, customer, _) = app
        .call("POST", "/api/v1/customers", &app.key, Some(json!({"identities": [{"type": "user_id", "value": "a-1"}]})))
        .await;
    let id = customer["id"].clone();
    let (_, before, _) = app.call("PUT", "/api/v1/models/settings", &app.key, Some(json!({"churn_days": 45}))).await;
    let cases = [
        ("PATCH", format!("/api/v1/customers/{id}"), json!([[], {"city": "上海"}, []])),
        ("PUT", "/api/v1/models/settings".to_string(), json!([30, 60])),
        ("POST", "/api/v1/analytics/funnel".to_string(), json!([["Signed Up", "Order Completed"]])),
        ("POST", "/api/v1/analytics/retention".to_string(), json!(["week"])),
        ("POST", "/api/v1/analytics/rfm".to_string(), json!([])),
        ("POST", "/api/v1/analytics/segmentation".to_string(), json!([["Signed Up"]])),
        ("POST", "/api/v1/analytics/paths".to_string(), json!(["Signed Up"])),
        ("POST", "/api/v1/analytics/kpi".to_string(), json!([])),
        ("POST", "/api/v1/segments/preview".to_string(), json!(["tag(\"VIP\")"])),
    ];
    for (method, path, body) in cases {
        let (status, problem, content_type) = app.call(method, &path, &app.key, Some(body)).await;
        assert_eq!((status, content_type.as_str()), (400, "application/problem+json"), "{method} {path}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("expected a JSON object, not an array"), "{problem}");
    }
    // Nested objects too: an identity given as a pair is refused, naming it; so are funnel steps,
    // segmentation series and their filters, which may also be plain event names.
    let (status, problem, _) =
        app.call("POST", "/api/v1/customers", &app.key, Some(json!({"identities": [["user_id", "a-2"]]}))).await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "identities[0]", "{problem}");
    let nested = [
        ("funnel", json!({"steps": [["Signed Up", []], "Order Completed"]}), "steps[0]"),
        (
            "funnel",
            json!({"steps": [{"event": "Signed Up", "filters": [["price", "gt", 1]]}, "Order Completed"]}),
            "steps[0].filters[0]",
        ),
        ("funnel", json!({"steps": ["Signed Up", "Order Completed"], "attribution": [2]}), "attribution"),
        ("segmentation", json!({"events": [["Signed Up", [], "price"]]}), "events[0]"),
        (
            "segmentation",
            json!({"events": [{"event": "Signed Up", "filters": [["price", "gt", 1]]}]}),
            "events[0].filters[0]",
        ),
        ("segmentation", json!({"events": ["Signed Up"], "filters": [["price", "gt", 1]]}), "filters[0]"),
    ];
    for (query, body, field) in nested {
        let (status, problem, _) = app.call("POST", &format!("/api/v1/analytics/{query}"), &app.key, Some(body)).await;
        assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some(field)), "{query}: {problem}");
    }
    // The settings were not reset to their defaults.
    let (_, after, _) = app.call("GET", "/api/v1/models/settings", &app.key, None).await;
    assert_eq!(after, before);
    assert_eq!(after["churn_days"], 45);
    // The Tracking API's batch body likewise.
    let key = write_key(&app, Role::Operator).await;
    let answer = send(
        app.http
            .post(format!("{}/v1/batch", app.base_url))
            .header("authorization", basic(&key))
            .json(&json!([[{"type": "track", "userId": "u", "event": "E"}]])),
    )
    .await;
    assert_problem(&answer, 400, "an array as the batch body");
}

async fn batch_errors_name_the_message_and_its_field(app: TestApp) {
    let key = write_key(&app, Role::Operator).await;
    let batch = json!({"batch": [
        {"type": "track", "userId": "u-1", "event": "Signed Up"},
        {"type": "identify", "userId": "u-1", "traits": {"9bad": 1}},
        {"type": "track", "userId": "u-1"},
        7,
    ]});
    let answer =
        send(app.http.post(format!("{}/v1/batch", app.base_url)).header("authorization", basic(&key)).json(&batch))
            .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let fields: Vec<(u64, String)> = answer.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["errors"].as_array().unwrap().iter().map(|e| (r["index"].as_u64().unwrap(), e["field"].to_string()))
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (1, "\"batch[1].traits.9bad\"".to_string()),
            (2, "\"batch[2].event\"".to_string()),
            (3, "\"batch[3]\"".to_string())
        ],
        "{}",
        answer.body
    );
    // A single identify names the trait without a prefix.
    let answer = send(
        app.http
            .post(format!("{}/v1/identify", app.base_url))
            .header("authorization", basic(&key))
            .json(&json!({"userId": "u-2", "traits": {"9bad": 1}})),
    )
    .await;
    assert_problem(&answer, 422, "identify with a bad trait");
    assert_eq!(answer.body["errors"][0]["field"], "traits.9bad", "{}", answer.body);
    // The customers batch keeps its own prefix.
    let (_, body, _) = app
        .call(
            "POST",
            "/api/v1/customers/batch",
            &app.key,
            Some(json!({"customers": [{"identities": [{"type": "user_id", "value": "b"}], "traits": {"9bad": 1}}]})),
        )
        .await;
    assert_eq!(body["items"][0]["errors"][0]["field"], "customers[0].traits.9bad", "{body}");
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    let key = write_key(&app, Role::Operator).await;
    let requests = [
        app.http.get(format!("{}/api/docs", app.base_url)),
        app.http.get(format!("{}/api/v1/openapi.json", app.base_url)),
        app.http.get(format!("{}/api/v1/customers", app.base_url)).bearer_auth(&app.key),
        app.http.get(format!("{}/api/v1/customers", app.base_url)),
        app.http.post(format!("{}/v1/track", app.base_url)).header("authorization", basic(&key)).body("{"),
        app.http.get(format!("{}/assets/swagger-ui/init.js", app.base_url)),
        app.http.get(format!("{}/healthz", app.base_url)),
        app.http.get(format!("{}/login", app.base_url)),
        app.http.get(format!("{}/no-such-page", app.base_url)),
    ];
    for request in requests {
        let answer = send(request).await;
        let header = |name: &str| answer.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(header("x-content-type-options"), "nosniff", "{}", answer.body);
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{}", answer.body);
        assert_eq!(header("x-frame-options"), "DENY");
    }
}

async fn customer_import_refuses_oversized_fields_and_bodies(app: TestApp) {
    let big = "x".repeat(siyu_domain::customers::MAX_FIELD_BYTES + 1);
    let csv = format!("user_id,note\nimp-1,fine\nimp-2,{big}\nimp-3,never read\n");
    let (status, report, _) = app.call_raw("POST", "/api/v1/customers/import", &app.key, "text/csv", csv.into()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["errors"][0]["line"], 3, "{report}");
    assert_eq!(report["errors"][0]["field"], "note", "{report}");
    assert!(report["errors"][0]["reason"].as_str().unwrap().contains("longer than 65536 bytes"), "{report}");
    // A declared length over the limit is refused before a byte is read.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/customers/import HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\nuser_id\n",
        app.key,
        siyu_web::IMPORT_BODY_LIMIT + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}
