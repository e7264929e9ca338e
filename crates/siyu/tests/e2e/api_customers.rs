//! The customers API over HTTP: upsert, batch, search, merge, masking, consent, import, bad input.

use crate::TestApp;
use serde_json::json;
use siyu_domain::access::Role;

crate::both_backends!(
    upsert_then_get_round_trips_and_masks_for_cs_agents,
    batch_reports_bad_items_by_index_and_applies_good_ones,
    adding_an_identity_of_another_profile_merges_them,
    bad_input_gets_specific_problems_and_writes_nothing,
    search_uses_cursor_pagination,
    consent_and_public_unsubscribe_link,
    csv_import_reports_rows,
    tags_and_notes_round_trip
);

async fn upsert_then_get_round_trips_and_masks_for_cs_agents(app: TestApp) {
    let (status, body, _) = app
        .call("POST", "/api/v1/customers", &app.key, Some(json!({
            "identities": [{"type": "phone", "value": "13912345678"}, {"type": "email", "value": "Mei@Example.com"}],
            "traits": {"name": "林美", "city": "杭州", "vip": true}
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let (status, again, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &app.key,
            Some(json!({"identities": [{"type": "phone", "value": "139 1234 5678"}], "traits": {"orders": 2}})),
        )
        .await;
    assert_eq!((status, again["id"].as_i64()), (200, Some(id)));
    let (status, customer, _) = app.call("GET", &format!("/api/v1/customers/{id}"), &app.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(customer["traits"]["name"]["value"], "林美");
    assert_eq!(customer["traits"]["orders"]["value"], 2);
    assert!(customer["identities"].as_array().unwrap().iter().any(|i| i["value"] == "+8613912345678"));
    let agent = app.key_with_role(Role::CsAgent).await;
    let (_, masked, _) = app.call("GET", &format!("/api/v1/customers/{id}"), &agent, None).await;
    let text = masked.to_string();
    assert!(text.contains("139****5678") && text.contains("m***@example.com") && text.contains("林*"), "{text}");
    assert!(!text.contains("13912345678") && !text.contains("林美"), "{text}");
    let (_, audit, _) = app.call("GET", "/api/v1/audit", &app.key, None).await;
    let read = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "pii.read" && e["target"] == format!("customer:{id}"));
    assert!(read, "the owner's unmasked read is audited: {audit}");
}

async fn batch_reports_bad_items_by_index_and_applies_good_ones(app: TestApp) {
    let (status, body, _) = app
        .call(
            "POST",
            "/api/v1/customers/batch",
            &app.key,
            Some(json!({"customers": [
                {"identities": [{"type": "phone", "value": "13800000001"}]},
                {"identities": [{"type": "email", "value": "not-an-email"}]},
                {"identities": [{"type": "user_id", "value": "u1"}], "tags": ["missing"]},
                {"identities": [{"type": "user_id", "value": "u2"}]}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["accepted"].as_u64(), body["rejected"].as_u64()), (Some(2), Some(2)));
    assert_eq!(body["items"][1]["errors"][0]["field"], "customers[1].identities[0].value");
    assert_eq!(body["items"][2]["errors"][0]["field"], "customers[2].tags[0]");
    let (_, list, _) = app.call("GET", "/api/v1/customers", &app.key, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let too_many: Vec<_> =
        (0..1001).map(|i| json!({"identities": [{"type": "user_id", "value": format!("x{i}")}]})).collect();
    let (status, body, _) =
        app.call("POST", "/api/v1/customers/batch", &app.key, Some(json!({"customers": too_many}))).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("customers")));
}

async fn adding_an_identity_of_another_profile_merges_them(app: TestApp) {
    let (_, a, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &app.key,
            Some(json!({"identities": [{"type": "phone", "value": "13800000001"}]})),
        )
        .await;
    let (_, b, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &app.key,
            Some(json!({"identities": [{"type": "wechat_openid", "value": "o-abc"}]})),
        )
        .await;
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let (status, merged, _) = app
        .call(
            "POST",
            &format!("/api/v1/customers/{b}/identities"),
            &app.key,
            Some(json!({"type": "phone", "value": "+8613800000001"})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["id"].as_i64(), Some(a));
    assert_eq!(merged["merged"], json!([b]));
    let (_, history, _) = app.call("GET", &format!("/api/v1/customers/{b}/merges"), &app.key, None).await;
    assert_eq!(history[0]["merged_id"].as_i64(), Some(b));
    assert_eq!(history[0]["reason"], "target");
}

async fn bad_input_gets_specific_problems_and_writes_nothing(app: TestApp) {
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("application/json", b"{not json".to_vec(), "/api/v1/customers", 400, "body"),
        ("application/json", br#"{"identities": [], "colour": "red"}"#.to_vec(), "/api/v1/customers", 400, "colour"),
        ("application/json", br#"{"identities": "phone"}"#.to_vec(), "/api/v1/customers", 400, "identities"),
        (
            "application/json",
            br#"{"identities": [{"type": "phone", "value": "1234"}]}"#.to_vec(),
            "/api/v1/customers",
            422,
            "identities[0].value",
        ),
        (
            "application/json",
            br#"{"identities": [{"type": "email", "value": "a@b"}]}"#.to_vec(),
            "/api/v1/customers",
            422,
            "identities[0].value",
        ),
        (
            "application/json",
            br#"{"identities": [{"type": "fax", "value": "1"}]}"#.to_vec(),
            "/api/v1/customers",
            422,
            "identities[0].type",
        ),
        (
            "application/json",
            br#"{"identities": [{"type": "user_id", "value": "u"}], "tags": ["nope"]}"#.to_vec(),
            "/api/v1/customers",
            422,
            "tags[0]",
        ),
        ("application/json", br#"{"name": "x", "family": "astrology"}"#.to_vec(), "/api/v1/tag-groups", 422, "family"),
        ("application/json", br#"{"name": "VIP", "group": "nope"}"#.to_vec(), "/api/v1/tags", 422, "group"),
        ("text/plain", b"hello".to_vec(), "/api/v1/customers", 415, ""),
    ];
    for (content_type, body, path, expected_status, field) in cases {
        let (status, problem, problem_type) = app.call_raw("POST", path, &app.key, content_type, body.clone()).await;
        let shown = String::from_utf8_lossy(&body);
        assert_eq!(status, expected_status, "{shown}: {problem}");
        assert_eq!(problem_type, "application/problem+json", "{shown}");
        assert_eq!(problem["status"].as_u64(), Some(u64::from(expected_status)));
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{shown}: {problem}");
        }
    }
    let huge = format!(r#"{{"identities": [{{"type": "user_id", "value": "{}"}}]}}"#, "x".repeat(2 * 1024 * 1024));
    // The server answers 413 without reading the rest and closes the connection, so this request
    // goes on a connection of its own rather than one the pool would hand to the next request.
    let response = siyu::http_client()
        .build()
        .unwrap()
        .post(format!("{}/api/v1/customers", app.base_url))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"].as_u64(), Some(413));
    let (status, _, _) = app.call("GET", "/api/v1/customers/abc", &app.key, None).await;
    assert_eq!(status, 400);
    let (status, problem, _) = app.call("GET", "/api/v1/customers?color=red", &app.key, None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (400, Some("color")));
    let (status, _, _) = app.call("GET", "/api/v1/nothing-here", &app.key, None).await;
    assert_eq!(status, 404);
    let (_, list, _) = app.call("GET", "/api/v1/customers", &app.key, None).await;
    assert_eq!(list["items"], json!([]), "no bad request wrote anything");
    // The same identity twice in one request (after normalisation) is refused, naming the second.
    let (status, body, _) = app
        .call("POST", "/api/v1/customers", &app.key, Some(json!({"identities": [{"type": "phone", "value": "13800000009"}, {"type": "phone", "value": "+86 13800000009"}]})))
        .await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("identities[1].value")), "{body}");
    let (_, list, _) = app.call("GET", "/api/v1/customers", &app.key, None).await;
    assert_eq!(list["items"], json!([]));
}

async fn search_uses_cursor_pagination(app: TestApp) {
    let customers: Vec<_> = (0..25)
        .map(|i| json!({"identities": [{"type": "member_no", "value": format!("M{i:03}")}], "traits": {"city": if i % 5 == 0 { "上海" } else { "北京" }}}))
        .collect();
    let (status, _, _) =
        app.call("POST", "/api/v1/customers/batch", &app.key, Some(json!({"customers": customers}))).await;
    assert_eq!(status, 200);
    let mut seen = 0;
    let mut path = "/api/v1/customers?limit=10".to_string();
    loop {
        let (status, page, _) = app.call("GET", &path, &app.key, None).await;
        assert_eq!(status, 200);
        seen += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/customers?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, 25);
    let (_, shanghai, _) = app.call("GET", "/api/v1/customers?trait=city%3D%E4%B8%8A%E6%B5%B7", &app.key, None).await;
    assert_eq!(shanghai["items"].as_array().unwrap().len(), 5);
    let (_, one, _) = app.call("GET", "/api/v1/customers?identity=member_no:M007", &app.key, None).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
}

async fn consent_and_public_unsubscribe_link(app: TestApp) {
    let (_, c, _) = app
        .call(
            "POST",
            "/api/v1/customers",
            &app.key,
            Some(json!({"identities": [{"type": "email", "value": "u@example.com"}]})),
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    let (status, view, _) = app
        .call("POST", &format!("/api/v1/customers/{id}/consent"), &app.key, Some(json!({"changes": [
            {"purpose": "marketing", "channel": "email", "granted": true, "policy_version": "2026-01", "source": "signup"}
        ]})))
        .await;
    assert_eq!(status, 200, "{view}");
    let (status, problem, _) = app
        .call(
            "POST",
            &format!("/api/v1/customers/{id}/consent"),
            &app.key,
            Some(json!({"changes": [
                {"purpose": "marketing", "channel": "pigeon", "granted": true, "policy_version": "2026-01"}
            ]})),
        )
        .await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("changes[0].channel")));
    let (_, link, _) =
        app.call("GET", &format!("/api/v1/customers/{id}/unsubscribe-link?channel=email"), &app.key, None).await;
    let url = link["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.base_url), "{url}");
    assert!(link["expires_at"].is_string(), "{link}");
    // Opening the link (as a mail scanner would) only asks for confirmation.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("退订") && html.contains(r#"method="post""#), "{html}");
    let consent_path = format!("/api/v1/customers/{id}/consent");
    let consent = || app.call("GET", &consent_path, &app.key, None);
    assert_eq!(consent().await.1["current"][0]["granted"], true, "a GET changes nothing");
    // RFC 8058 one-click: a POST withdraws at once.
    let posted = app.http.post(&url).form(&[("List-Unsubscribe", "One-Click")]).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    assert!(posted.text().await.unwrap().contains("/undo"), "the page offers an undo");
    let (_, view, _) = consent().await;
    assert_eq!(view["current"][0]["granted"], false);
    assert_eq!(view["history"].as_array().unwrap().len(), 2);
    let undone = app.http.post(format!("{url}/undo")).send().await.unwrap();
    assert_eq!(undone.status(), 200);
    assert_eq!(consent().await.1["current"][0]["granted"], true);
    let bad = reqwest::get(format!("{}/u/1.1.email.9999999999.forged", app.base_url)).await.unwrap();
    assert_eq!(bad.status(), 404);
    // A role that may not change consent may not mint a link that does.
    let auditor = app.key_with_role(Role::Auditor).await;
    let path = format!("/api/v1/customers/{id}/unsubscribe-link?channel=email");
    assert_eq!(app.call("GET", &path, &auditor, None).await.0, 403);
}

async fn csv_import_reports_rows(app: TestApp) {
    let csv = "phone,email,city,orders:number\n13800000001,a@example.com,上海,2\n13800000002,broken,北京,1\n13800000003,,杭州,many\n";
    let (status, report, _) =
        app.call_raw("POST", "/api/v1/customers/import", &app.key, "text/csv", csv.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["imported"].as_u64(), report["failed"].as_u64()), (Some(1), Some(2)));
    assert_eq!(
        report["errors"][0],
        json!({"line": 3, "field": "email", "reason": "\"broken\" is not an e-mail address"})
    );
    assert_eq!(report["errors"][1]["field"], "orders:number");
    let analyst = app.key_with_role(Role::Analyst).await;
    let (status, _, _) =
        app.call_raw("POST", "/api/v1/customers/import", &analyst, "text/csv", csv.as_bytes().to_vec()).await;
    assert_eq!(status, 403);
}

async fn tags_and_notes_round_trip(app: TestApp) {
    let (status, _, _) =
        app.call("POST", "/api/v1/tag-groups", &app.key, Some(json!({"name": "行为", "family": "behaviour"}))).await;
    assert_eq!(status, 201);
    let (status, _, _) =
        app.call("POST", "/api/v1/tags", &app.key, Some(json!({"name": "高频复购", "group": "行为"}))).await;
    assert_eq!(status, 201);
    let (status, conflict, _) =
        app.call("POST", "/api/v1/tags", &app.key, Some(json!({"name": "高频复购", "group": "行为"}))).await;
    assert_eq!(status, 409, "{conflict}");
    let (_, c, _) = app
        .call("POST", "/api/v1/customers", &app.key, Some(json!({"identities": [{"type": "user_id", "value": "t1"}]})))
        .await;
    let id = c["id"].as_i64().unwrap();
    let (status, _, _) = app
        .call(
            "POST",
            &format!("/api/v1/customers/{id}/tags"),
            &app.key,
            Some(json!({"tags": ["高频复购"], "source": "rule"})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem, _) = app
        .call(
            "POST",
            &format!("/api/v1/customers/{id}/tags"),
            &app.key,
            Some(json!({"tags": ["高频复购"], "source": "guess"})),
        )
        .await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("source")));
    let (_, customer, _) = app.call("GET", &format!("/api/v1/customers/{id}"), &app.key, None).await;
    assert_eq!(customer["tags"][0]["source"], "rule");
    assert_eq!(customer["tags"][0]["family"], "behaviour");
    let (_, tags, _) = app.call("GET", "/api/v1/tags", &app.key, None).await;
    assert_eq!(tags[0]["customer_count"], 1);
    let (status, note, _) =
        app.call("POST", &format!("/api/v1/customers/{id}/notes"), &app.key, Some(json!({"body": "喜欢少糖"}))).await;
    assert_eq!(status, 201);
    assert!(note["author"].as_str().unwrap().starts_with("key:sy_sk_"), "{note}");
    let (_, notes, _) = app.call("GET", &format!("/api/v1/customers/{id}/notes"), &app.key, None).await;
    assert_eq!(notes[0]["body"], "喜欢少糖");
    let (status, _, _) = app.call("DELETE", &format!("/api/v1/customers/{id}/tags/高频复购"), &app.key, None).await;
    assert_eq!(status, 204);
}
