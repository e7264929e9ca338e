//! What a new user of the console meets on the demo brand: no English left in the Chinese interface
//! (segment builder, error reasons, trait names), a customer count that follows the filter, and
//! segment members and the recall list as paged customers with a CSV export.

use crate::console_support::{ANALYST, EN, OWNER, PASSWORD, ZH, csrf_in, fragment, get, logged_in, post};
use crate::{Backend, TestApp, spawn_app};
use siyu_domain::access::{Principal, Role};

/// The demo brand (300 customers and their behaviour) with an owner and an analyst.
async fn demo_app() -> (TestApp, Principal) {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    siyu::demo::run(&app.services, 300, 7, false).await.unwrap();
    let ws = app.services.access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    for (email, name, role) in [(OWNER, "王店长", Role::Owner), (ANALYST, "分析师小陈", Role::Analyst)] {
        app.services.access.add_user(ws.id, email, name, PASSWORD, role).await.unwrap();
    }
    (app, Principal::cli(ws.id))
}

/// Returns a new owner secret key of the demo workspace.
async fn owner_key(app: &TestApp, owner: &Principal) -> String {
    let kind = siyu_domain::access::api_keys::KeyKind::Secret;
    app.services.access.create_key(owner, kind, Role::Owner, "ux").await.unwrap().1
}

/// Words that stay as they are in the Chinese interface (besides acronyms such as API, RFM or KOC,
/// which Chinese text writes in Latin letters too): product and standard names, and the segment
/// language's keywords (which the text form is written in).
const ALLOWED: &[&str] = &[
    "siyu",
    "UnionID",
    "OpenID",
    "Chayu",
    "English",
    "JavaScript",
    "ECharts",
    "Gamma",
    "Asia",
    "Shanghai",
    "tag",
    "did",
    "trait",
    "rfm",
    "class",
    "lifecycle",
    "tier",
    "health",
    "ltv",
    "churn_risk",
    "recall",
    "not",
    "and",
    "or",
    "count",
    "sum",
    "avg",
    "within",
    "between",
    "where",
    "first",
    "last",
    "true",
    "false",
    "in",
    "contains",
    "exists",
    "before",
    "after",
    "consent",
    "segment",
    "has_identity",
];

/// Drops every span of `html` from `opening` to `closing` (both included).
fn without(mut html: String, opening: &str, closing: &str) -> String {
    while let Some(start) = html.find(opening) {
        let after = start + opening.len();
        let end = html[after..].find(closing).map_or(html.len(), |e| after + e + closing.len());
        html.replace_range(start..end, " ");
    }
    html
}

/// Returns the visible words of a page that are English and not allowed: the text between tags and
/// the placeholder, aria-label and title attributes, with code and quoted values left out.
pub(crate) fn english_words(html: &str) -> Vec<String> {
    let mut html = html.to_string();
    for (opening, closing) in [
        ("<script", "</script>"),
        ("<style", "</style>"),
        ("<code", "</code>"),
        ("<textarea", "</textarea>"),
        // Event and property names the workspace sent, listed as data.
        ("<span class=\"chip mono\"", "</span>"),
    ] {
        html = without(html, opening, closing);
    }
    let mut visible = String::new();
    for attribute in ["placeholder=\"", "aria-label=\"", "title=\""] {
        for part in html.split(attribute).skip(1) {
            visible.push_str(part.split('"').next().unwrap_or_default());
            visible.push(' ');
        }
    }
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                visible.push(' ');
            }
            c if !in_tag => visible.push(c),
            _ => {}
        }
    }
    words_of(&visible)
}

/// The English words of a visible text that are not allowed.
fn words_of(text: &str) -> Vec<String> {
    let text = text.replace("&quot;", "\"").replace("&#34;", "\"").replace("&amp;", "&").replace("&#39;", "'");
    let text = without(without(text, "\"", "\""), "“", "”");
    text.split_whitespace()
        .filter(|token| !token.contains('@') && !token.contains("://") && !token.bytes().any(|b| b.is_ascii_digit()))
        .flat_map(|token| token.split(|c: char| !(c.is_ascii_alphabetic() || c == '_')).map(str::to_string))
        .filter(|word| word.len() >= 2 && !ALLOWED.contains(&word.as_str()))
        .filter(|word| !word.bytes().all(|b| b.is_ascii_uppercase()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chinese_console_shows_no_english_in_segments_customers_and_errors() {
    let (app, owner) = demo_app().await;
    let zh = logged_in(&app, OWNER, ZH).await;
    let first = siyu_domain::customers::CustomerQuery { page: siyu_core::PageRequest::first(1), ..Default::default() };
    let customer = app.services.customers.search_customers(&owner, &first).await.unwrap().items[0].id.0;
    let mut pages = Vec::new();
    for path in [
        "/segments".to_string(),
        "/segments/new".into(),
        "/segments/sh-repeat-buyers".into(),
        "/customers".into(),
        format!("/customers/{customer}"),
        "/customers?trait=city".into(),
        "/customers/999999999".into(),
        "/analytics/funnel?steps=Product+Viewed%2CNo+Such+Event".into(),
    ] {
        let (_, page) = get(&zh, &app, &path).await;
        pages.push((path, page));
    }
    let (_, form) = get(&zh, &app, "/segments/new").await;
    let csrf = csrf_in(&form);
    for text in
        ["tag(\"高频复购\") and\n trait.city ==", "consent(\"spam\", \"sms\")", "did(\"Order Completed\", within 3x)"]
    {
        let (status, page) =
            post(&zh, &app, "/segments", &[("_csrf", &csrf), ("key", "bad"), ("name", "坏"), ("text", text)]).await;
        assert_eq!(status, 422, "{page}");
        pages.push((format!("POST /segments {text}"), page));
    }
    for (path, page) in &pages {
        let words = english_words(page);
        assert!(words.is_empty(), "{path} shows English in Chinese: {words:?}");
    }
    // The builder's row kinds, placeholders and choices (drawn by segments.js) are in Chinese.
    let builder = fragment(&pages[1].1, "data-config=\"", "\"></div>").trim_start_matches("data-config=\"");
    let config: serde_json::Value =
        serde_json::from_str(&builder.replace("&quot;", "\"").replace("&#34;", "\"")).unwrap();
    let mut labels = Vec::new();
    for kind in config["kinds"].as_array().unwrap() {
        labels.push(kind[1].as_str().unwrap().to_string());
    }
    for (_, text) in config["placeholders"].as_object().unwrap() {
        labels.push(text.as_str().unwrap().to_string());
    }
    for (_, choices) in config["choices"].as_object().unwrap() {
        labels.extend(choices.as_array().unwrap().iter().map(|c| c[1].as_str().unwrap().to_string()));
    }
    assert!(labels.len() > 30, "{labels:?}");
    let words = words_of(&labels.join(" "));
    assert!(words.is_empty(), "the builder shows English in Chinese: {words:?}");
    // The live preview's errors and warnings are in Chinese too.
    for text in ["tag(\"无此标签\")", "did(\"Order Completed\" within 3d)"] {
        let response =
            zh.get(format!("{}/segments/preview", app.base_url)).query(&[("text", text)]).send().await.unwrap();
        let answer: serde_json::Value = response.json().await.unwrap();
        let warnings: Vec<&str> =
            answer["warnings"].as_array().map(|w| w.iter().filter_map(|w| w.as_str()).collect()).unwrap_or_default();
        let shown = format!("{} {}", answer["error"]["reason"].as_str().unwrap_or_default(), warnings.join(" "));
        assert!(shown.trim().len() > 5, "the preview of {text} answers an error or a warning: {answer}");
        let words = words_of(&shown);
        assert!(words.is_empty(), "preview of {text} shows English in Chinese: {shown}");
    }
    // The English console keeps the domain's words.
    let en = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&en, &app, "/customers?trait=city").await;
    assert!(page.contains("must look like key=value"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_count_follows_the_filter() {
    let (app, owner) = demo_app().await;
    let zh = logged_in(&app, OWNER, ZH).await;
    let total = app.services.customers.customer_count(&owner).await.unwrap();
    let (_, page) = get(&zh, &app, "/customers").await;
    assert!(fragment(&page, r#"id="customer-total""#, "</span>").contains(&format!("共 {total} 位客户")), "{page}");
    let query = siyu_domain::customers::CustomerQuery {
        tags: vec!["高频复购".into()],
        traits: vec!["city=上海".into()],
        ..Default::default()
    };
    let found = app.services.customers.count_customers(&owner, &query).await.unwrap();
    assert!(found > 0 && found < total, "{found} of {total}");
    let response = zh
        .get(format!("{}/customers", app.base_url))
        .query(&[("tag", "高频复购"), ("trait", "city=上海")])
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    let shown = fragment(&page, r#"id="customer-total""#, "</span>");
    assert!(shown.contains(&format!("找到 {found} 位客户（共 {total} 位）")), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_members_and_the_recall_list_are_paged_masked_customers_with_a_csv_export() {
    let (app, owner) = demo_app().await;
    let input = siyu_domain::segments::SegmentInput {
        key: "viewers".into(),
        name: Some("浏览过商品".into()),
        definition: None,
        text: Some("did(\"Product Viewed\")".into()),
    };
    let view = app.services.segments.save_segment(&owner, &input, false).await.unwrap();
    assert!(view.size > 25, "the demo segment spans pages: {}", view.size);
    // The owner sees customers (names, phones) 25 at a time, and pages through all of them.
    let client = logged_in(&app, OWNER, ZH).await;
    let mut path = "/segments/viewers".to_string();
    let mut seen = 0;
    loop {
        let (status, page) = get(&client, &app, &path).await;
        assert_eq!(status, 200);
        let members = fragment(&page, r#"id="segment-members""#, "</section>");
        assert!(members.contains(&format!("共 {} 位成员", view.size)), "{members}");
        let rows = members.matches("<tr data-customer-id=").count();
        assert!(rows <= 25 && rows > 0);
        seen += rows;
        match members.split(r#"id="members-next" href=""#).nth(1) {
            Some(rest) => path = rest.split('"').next().unwrap().replace("&amp;", "&"),
            None => break,
        }
    }
    assert_eq!(seen as u64, view.size);
    // The analyst sees the same members masked, and so does their CSV (with a BOM for Excel).
    let agent = logged_in(&app, ANALYST, ZH).await;
    let (_, page) = get(&agent, &app, "/segments/viewers").await;
    let members = fragment(&page, r#"id="segment-members""#, "</section>");
    assert!(members.contains(r#"class="mono phone masked""#), "{members}");
    let response = agent.get(format!("{}/segments/viewers/members.csv", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("viewers.csv"));
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}customer_id,".as_bytes()), "{:?}", &body[..20]);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text.lines().count() as u64, view.size + 1);
    assert!(text.contains("****") && !text.contains("\"phone\":[\"+861"), "masked for the analyst");
    // The recall list: every customer on it, a page at a time, and as CSV.
    let (total, _) = app.services.models.recall_list(&owner, siyu_core::PageRequest::first(1)).await.unwrap();
    assert!(total > 25, "the demo's recall list spans pages: {total}");
    let (status, page) = get(&client, &app, "/models/recall").await;
    assert_eq!(status, 200);
    let table = fragment(&page, r#"id="recall-table""#, "</table>");
    assert_eq!(table.matches("<tr data-customer-id=").count(), 25);
    assert!(page.contains(r#"id="recall-next""#) && page.contains("¥"), "{page}");
    let response = client.get(format!("{}/models/recall.csv", app.base_url)).send().await.unwrap();
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with("\u{feff}customer_id,name,phone".as_bytes()));
    assert_eq!(String::from_utf8(body.to_vec()).unwrap().lines().count() as u64, total + 1);
    // The API's export carries the BOM too, and the favicon is served.
    let response = app
        .http
        .get(format!("{}/api/v1/segments/viewers/export", app.base_url))
        .bearer_auth(owner_key(&app, &owner).await)
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.unwrap().starts_with("\u{feff}".as_bytes()));
    let favicon = app.http.get(format!("{}/favicon.ico", app.base_url)).send().await.unwrap();
    assert_eq!(favicon.status(), 200);
    assert_eq!(favicon.headers()["content-type"], "image/x-icon");
}
