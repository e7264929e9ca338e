//! Hostile shapes of input that once killed the server: segment definitions nested thousands of
//! levels deep, as text and as JSON. Each is refused with a problem+json naming the field, and the
//! server answers afterwards.

use crate::TestApp;
use serde_json::{Value, json};
use siyu_domain::access::Role;

/// `{"definition": {"not": … {"tag": "x"} …}}` with `n` nots, as text: a `Value` that deep would
/// recurse to build, serialise and drop.
fn json_nots(n: usize) -> Vec<u8> {
    format!("{{\"definition\": {}{{\"tag\": \"x\"}}{}}}", "{\"not\": ".repeat(n), "}".repeat(n)).into_bytes()
}

fn assert_refused(status: u16, body: &Value, content_type: &str, field: &str) -> String {
    assert_eq!(status, 400, "{body}");
    assert_eq!(content_type, "application/problem+json", "{body}");
    let named = body["errors"][0]["field"].as_str().unwrap_or_default();
    assert!(named == field || named.starts_with(&format!("{field}.")), "{body}");
    body["errors"][0]["reason"].as_str().unwrap_or_default().to_string()
}

async fn still_answers(app: &TestApp, key: &str) {
    let (status, body, _) = app.call("GET", "/api/v1/segments", key, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) =
        app.call("POST", "/api/v1/segments/preview", key, Some(json!({"text": "tag(\"x\")"}))).await;
    assert_eq!(status, 200, "{body}");
}

pub async fn deeply_nested_segment_text_is_refused_naming_text_and_the_server_lives(app: TestApp) {
    let analyst = app.key_with_role(Role::Analyst).await;
    let cases = [
        // 10,000 nots: the 64th would put the tag 65 levels deep (column 4 × 63 + 1).
        (format!("{}tag(\"x\")", "not ".repeat(10_000)), "line 1, column 253"),
        // 20,000 parentheses, on the second line.
        (format!("tag(\"a\") and\n{}tag(\"x\"){}", "(".repeat(20_000), ")".repeat(20_000)), "line 2, column 64"),
        // Nots and parentheses mixed.
        // Nots and parentheses mixed: the 64th opening is the 32nd group's parenthesis.
        (format!("{}tag(\"x\"){}", "not (".repeat(5_000), ")".repeat(5_000)), "line 1, column 160"),
    ];
    for (text, at) in cases {
        let (status, body, content_type) =
            app.call("POST", "/api/v1/segments/preview", &analyst, Some(json!({ "text": text }))).await;
        let reason = assert_refused(status, &body, &content_type, "text");
        assert!(reason.starts_with(at) && reason.contains("at most 64 levels of nesting"), "{body}");
        still_answers(&app, &analyst).await;
    }
    // Saving is refused the same way.
    let text = format!("{}tag(\"x\")", "not ".repeat(100));
    let (status, body, content_type) = save(&app, "POST", "deep", text).await;
    assert_refused(status, &body, &content_type, "text");
    // 64 levels are fine.
    let text = format!("{}tag(\"x\")", "not ".repeat(63));
    let (status, body, _) = app.call("POST", "/api/v1/segments/preview", &analyst, Some(json!({ "text": text }))).await;
    assert_eq!(status, 200, "{body}");
}

pub async fn deeply_nested_segment_json_is_refused_naming_definition_and_the_server_lives(app: TestApp) {
    let analyst = app.key_with_role(Role::Analyst).await;
    // The 65th level is refused before serde_json's own limit (128 JSON levels) is reached.
    for n in [64, 100, 20_000] {
        let (status, body, content_type) =
            app.call_raw("POST", "/api/v1/segments/preview", &analyst, "application/json", json_nots(n)).await;
        let reason = assert_refused(status, &body, &content_type, "definition");
        assert!(reason.starts_with("the definition nests deeper than 64 levels"), "{body}");
        still_answers(&app, &analyst).await;
    }
    let (status, body, _) =
        app.call_raw("POST", "/api/v1/segments/preview", &analyst, "application/json", json_nots(63)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], json!(format!("{}tag(\"x\")", "not ".repeat(63))));
}

pub async fn segments_referring_to_segments_past_the_depth_limit_are_refused(app: TestApp) {
    let nots = |n: usize| "not ".repeat(n);
    // c is 32 levels; b is 31 nots over a reference to c: 31 + 1 + 32 = 64 levels.
    let (status, body, _) = save(&app, "POST", "c", format!("{}tag(\"x\")", nots(31))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body, _) = save(&app, "POST", "b", format!("{}segment(\"c\")", nots(31))).await;
    assert_eq!(status, 201, "{body}");
    // A reference to b is a 65th level.
    let (status, body, content_type) = save(&app, "POST", "a", "segment(\"b\")".into()).await;
    let reason = assert_refused(status, &body, &content_type, "definition");
    assert!(reason.contains("nests deeper than 64 levels (counting the segments it refers to)"), "{body}");
    // So is one more level in c, which b refers to.
    let (status, body, content_type) = save(&app, "PUT", "c", format!("{}tag(\"x\")", nots(32))).await;
    let reason = assert_refused(status, &body, &content_type, "text");
    assert_eq!(reason, "segment \"b\" refers to this one and would nest deeper than 64 levels with it", "{body}");
    still_answers(&app, &app.key).await;
    let (status, body, _) = app.call("GET", "/api/v1/segments/b", &app.key, None).await;
    assert_eq!(status, 200, "{body}");
}

async fn save(app: &TestApp, method: &str, key: &str, text: String) -> (u16, Value, String) {
    let path = if method == "PUT" { format!("/api/v1/segments/{key}") } else { "/api/v1/segments".into() };
    app.call(method, &path, &app.key, Some(json!({"key": key, "text": text}))).await
}

crate::both_backends!(
    deeply_nested_segment_text_is_refused_naming_text_and_the_server_lives,
    deeply_nested_segment_json_is_refused_naming_definition_and_the_server_lives,
    segments_referring_to_segments_past_the_depth_limit_are_refused,
);
