//! Console analytics pages: the KPI dashboard (the analysts' home page), funnel, retention, RFM,
//! event segmentation and paths over imported events (the golden fixture small-2), checked over
//! HTTP against the domain's answers in both languages, for roles with and without
//! `analytics:read`, with bad parameters, and in headless Chromium where ECharts draws the charts.

use crate::console_support::{AGENT, ANALYST, Browser, EN, OWNER, PASSWORD, ZH, fragment, get, logged_in};
use crate::{Backend, TestApp, spawn_app};
use serde_json::{Value, json};
use siyu_analytics::Granularity;
use siyu_domain::access::Role;
use siyu_domain::events::analytics::{SegmentationOptions, SeriesSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const STEPS: &str = "Signed Up,Product Added,Checkout Started,Order Completed";
/// The reference engines' funnel over [`STEPS`] in small-2 with a 7-day window.
const FUNNEL: [(&str, u64); 4] =
    [("Signed Up", 1698), ("Product Added", 636), ("Checkout Started", 446), ("Order Completed", 356)];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../siyu-analytics/tests/fixtures").join(name)
}

/// Starts a server with an owner, an analyst and a cs_agent, and (if `events`) small-2's events.
async fn analytics_app(events: bool) -> TestApp {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let ws = app.owner.workspace_id();
    for (email, name, role) in
        [(OWNER, "王店长", Role::Owner), (ANALYST, "分析师小陈", Role::Analyst), (AGENT, "客服小张", Role::CsAgent)]
    {
        app.services.access.add_user(ws, email, name, PASSWORD, role).await.unwrap();
    }
    if events {
        let report = siyu::event_import::import(&app.services, &app.owner, &fixture("small-2.parquet"), |_, _| {})
            .await
            .unwrap();
        assert_eq!((report.rows, report.failed), (30_000, 0));
    }
    app
}

/// Returns the funnel table's rows as (event, customers).
fn funnel_rows(page: &str) -> Vec<(String, u64)> {
    let table = fragment(page, r#"id="funnel-table""#, "</table>");
    table
        .split(r#"<tr class="funnel-step""#)
        .skip(1)
        .map(|row| {
            let cell = |class: &str| {
                let opening = format!(r#"<td class="{class}">"#);
                fragment(row, &opening, "</td>")[opening.len()..].to_string()
            };
            (cell("event"), cell("customers").parse().unwrap())
        })
        .collect()
}

/// Returns the JSON of a chart's `data-chart` attribute (HTML-escaped in the page).
fn chart_spec(page: &str, id: &str) -> Value {
    let element = fragment(page, &format!(r#"id="{id}""#), ">");
    let attribute = fragment(element, r#"data-chart=""#, "\"");
    let json = attribute[r#"data-chart=""#.len()..]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("{id}: {error}: {json}"))
}

/// Returns the text of the first `<{tag} class="{class}">` in `html`.
fn cell<'a>(html: &'a str, tag: &str, class: &str) -> &'a str {
    let opening = format!(r#"<{tag} class="{class}">"#);
    &fragment(html, &opening, "</")[opening.len()..]
}

/// Returns the dashboard's KPI cards: key → (exact value, shown value, hint).
fn kpi_cards(page: &str) -> BTreeMap<String, (String, String, String)> {
    let cards = fragment(page, r#"id="kpi-cards""#, "</section>");
    cards
        .split(r#"data-kpi=""#)
        .skip(1)
        .map(|card| {
            let key = card.split('"').next().unwrap().to_string();
            let raw = fragment(card, r#"data-value=""#, "\"")[r#"data-value=""#.len()..].to_string();
            let hint =
                if card.contains("kpi-hint") { cell(card, "div", "kpi-hint").to_string() } else { String::new() };
            (key, (raw, cell(card, "div", "kpi-value").to_string(), hint))
        })
        .collect()
}

/// Returns the paths table's rows as (step, from, to, customers).
fn path_rows(page: &str) -> Vec<(usize, String, String, u64)> {
    let table = fragment(page, r#"id="paths-table""#, "</table>");
    table
        .split(r#"<tr class="path-link" data-step=""#)
        .skip(1)
        .map(|row| {
            let step = row.split('"').next().unwrap().parse().unwrap();
            let customers = cell(row, "td", "customers").parse().unwrap();
            (step, cell(row, "td", "event from").to_string(), cell(row, "td", "event to").to_string(), customers)
        })
        .collect()
}

fn funnel_path() -> String {
    format!("/analytics/funnel?steps={}&window=7d", STEPS.replace(' ', "%20"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sees_the_reference_funnel_in_both_languages() {
    let app = analytics_app(true).await;
    let expected: Vec<(String, u64)> = FUNNEL.iter().map(|(event, n)| (event.to_string(), *n)).collect();
    for (lang, heading, column) in [(ZH, "漏斗分析", "总体转化率"), (EN, "Funnel analysis", "Overall conversion")]
    {
        let client = logged_in(&app, ANALYST, lang).await;
        let (_, customers) = get(&client, &app, "/customers").await;
        assert!(customers.contains(r#"id="nav-analytics" href="/analytics/funnel""#), "analysts see the link");
        let (status, page) = get(&client, &app, &funnel_path()).await;
        assert_eq!(status, 200, "{page}");
        assert!(fragment(&page, r#"id="analytics-heading""#, "</h1>").contains(heading), "{lang}");
        assert!(fragment(&page, r#"id="funnel-table""#, "</thead>").contains(column), "{lang}");
        assert_eq!(funnel_rows(&page), expected, "{lang}");
        let table = fragment(&page, r#"id="funnel-table""#, "</table>");
        assert!(table.contains("37.5%"), "636 of 1698 is 37.5 %: {table}");
        // The chart gets the same numbers (HTML-escaped JSON in its data attribute).
        let chart = fragment(&page, r#"id="funnel-chart""#, ">");
        for (_, customers) in FUNNEL {
            assert!(chart.contains(&format!("&#34;value&#34;:{customers}")), "{chart}");
        }
        assert!(page.contains(r#"<script src="/assets/vendor/echarts/echarts.min.js" defer></script>"#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_defaults_to_the_first_events_and_the_assets_are_served() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, OWNER, EN).await;
    let (status, page) = get(&client, &app, "/analytics/funnel").await;
    assert_eq!(status, 200);
    let names: Vec<String> =
        app.services.events.event_index(&app.owner).await.unwrap().names.names().iter().take(4).cloned().collect();
    let shown: Vec<String> = funnel_rows(&page).into_iter().map(|(event, _)| event).collect();
    assert_eq!(shown, names, "the workspace's first four events");
    assert!(page.contains(&format!(r#"name="steps" value="{}""#, names.join(","))), "and the form says so");
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Order%20Completed&window=1d").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"<option value="1d" selected>1 day</option>"#));
    for asset in ["/assets/vendor/echarts/echarts.min.js", "/assets/analytics.js"] {
        let response = client.get(format!("{}{asset}", app.base_url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_show_the_error_next_to_the_form_with_422() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Nope&window=7d").await;
    assert_eq!(status, 422);
    let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
    assert!(errors.contains(r#"data-field="steps[1]""#) && errors.contains("Step 2"), "{errors}");
    assert!(errors.contains("unknown event &#34;Nope&#34;"), "{errors}");
    assert!(page.contains(r#"id="funnel-form""#) && page.contains(r#"value="Signed Up,Nope""#), "the form is kept");
    assert!(!page.contains(r#"id="funnel-table""#));

    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up,Order%20Completed&window=7y").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains(r#"data-field="window""#));
    let (status, page) = get(&client, &app, "/analytics/funnel?steps=Signed%20Up").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains("at least 2 steps"));

    let zh = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&zh, &app, "/analytics/retention?period=year").await;
    assert_eq!(status, 422);
    let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
    assert!(errors.contains("周期") && errors.contains("应为 day、week 或 month"), "{errors}");
    let (status, page) = get(&zh, &app, "/analytics/retention?period=week&cohort_event=Nope").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains("入组事件"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cs_agent_gets_403_and_no_analytics_link() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, AGENT, ZH).await;
    let paths = ["/analytics/funnel", "/analytics/retention?period=week", "/analytics/rfm"];
    for path in paths.into_iter().chain(["/analytics/segmentation", "/analytics/paths?event=Signed%20Up"]) {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("无权访问") && page.contains("analytics:read"), "{path}: {page}");
    }
    let (_, page) = get(&client, &app, "/customers").await;
    assert!(!page.contains(r#"id="nav-analytics""#), "the navigation hides analytics");
    let (status, _) = get(&client, &app, "/analytics/funnel?steps=Nope").await;
    assert_eq!(status, 403, "the permission is checked before the parameters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_rfm_pages_show_the_domain_answers() {
    let app = analytics_app(true).await;
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let retention = index
        .retention(
            &tz,
            Granularity::Week,
            (None, None),
            siyu_domain::events::analytics::Dates::all(app.services.now().as_microsecond()),
            &[],
        )
        .unwrap();
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/analytics/retention?period=week").await;
    assert_eq!(status, 200);
    assert!(page.contains("Retention analysis") && page.contains("Asia/Shanghai"));
    let table = fragment(&page, r#"id="retention-table""#, "</table>");
    let first = &retention.rows[0];
    let row = fragment(table, &format!(r#"<tr data-cohort="{}">"#, first.cohort), "</tr>");
    assert!(row.contains(&format!(r#"<td class="size">{}</td>"#, first.customers)), "{row}");
    assert!(row.contains("100.0%"), "{row}");
    let cohorts = retention.rows.iter().filter(|r| r.period == 0).count();
    assert_eq!(table.matches("<tr data-cohort=").count(), cohorts);
    assert!(table.contains("<th>Week 1</th>"));
    assert!(fragment(&page, r#"id="retention-chart""#, ">").contains("&#34;heatmap&#34;"));

    let rfm = index.rfm(None, app.services.now().as_microsecond()).unwrap();
    let (status, page) = get(&client, &app, "/analytics/rfm").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("Customers with orders: {}", rfm.customers)), "{page}");
    let grid = fragment(&page, r#"id="rfm-grid""#, "</table>");
    let total: u64 =
        grid.split("<td><b>").skip(1).map(|cell| cell.split('<').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, rfm.customers, "the R × F grid sums to the scored customers: {grid}");
    assert_eq!(fragment(&page, r#"id="rfm-cells""#, "</table>").matches("<tr data-rfm=").count(), rfm.cells.len());
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("small-2.answers.json")).unwrap()).unwrap();
    let reference: u64 =
        expected["rfm"]["cells"].as_array().unwrap().iter().map(|c| c["customers"].as_u64().unwrap()).sum();
    assert_eq!(rfm.customers, reference, "the page's number is the reference engines'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_without_events_shows_an_empty_state() {
    let app = analytics_app(false).await;
    let client = logged_in(&app, OWNER, ZH).await;
    for path in
        ["/analytics/funnel", "/analytics/retention", "/analytics/rfm", "/analytics/segmentation", "/analytics/paths"]
    {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(fragment(&page, r#"id="analytics-empty""#, "</section>").contains("还没有行为事件"), "{path}");
        assert!(!page.contains("data-chart="), "{path}: no chart without data");
    }
    for path in ["/analytics/funnel?steps=A,B", "/analytics/segmentation?events=A&from=x", "/analytics/paths?event=A"] {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 200, "{path}: with no events the page shows the empty state, not an error");
        assert!(page.contains(r#"id="analytics-empty""#), "{path}");
    }
    // The dashboard says how to send the first events.
    let (status, page) = get(&client, &app, "/").await;
    assert_eq!(status, 200);
    let empty = fragment(&page, r#"id="home-empty""#, "</section>");
    assert!(empty.contains("还没有行为事件") && empty.contains("写入密钥"), "{empty}");
    assert!(empty.contains(&format!("curl {}/v1/batch -u", app.base_url)), "{empty}");
    assert!(empty.contains("siyu import events events.parquet --workspace brand"), "{empty}");
    assert!(empty.contains(r#"href="/keys""#), "owners get a link to create a write key");
    assert!(!page.contains("data-chart=") && !page.contains(r#"id="kpi-cards""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_home_is_a_dashboard_with_the_domain_kpis() {
    let app = analytics_app(true).await;
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let passive = siyu_domain::models::ModelSettings::default().passive_events;
    let kpis = index.kpis(&tz, None, app.services.now().as_microsecond(), &passive).unwrap();
    // `logged_in` checks that the analyst lands on `/`.
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/").await;
    assert_eq!(status, 200);
    assert!(fragment(&page, r#"id="home-heading""#, "</h1>").contains("Overview"));
    assert!(page.contains(r#"id="nav-home" href="/" class="active""#), "the navigation marks the home page");
    let as_of = fragment(&page, r#"id="home-as-of""#, "</span>");
    assert!(as_of.contains(&kpis.as_of) && as_of.contains("Asia/Shanghai"), "{as_of}");

    let cards = kpi_cards(&page);
    let expected = serde_json::to_value(&kpis).unwrap();
    let expected: BTreeMap<&str, &Value> = expected
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .filter(|(k, _)| !["as_of", "complete", "tz"].contains(k))
        .collect();
    assert_eq!(cards.keys().map(String::as_str).collect::<Vec<_>>(), expected.keys().copied().collect::<Vec<_>>());
    for (key, value) in expected {
        let (raw, shown, hint) = &cards[key];
        match value.as_f64() {
            Some(number) => assert_eq!(raw.parse::<f64>().unwrap(), number, "{key}: {raw}"),
            None => {
                assert!(value.is_null(), "{key}");
                assert_eq!((raw.as_str(), shown.as_str()), ("", "—"), "{key} has no value");
                assert!(!hint.is_empty(), "{key} says why");
            }
        }
    }
    assert_eq!(cards["dau"].1.replace(',', ""), kpis.dau.to_string());
    assert!(cards["gmv_30d"].1.starts_with('¥'), "GMV in the workspace currency: {:?}", cards["gmv_30d"]);
    // small-2 has no sent messages nor issued coupons: those rates cannot be computed.
    assert_eq!(kpis.message_open_rate, None);
    assert!(cards["message_open_rate"].2.contains("No Message Sent or Message Delivered events"));
    assert!(cards["coupon_redemption_rate"].2.contains("Coupon Issued"));

    // The charts cover the 30 days ending on the KPIs' day; their orders and GMV add up to the cards'.
    let activity = chart_spec(&page, "activity-chart");
    let days = activity["x"].as_array().unwrap();
    assert_eq!((days.len(), days.last().unwrap().as_str()), (30, Some(kpis.as_of.as_str())));
    let lines = activity["measures"][0]["series"].as_array().unwrap();
    assert_eq!(lines[0]["name"], "Daily active customers");
    assert_eq!(lines[0]["data"][29].as_u64(), Some(kpis.dau), "the line ends on the DAU card's number");
    assert_eq!(lines[1]["name"], "Orders");
    let total = |line: &Value| line["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).sum::<f64>();
    assert_eq!(total(&lines[1]), kpis.orders_30d as f64);
    let gmv = chart_spec(&page, "gmv-chart");
    assert!((total(&gmv["measures"][0]["series"][0]) - kpis.gmv_30d).abs() < 0.005, "{gmv}");
    assert_eq!(gmv["money"]["prefix"], "¥");

    let zh = logged_in(&app, ANALYST, ZH).await;
    let (_, page) = get(&zh, &app, "/").await;
    assert!(fragment(&page, r#"id="home-heading""#, "</h1>").contains("经营概览"));
    assert!(kpi_cards(&page)["message_open_rate"].2.contains("30 天内没有 Message Sent"));
}

/// Appends one track event per (customer, name, instant).
async fn append(app: &TestApp, events: &[(siyu_core::CustomerId, &str, i64)]) {
    let events: Vec<_> = events.iter().map(|(customer, name, ts_us)| (*customer, *name, *ts_us, "{}")).collect();
    append_with(app, &events).await;
}

/// Appends one track event per (customer, name, instant, properties).
async fn append_with(app: &TestApp, events: &[(siyu_core::CustomerId, &str, i64, &str)]) {
    let now_us = app.services.now().as_microsecond();
    let events: Vec<siyu_domain::events::NewEvent> = events
        .iter()
        .map(|(customer, name, ts_us, properties)| siyu_domain::events::NewEvent {
            customer: *customer,
            kind: siyu_domain::events::EventKind::Track,
            name: (*name).into(),
            ts_us: *ts_us,
            received_us: now_us,
            message_id: String::new(),
            user_id: String::new(),
            anonymous_id: String::new(),
            properties: (*properties).into(),
            context: "{}".into(),
        })
        .collect();
    app.services.events.append_events(&app.owner, &events).await.unwrap();
}

/// Returns the funnel breakdown table's rows as (value, customers per step).
fn breakdown_rows(page: &str) -> Vec<(String, Vec<u64>)> {
    let table = fragment(page, r#"id="funnel-breakdown-table""#, "</table>");
    table
        .split(r#"<tr class="funnel-group">"#)
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|cell| &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()])
                .collect();
            let counts = cells[1..cells.len() - 1].iter().map(|c| c.parse().unwrap()).collect();
            (cells[0].to_string(), counts)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funnel_breakdown_reads_the_step_the_form_names() {
    let app = analytics_app(false).await;
    let ids =
        app.services.events.customers_for_user_ids(&app.owner, &["a".into(), "b".into(), "c".into()]).await.unwrap();
    let at = |hour: i64| app.services.now().as_microsecond() - (48 - hour) * 3_600_000_000;
    // `channel` exists only on orders: a and b order through WeChat and the mini program, c only views.
    append_with(
        &app,
        &[
            (ids[0], "Product Viewed", at(0), "{}"),
            (ids[0], "Order Completed", at(1), r#"{"channel": "wechat"}"#),
            (ids[1], "Product Viewed", at(0), "{}"),
            (ids[1], "Order Completed", at(2), r#"{"channel": "mini_program"}"#),
            (ids[2], "Product Viewed", at(0), "{}"),
        ],
    )
    .await;
    let base = "/analytics/funnel?steps=Product%20Viewed,Order%20Completed&window=7d&breakdown=channel";
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, base).await;
    assert_eq!(status, 200);
    assert_eq!(breakdown_rows(&page), vec![("(none)".to_string(), vec![3, 2])], "step 1 has no channel");
    assert!(page.contains(r#"<option value="first" selected>"#), "the form says which step it reads");
    assert!(fragment(&page, r#"id="funnel-attribution-note""#, "</p>").contains("step-1 event"));
    let (status, page) = get(&client, &app, &format!("{base}&attribution=last")).await;
    assert_eq!(status, 200);
    let mut rows = breakdown_rows(&page);
    rows.sort();
    assert_eq!(
        rows,
        vec![("(none)".into(), vec![1, 0]), ("mini_program".into(), vec![1, 1]), ("wechat".into(), vec![1, 1])]
    );
    assert!(page.contains(r#"<option value="last" selected>"#));
    assert!(page.contains(r#"<option value="step 2">Step 2&#39;s event: “Order Completed”</option>"#), "{page}");
    assert!(fragment(&page, r#"id="funnel-attribution-note""#, "</p>").contains("the last step they reached"));

    let zh = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&zh, &app, &format!("{base}&attribution=step%202")).await;
    assert_eq!(status, 200);
    assert_eq!(breakdown_rows(&page).len(), 3);
    assert!(page.contains(r#"<option value="step 2" selected>第 2 步的事件：“Order Completed”</option>"#));
    assert!(fragment(&page, r#"id="funnel-attribution-note""#, "</p>").contains("第 2 步事件"));
    for bad in ["middle", "step%203"] {
        let (status, page) = get(&zh, &app, &format!("{base}&attribution={bad}")).await;
        assert_eq!(status, 422, "{bad}");
        let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
        assert!(errors.contains(r#"data-field="attribution""#) && errors.contains("取值来自"), "{errors}");
        assert!(errors.contains("应为 first") || errors.contains("超出了漏斗的最后一步"), "{errors}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_reads_the_last_complete_day_of_customer_activity_not_siyus_own_events() {
    let app = analytics_app(false).await;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let now = app.services.now();
    let today = now.to_zoned(tz.clone()).date();
    let noon = |days_ago: i64| {
        let day = today.checked_sub(jiff::Span::new().days(days_ago)).unwrap();
        day.at(12, 0, 0, 0).to_zoned(tz.clone()).unwrap().timestamp().as_microsecond()
    };
    let ids =
        app.services.events.customers_for_user_ids(&app.owner, &["a".into(), "b".into(), "c".into()]).await.unwrap();
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    // Customers act on the three days before today; today only siyu's own bookkeeping (and a message
    // the brand sent) is recorded for everyone, "now", plus one customer's visit.
    append(&app, &[(a, "Page Viewed", noon(3)), (a, "Page Viewed", noon(1)), (b, "Page Viewed", noon(2))]).await;
    append(&app, &[(b, "Order Completed", noon(1)), (c, "Message Sent", noon(1))]).await;
    let now_us = now.as_microsecond();
    append(&app, &[(a, "Segment Entered", now_us), (b, "Segment Entered", now_us), (c, "Segment Entered", now_us)])
        .await;

    let yesterday = today.yesterday().unwrap().to_string();
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/").await;
    assert_eq!(status, 200);
    let as_of = fragment(&page, r#"id="home-as-of""#, "</span>");
    assert!(as_of.contains(&yesterday) && as_of.contains("last complete day"), "{as_of}");
    let cards = kpi_cards(&page);
    assert_eq!(cards["dau"].0, "2", "a and b acted yesterday; c only received a message");
    assert_eq!(cards["new_customers_30d"].0, "2", "c never acted: not a new customer");
    assert_eq!(cards["retention_d1"].0, "1", "b, first seen two days ago, came back yesterday");
    let activity = chart_spec(&page, "activity-chart");
    let days = activity["x"].as_array().unwrap();
    assert_eq!((days.len(), days.last().unwrap().as_str()), (30, Some(yesterday.as_str())));
    assert_eq!(activity["partial_from"], Value::Null, "a complete day is drawn solid");
    let dau = &activity["measures"][0]["series"][0];
    assert_eq!(dau["name"], "Daily active customers");
    let tail: Vec<u64> = dau["data"].as_array().unwrap()[27..].iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(tail, [1, 1, 2], "the line counts as the DAU card does");
    assert!(fragment(&page, r#"id="activity-note""#, "</p>").contains("passive events"));

    // Today, asked for, is marked and drawn as partial; the passive events count for nobody.
    let (status, page) = get(&client, &app, "/?day=today").await;
    assert_eq!(status, 200);
    let as_of = fragment(&page, r#"id="home-as-of""#, "</span>");
    assert!(as_of.contains(&today.to_string()) && as_of.contains("today so far"), "{as_of}");
    assert_eq!(kpi_cards(&page)["dau"].0, "0");
    let activity = chart_spec(&page, "activity-chart");
    assert_eq!(
        (activity["x"][29].as_str(), activity["partial_from"].as_u64()),
        (Some(today.to_string().as_str()), Some(29))
    );
    let (status, page) = get(&client, &app, &format!("/?day={}", noon_date(&tz, noon(2)))).await;
    assert_eq!((status, kpi_cards(&page)["dau"].0.as_str()), (200, "1"));
    let zh = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&zh, &app, "/?day=yesterday-ish").await;
    assert_eq!(status, 422);
    let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
    assert!(errors.contains(r#"data-field="as_of""#) && errors.contains("不是日期"), "{errors}");

    // The API answers the same, and says whether the day is over; retention on "any event" skips
    // the passive ones unless they are asked for by name.
    let (status, kpi, _) = app.call("POST", "/api/v1/analytics/kpi", &app.key, Some(json!({}))).await;
    assert_eq!(
        (status, kpi["as_of"].as_str(), kpi["complete"].as_bool(), kpi["dau"].as_u64()),
        (200, Some(yesterday.as_str()), Some(true), Some(2))
    );
    let (_, kpi, _) =
        app.call("POST", "/api/v1/analytics/kpi", &app.key, Some(json!({"as_of": today.to_string()}))).await;
    assert_eq!((kpi["complete"].as_bool(), kpi["dau"].as_u64()), (Some(false), Some(0)));
    let retention = |body: Value| {
        let app = &app;
        async move {
            let (status, answer, _) = app.call("POST", "/api/v1/analytics/retention", &app.key, Some(body)).await;
            assert_eq!(status, 200, "{answer}");
            let rows: Vec<(String, i64, u64)> = answer["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["cohort"].as_str().unwrap().to_string(),
                        r["period"].as_i64().unwrap(),
                        r["customers"].as_u64().unwrap(),
                    )
                })
                .collect();
            rows
        }
    };
    let any = retention(json!({"period": "day"})).await;
    assert_eq!(any.iter().filter(|r| r.1 == 0).map(|r| r.2).sum::<u64>(), 2, "c is in no cohort: {any:?}");
    assert!(any.iter().all(|r| r.0 != today.to_string()), "today's segment entries return nobody: {any:?}");
    let entered = retention(json!({"period": "day", "cohort_event": "Segment Entered"})).await;
    assert_eq!(entered, vec![(today.to_string(), 0, 3)]);
}

fn noon_date(tz: &jiff::tz::TimeZone, us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).unwrap().to_zoned(tz.clone()).date().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cs_agent_home_is_still_the_customer_list() {
    let app = analytics_app(false).await;
    // `logged_in` checks that the agent lands on `/customers`.
    let client = logged_in(&app, AGENT, EN).await;
    let response = client.get(format!("{}/", app.base_url)).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.url().path()), (200, "/customers"));
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"<table id="customers""#)
            && page.contains(r#"id="nav-customers" href="/customers" class="active""#)
    );
    assert!(!page.contains(r#"id="nav-home""#), "no dashboard link without analytics:read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segmentation_page_shows_the_domain_counts() {
    let app = analytics_app(true).await;
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let events = vec![SeriesSpec::from("Product Viewed"), SeriesSpec::from("Order Completed")];
    let plain = SegmentationOptions::default();
    let answer = index
        .segmentation(
            &tz,
            Granularity::Week,
            &events,
            &plain,
            siyu_domain::events::analytics::Dates::all(app.services.now().as_microsecond()),
        )
        .unwrap();
    let client = logged_in(&app, ANALYST, EN).await;
    let path = "/analytics/segmentation?events=Product%20Viewed,Order%20Completed&period=week";
    let (status, page) = get(&client, &app, path).await;
    assert_eq!(status, 200, "{page}");
    assert!(fragment(&page, r#"id="analytics-heading""#, "</h1>").contains("Event segmentation"));
    assert!(page.contains(r#"<option value="week" selected>"#));
    let table = fragment(&page, r#"id="segmentation-table""#, "</table>");
    assert_eq!(table.matches("<tr data-bucket=").count(), answer.buckets.len());
    let first = fragment(table, &format!(r#"<tr data-bucket="{}">"#, answer.buckets[0]), "</tr>");
    let (counts, customers) = (&answer.series[0].counts, &answer.series[0].customers);
    let expected = format!(r#"<td class="count">{}</td><td class="customers">{}</td>"#, counts[0], customers[0]);
    assert!(first.contains(&expected), "{first}");
    let totals = fragment(table, r#"id="segmentation-totals""#, "</tr>");
    let shown: Vec<u64> =
        totals.split(r#"<th class="count">"#).skip(1).map(|c| c.split('<').next().unwrap().parse().unwrap()).collect();
    let sums: Vec<u64> = answer.series.iter().map(|series| series.counts.iter().sum()).collect();
    assert_eq!(shown, sums);
    assert_eq!(sums, [14_648, 1_795], "every Product Viewed and Order Completed of small-2");
    assert!(cell(totals, "th", "revenue nowrap").starts_with('¥'), "orders get a revenue column: {totals}");
    let chart = chart_spec(&page, "segmentation-chart");
    assert_eq!(chart["x"], json!(answer.buckets));
    assert_eq!(chart["measures"][0]["series"][0]["data"], json!(answer.series[0].counts));
    assert_eq!(chart["measures"][1]["series"][1]["data"], json!(answer.series[1].customers));
    assert!(page.contains(r#"data-measures-for="segmentation-chart""#), "a toggle switches to distinct customers");

    let from = jiff::civil::date(2026, 2, 1);
    let to = jiff::civil::date(2026, 2, 7);
    let week = index
        .segmentation(
            &tz,
            Granularity::Day,
            &events[1..],
            &plain,
            siyu_domain::events::analytics::Dates::between(Some(from), Some(to), app.services.now().as_microsecond()),
        )
        .unwrap();
    let path = "/analytics/segmentation?events=Order%20Completed&period=day&from=2026-02-01&to=2026-02-07";
    let (status, page) = get(&client, &app, path).await;
    assert_eq!(status, 200);
    let totals = fragment(&page, r#"id="segmentation-totals""#, "</tr>");
    assert_eq!(cell(totals, "th", "count"), week.series[0].counts.iter().sum::<u64>().to_string());
    assert_eq!(fragment(&page, r#"id="segmentation-table""#, "</table>").matches("<tr data-bucket=").count(), 7);
    assert!(page.contains(r#"name="from" type="date" value="2026-02-01""#), "the form keeps the dates");

    // A measure adds a sum column; filters and a breakdown name what they do not know.
    let measured = SeriesSpec { measure: Some("revenue".into()), ..SeriesSpec::from("Order Completed") };
    let revenue = index
        .segmentation(
            &tz,
            Granularity::Day,
            &[measured],
            &plain,
            siyu_domain::events::analytics::Dates::between(Some(from), Some(to), app.services.now().as_microsecond()),
        )
        .unwrap();
    let path = "/analytics/segmentation?events=Order%20Completed&period=day&from=2026-02-01&to=2026-02-07&measure=revenue&filters=revenue+%3E+0";
    let (status, page) = get(&client, &app, path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"<datalist id="known-properties"><option value="revenue">"#), "{page}");
    let totals = fragment(&page, r#"id="segmentation-totals""#, "</tr>");
    let sum: f64 = cell(totals, "th", "sum").parse().unwrap();
    assert!((sum - revenue.series[0].sums.as_ref().unwrap().iter().sum::<f64>()).abs() < 0.01, "{totals}");
    let path = "/analytics/segmentation?events=Order%20Completed&breakdown=colour&filters=size+%3E+big";
    let (status, page) = get(&client, &app, path).await;
    assert_eq!(status, 422);
    assert!(
        page.contains(r#"<li data-field="breakdown">"#) && page.contains("unknown property &#34;colour&#34;"),
        "{page}"
    );
    assert!(page.contains(r#"<li data-field="filters[0].property">"#), "both mistakes are named: {page}");

    let (status, page) = get(&client, &app, "/analytics/segmentation").await;
    assert_eq!(status, 200);
    let first_three = index.names.names()[..3].join(",");
    assert!(page.contains(&format!(r#"name="events" value="{first_three}""#)), "the first three events by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_page_matches_the_domain_answer() {
    let app = analytics_app(true).await;
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    let client = logged_in(&app, ANALYST, EN).await;
    for (event, direction, depth, heading) in
        [("Signed Up", "next", 3, "Next event"), ("Order Completed", "previous", 2, "Previous event")]
    {
        let answer = index.paths(event, direction, depth).unwrap();
        let path = format!("/analytics/paths?event={}&direction={direction}&depth={depth}", event.replace(' ', "%20"));
        let (status, page) = get(&client, &app, &path).await;
        assert_eq!(status, 200, "{page}");
        let summary = fragment(&page, r#"id="paths-customers""#, "</span>");
        assert!(summary.contains(&format!("Customers who did “{event}”")), "{summary}");
        let expected: Vec<(usize, String, String, u64)> =
            answer.links.iter().map(|l| (l.step, l.from.clone(), l.to.clone(), l.customers)).collect();
        assert!(!expected.is_empty());
        assert_eq!(path_rows(&page), expected, "{path}: the table lists every flow");
        assert!(fragment(&page, r#"id="paths-table""#, "</thead>").contains(heading));

        // The Sankey chart: unique nodes, one column per step, at most eight flows out of each.
        let chart = chart_spec(&page, "paths-chart");
        let nodes = chart["nodes"].as_array().unwrap();
        let column: BTreeMap<&str, u64> =
            nodes.iter().map(|n| (n["name"].as_str().unwrap(), n["depth"].as_u64().unwrap())).collect();
        assert_eq!(column.len(), nodes.len(), "node names are unique");
        assert!(column.contains_key(format!("0 · {event}").as_str()), "the anchor is a node");
        let mut per_column: BTreeMap<u64, usize> = BTreeMap::new();
        for link in chart["links"].as_array().unwrap() {
            let (source, target) = (column[link["source"].as_str().unwrap()], column[link["target"].as_str().unwrap()]);
            assert_eq!(target, source + 1, "every flow moves one column right, so there is no cycle");
            *per_column.entry(source).or_default() += 1;
        }
        assert!(per_column.values().all(|n| *n <= 8), "{per_column:?}");
        let columns: BTreeSet<u64> = column.values().copied().collect();
        assert_eq!(columns.len(), depth + 1, "{direction}: the anchor and one column per step");
    }
    let (status, page) = get(&client, &app, "/analytics/paths").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(r#"name="event" value="{}""#, index.names.names()[0])),
        "the first event by default"
    );
    assert!(page.contains(r#"<option value="3" selected>3</option>"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segmentation_and_paths_show_bad_parameters_next_to_the_form_with_422() {
    let app = analytics_app(true).await;
    let client = logged_in(&app, ANALYST, EN).await;
    let cases = [
        (
            "/analytics/segmentation?events=Order%20Completed,Nope",
            "events[1]",
            "Event 2",
            "unknown event &#34;Nope&#34;",
        ),
        ("/analytics/segmentation?events=Order%20Completed&from=2026-13-01", "from", "From", "is not an ISO date"),
        ("/analytics/segmentation?events=Order%20Completed&from=2026-03-01&to=2026-02-01", "to", "To", "before from"),
        (
            "/analytics/segmentation?events=Order%20Completed&period=year",
            "period",
            "Period",
            "expected day, week or month",
        ),
        (
            "/analytics/segmentation?period=day&from=2000-01-01&to=2026-01-01",
            "period",
            "Period",
            "buckets are too many",
        ),
        ("/analytics/paths?event=Nope", "event", "Anchor event", "unknown event &#34;Nope&#34;"),
        (
            "/analytics/paths?event=Signed%20Up&direction=sideways",
            "direction",
            "Direction",
            "expected next or previous",
        ),
        ("/analytics/paths?event=Signed%20Up&depth=0", "depth", "Steps", "must be 1 to 10"),
        ("/analytics/paths?event=Signed%20Up&depth=deep", "depth", "Steps", "expected a whole number"),
    ];
    for (path, field, label, reason) in cases {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 422, "{path}");
        let errors = fragment(&page, r#"id="analytics-errors""#, "</div>");
        let item = format!(r#"<li data-field="{field}"><b>{label}</b>: "#);
        assert!(errors.contains(&item) && errors.contains(reason), "{path}: {errors}");
        let form = if path.contains("paths") { "paths-form" } else { "segmentation-form" };
        assert!(page.contains(&format!(r#"id="{form}""#)), "{path}: the form is kept");
        assert!(!page.contains("data-chart=") && !page.contains(r#"class="data numbers""#), "{path}: no results");
    }
    let (status, page) = get(&client, &app, "/analytics/paths?event=Signed%20Up&depth=deep").await;
    assert_eq!(status, 422);
    assert!(page.contains(r#"<option value="deep" selected>deep</option>"#), "the form shows what was asked");
    let zh = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&zh, &app, "/analytics/segmentation?events=Order%20Completed,Nope").await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="analytics-errors""#, "</div>").contains("第 2 个事件"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_sees_echarts_draw_the_analytics_pages_in_chromium() {
    let app = analytics_app(true).await;
    let browser = Browser::start("analytics_in_chromium").await;
    browser.step("login", browser.log_in(&app, ANALYST, "/")).await;
    browser
        .step("dashboard", async {
            assert_eq!(browser.count("#kpi-cards .kpi").await, 15);
            browser.expect_chart("#activity-chart", 100).await;
            browser.expect_chart("#gmv-chart", 100).await;
            browser.gallery_chart("dashboard", "#gmv-chart").await;
        })
        .await;
    browser
        .step("funnel", async {
            browser.click("a#lang-zh").await;
            browser.wait_for_text("#nav-analytics", "分析").await;
            browser.click("#nav-analytics").await;
            browser.wait_for_text("#analytics-heading", "漏斗分析").await;
            assert_eq!(browser.path().await, "/analytics/funnel");
            browser.type_into("#funnel-steps", STEPS).await;
            browser.click("#funnel-submit").await;
            // The default funnel's table is replaced by the submitted one.
            browser.wait_for_text("#funnel-table tbody", "Checkout Started").await;
            let table = browser.text("#funnel-table tbody").await;
            for (event, customers) in FUNNEL {
                assert!(table.contains(event) && table.contains(&customers.to_string()), "{table}");
            }
            // The canvas appears only once ECharts has drawn the chart.
            browser.expect_chart("#funnel-chart", 100).await;
            browser.gallery_chart("funnel", "#funnel-chart").await;
        })
        .await;
    browser
        .step("retention", async {
            browser.click("#analytics-tabs a[href='/analytics/retention']").await;
            browser.find("#retention-table").await;
            browser.expect_chart("#retention-chart", 100).await;
            browser.gallery_chart("retention", "#retention-chart").await;
        })
        .await;
    browser
        .step("rfm", async {
            browser.click("#analytics-tabs a[href='/analytics/rfm']").await;
            browser.find("#rfm-grid").await;
            browser.expect_chart("#rfm-chart", 100).await;
            browser.click("a#lang-en").await;
            browser.wait_for_text("#analytics-heading", "RFM analysis").await;
            browser.find("#rfm-chart[data-chart-ready] canvas").await;
            browser.gallery_chart("rfm-en", "#rfm-chart").await;
        })
        .await;
    browser
        .step("segmentation", async {
            browser.click("#analytics-tabs a[href='/analytics/segmentation']").await;
            browser.wait_for_text("#analytics-heading", "Event segmentation").await;
            browser.find("#segmentation-table").await;
            browser.expect_chart("#segmentation-chart", 100).await;
            // The toggle shows distinct customers instead of counts, without leaving the page.
            browser.click("#segmentation-measure button[data-measure='1']").await;
            let pressed = browser.find("#segmentation-measure button[aria-pressed='true']").await;
            assert_eq!(pressed.text().await.unwrap(), "Distinct customers");
            browser.expect_chart("#segmentation-chart", 100).await;
            browser.gallery_chart("segmentation", "#segmentation-chart").await;
        })
        .await;
    browser
        .step("paths", async {
            browser.click("#analytics-tabs a[href='/analytics/paths']").await;
            browser.find("#paths-table").await;
            browser.expect_chart("#paths-chart", 300).await;
            browser.gallery_chart("paths", "#paths-chart").await;
            // Looking back, the anchor is the diagram's last column.
            browser.type_into("#paths-event", "Order Completed").await;
            browser.click("#paths-direction option[value='previous']").await;
            browser.click("#paths-submit").await;
            browser.wait_for_text("#paths-table thead", "Previous event").await;
            browser.expect_chart("#paths-chart", 300).await;
            browser.gallery_chart("paths-previous", "#paths-chart").await;
        })
        .await;
}

/// Events a log may hold from before ingestion refused instants outside 2000-01-01 to a day ahead:
/// year -5000, year 1, year 9999 and the ends of `i64` (a Parquet import took any number).
const LEGACY_US: [i64; 5] =
    [i64::MIN, -219_927_974_400_000_000, -62_135_596_800_000_000, 253_402_214_400_000_000, i64::MAX];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_events_outside_the_accepted_range_crash_no_query_endpoint_or_page() {
    let app = analytics_app(true).await;
    let now_us = app.services.now().as_microsecond();
    let before = app.services.events.event_index(&app.owner).await.unwrap();
    let kpis_before = before.kpis(&jiff::tz::TimeZone::UTC, None, now_us, &[]).unwrap();
    // A customer of small-2 and one seen only at those instants, each with visits and orders there.
    let known = siyu_core::CustomerId(before.columns.base().customer(0));
    let only_legacy = app.services.events.customers_for_user_ids(&app.owner, &["legacy".into()]).await.unwrap()[0];
    let legacy: Vec<siyu_domain::events::NewEvent> = [known, only_legacy]
        .into_iter()
        .flat_map(|customer| LEGACY_US.into_iter().map(move |ts_us| (customer, ts_us)))
        .flat_map(|(customer, ts_us)| {
            ["Signed Up", "Order Completed"].map(|name| siyu_domain::events::NewEvent {
                customer,
                kind: siyu_domain::events::EventKind::Track,
                name: name.into(),
                ts_us,
                received_us: now_us,
                message_id: String::new(),
                user_id: "legacy".into(),
                anonymous_id: String::new(),
                properties: r#"{"revenue": 1e300, "category": "tea"}"#.into(),
                context: "{}".into(),
            })
        })
        .collect();
    app.services.events.append_events(&app.owner, &legacy).await.unwrap();
    let index = app.services.events.event_index(&app.owner).await.unwrap();
    assert_eq!(index.columns.event_count(), before.columns.event_count() + 20);

    // Every domain query, over every period, answers; defaults read only plausible instants.
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let all = siyu_domain::events::analytics::Dates::all(now_us);
    for granularity in [Granularity::Day, Granularity::Week, Granularity::Month] {
        let retention = index.retention(&tz, granularity, (None, None), all, &[]).unwrap();
        assert!(retention.from.as_deref().is_some_and(|from| from >= "2000"), "{retention:?}");
        assert!(retention.rows.iter().all(|row| row.cohort.as_str() >= "2000"));
        let series = [SeriesSpec::from("Signed Up"), SeriesSpec::from("Order Completed")];
        let by_category = SegmentationOptions { breakdown: Some("category".into()), ..Default::default() };
        for options in [SegmentationOptions::default(), by_category] {
            let answer = index.segmentation(&tz, granularity, &series, &options, all).unwrap();
            assert!(answer.buckets.iter().all(|bucket| bucket.as_str() >= "2000"), "{:?}", answer.buckets);
        }
    }
    let kpis = index.kpis(&jiff::tz::TimeZone::UTC, None, now_us, &[]).unwrap();
    assert_eq!(kpis.as_of, kpis_before.as_of, "the default day is the latest plausible one");
    assert_eq!(kpis.dau, kpis_before.dau);
    let rfm = index.rfm(None, now_us).unwrap();
    assert_eq!(rfm.as_of, before.rfm(None, now_us).unwrap().as_of);
    let steps: Vec<String> = STEPS.split(',').map(String::from).collect();
    let by_category =
        siyu_domain::events::analytics::FunnelOptions { breakdown: Some("category".into()), ..Default::default() };
    index.funnel(&steps, 366 * 86_400, &by_category).unwrap();
    for direction in ["next", "previous"] {
        index.paths("Signed Up", direction, 10).unwrap();
    }

    // Every analytics endpoint answers 200 over it.
    let bodies = [
        ("funnel", json!({"steps": STEPS.split(',').collect::<Vec<_>>(), "window": "366d", "breakdown": "category"})),
        ("retention", json!({"period": "day"})),
        ("retention", json!({"period": "week"})),
        ("retention", json!({"period": "month", "cohort_event": "Order Completed"})),
        ("rfm", json!({})),
        ("segmentation", json!({"events": ["Signed Up", "Order Completed"], "period": "day"})),
        ("segmentation", json!({"events": ["Order Completed"], "period": "month", "breakdown": "category"})),
        ("paths", json!({"event": "Signed Up", "depth": 10})),
        ("paths", json!({"event": "Order Completed", "direction": "previous"})),
        ("kpi", json!({})),
    ];
    for (endpoint, body) in bodies {
        let (status, answer, _) =
            app.call("POST", &format!("/api/v1/analytics/{endpoint}"), &app.key, Some(body.clone())).await;
        assert_eq!(status, 200, "{endpoint} {body}: {answer}");
    }
    // And every console page, the dashboard and retention first.
    let client = logged_in(&app, ANALYST, EN).await;
    for path in [
        "/",
        "/analytics/retention",
        "/analytics/retention?period=day",
        "/analytics/retention?period=month",
        "/analytics/rfm",
        "/analytics/funnel?window=30d",
        "/analytics/segmentation?period=month",
        "/analytics/paths?event=Signed%20Up&depth=10",
    ] {
        let (status, page) = get(&client, &app, path).await;
        assert_eq!(status, 200, "{path}: {page}");
    }
    let (_, home) = get(&client, &app, "/").await;
    let as_of = fragment(&home, r#"id="home-as-of""#, "</span>");
    assert!(as_of.contains("2026-"), "the dashboard's day is a plausible one: {as_of}");
}
