//! Console audience pages over the demo brand: the models page (lifecycle, tiers, RFM classes,
//! health, LTV, recall list) agrees with the domain's answers in both languages; segments are built,
//! saved (bad text answered next to the form with its line and column), listed and shown; the
//! customer 360 page shows the customer's models; and in headless Chromium the builder's rows and
//! text stay in sync with a live size.

use crate::console_support::{
    AGENT, ANALYST, Browser, EN, OWNER, PASSWORD, ZH, csrf_in, fragment, get, logged_in, post,
};
use crate::{Backend, TestApp, spawn_app};
use siyu_domain::access::{Principal, Role};

/// The demo brand (400 customers and their behaviour) with an owner, an analyst and an agent.
async fn demo_app() -> (TestApp, Principal) {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    siyu::demo::run(&app.services, 400, 7, false).await.unwrap();
    let ws = app.services.access.workspace_by_slug(siyu::demo::SLUG).await.unwrap();
    for (email, name, role) in
        [(OWNER, "王店长", Role::Owner), (ANALYST, "分析师小陈", Role::Analyst), (AGENT, "客服小张", Role::CsAgent)]
    {
        app.services.access.add_user(ws.id, email, name, PASSWORD, role).await.unwrap();
    }
    (app, Principal::cli(ws.id))
}

/// Sums the `customers` cells of a table.
fn customers_in(page: &str, table: &str) -> u64 {
    fragment(page, &format!(r#"id="{table}""#), "</table>")
        .split(r#"<td class="customers">"#)
        .skip(1)
        .map(|cell| cell.split('<').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_page_shows_the_domain_answers_in_both_languages() {
    let (app, owner) = demo_app().await;
    let summary = app.services.models.models_summary(&owner).await.unwrap();
    assert!(summary.buyers > 0, "the demo has orders");
    // The LTV fit follows the models in the background; the page shows it once it is done.
    app.services.models.models_settled(&owner).await.unwrap();
    let client = logged_in(&app, ANALYST, EN).await;
    let (status, page) = get(&client, &app, "/models").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(customers_in(&page, "lifecycle-table"), summary.customers);
    let tiers: u64 = summary.tiers.iter().map(|t| t.customers).sum();
    assert_eq!(customers_in(&page, "tiers-table"), tiers);
    assert_eq!(customers_in(&page, "classes-table"), summary.buyers);
    for chart in ["lifecycle-chart", "flows-chart", "tiers-chart", "health-chart", "classes-chart", "rf-heatmap"] {
        assert!(page.contains(&format!(r#"id="{chart}""#)), "{chart}");
    }
    // LTV: the predictions of a converged fit, or why there are none (the demo's customers show no
    // spread in dropout, so its BG/NBD fit runs a and b to infinity and does not converge).
    let ltv = app.services.models.ltv_model(&owner).await.unwrap();
    let not_converged = ltv.status == siyu_domain::models::LtvStatus::NotConverged;
    if not_converged {
        let why = fragment(&page, r#"id="ltv-unavailable""#, "</p>");
        assert!(why.contains("The LTV fit did not converge") && !page.contains(r#"id="ltv-chart""#), "{why}");
    } else {
        assert!(page.contains(r#"id="ltv-chart""#), "{ltv:?}");
    }
    assert!(page.contains("Recall list") && page.contains("Important value"));
    let recall = fragment(&page, r#"id="recall-count""#, "</p>");
    assert!(recall.contains(&format!("{} customers without interaction for 30 days", summary.recall)), "{recall}");
    // The stage flows over a chosen period.
    assert!(fragment(&page, r#"id="flows-title""#, "</h2>").contains("over the last 30 days"));
    let (status, page) = get(&client, &app, "/models?flows=7").await;
    assert_eq!(status, 200);
    assert!(fragment(&page, r#"id="flows-title""#, "</h2>").contains("over the last 7 days"));
    assert!(
        fragment(&page, r#"id="flows-periods""#, "</nav>").contains(r#"href="/models?flows=7" aria-current="true""#)
    );
    let chart = fragment(&page, r#"id="flows-chart""#, "></div>");
    assert!(chart.contains("7 days ago") && !chart.contains("30 days ago"), "{chart}");
    let (_, page) = get(&client, &app, "/models?flows=45").await;
    assert!(
        fragment(&page, r#"id="flows-title""#, "</h2>").contains("over the last 30 days"),
        "unknown periods fall back"
    );

    let client = logged_in(&app, OWNER, ZH).await;
    let (_, page) = get(&client, &app, "/models").await;
    assert!(page.contains("导入期") && page.contains("重要价值客户") && page.contains("召回名单"));
    assert!(!not_converged || (page.contains("LTV 模型拟合") && page.contains("未收敛")), "the reason in Chinese too");

    // Thresholds: a bad one is named beside the form (422) and nothing is saved; a good one is.
    let (status, form) = get(&client, &app, "/models/settings").await;
    assert_eq!(status, 200);
    assert!(form.contains(r#"name="churn_days" value="30""#), "{form}");
    let csrf = csrf_in(&form);
    let mut fields: Vec<(String, String)> = form
        .split(r#"<input id="set-"#)
        .skip(1)
        .map(|input| {
            let name = fragment(input, r#"name=""#, "\"")[6..].to_string();
            let value = fragment(input, r#"value=""#, "\"")[7..].to_string();
            (name, value)
        })
        .collect();
    fields.iter_mut().filter(|(n, _)| n == "churned_days").for_each(|f| f.1 = "10".into());
    let mut body: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    body.push(("_csrf", &csrf));
    let (status, page) = post(&client, &app, "/models/settings", &body).await;
    assert_eq!(status, 422, "{page}");
    assert!(fragment(&page, r#"id="settings-errors""#, "</ul>").contains("must be more than dormant_days"), "{page}");
    assert_eq!(app.services.models.model_settings(&owner).await.unwrap().churned_days, 180);
    // Fixed RFM edges and the event lists are edited as comma-separated lists; an unreadable edge
    // is named and nothing is saved.
    let passive = format!("{}, Coupon Expired", fields.iter().find(|(n, _)| n == "passive_events").unwrap().1);
    let with = |changes: &[(&'static str, &'static str)]| -> Vec<(&str, String)> {
        body.iter()
            .map(|(n, v)| match changes.iter().find(|(c, _)| c == n) {
                Some((_, new)) => (*n, new.to_string()),
                None if *n == "passive_events" => (*n, passive.clone()),
                None => (*n, v.to_string()),
            })
            .collect()
    };
    let bad = with(&[("churned_days", "200"), ("rfm_edges.recency_days", "7, 30, x, 180")]);
    let bad: Vec<(&str, &str)> = bad.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, page) = post(&client, &app, "/models/settings", &bad).await;
    assert_eq!(status, 422, "{page}");
    let errors = fragment(&page, r#"id="settings-errors""#, "</ul>");
    assert!(errors.contains(r#"data-field="rfm_edges.recency_days""#) && errors.contains("不是数字"), "{page}");
    assert_eq!(app.services.models.model_settings(&owner).await.unwrap().churned_days, 180);
    let good = with(&[
        ("churned_days", "200"),
        ("churn_days", "21"),
        ("rfm_edges.recency_days", "7, 30, 90, 180"),
        ("rfm_edges.frequency", "1，2，3，5"),
        ("rfm_edges.monetary", "50, 100, 200, 500.5"),
    ]);
    let good: Vec<(&str, &str)> = good.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, page) = post(&client, &app, "/models/settings", &good).await;
    assert_eq!(status, 200, "{page}");
    let saved = app.services.models.model_settings(&owner).await.unwrap();
    assert_eq!((saved.churned_days, saved.churn_days), (200, 21));
    let edges = saved.rfm_edges.expect("fixed edges saved");
    assert_eq!((edges.recency_days, edges.frequency), (vec![7, 30, 90, 180], vec![1, 2, 3, 5]));
    assert_eq!(edges.monetary, vec![50.0, 100.0, 200.0, 500.5]);
    assert_eq!(saved.passive_events.last().map(String::as_str), Some("Coupon Expired"));
    let (_, form) = get(&client, &app, "/models/settings").await;
    assert!(form.contains(r#"value="7, 30, 90, 180""#), "{form}");

    let agent = logged_in(&app, AGENT, EN).await;
    let (status, _) = get(&agent, &app, "/models").await;
    assert_eq!(status, 403);

    // The customer 360 page shows a buyer's models.
    let buyer = app.services.models.recall_list(&owner, siyu_core::PageRequest::first(1000)).await.unwrap().1.items;
    let any = app.services.events.event_index(&owner).await.unwrap().columns.customer_id(0);
    let id = buyer.first().map_or(any, |b| b.customer_id.0);
    let (status, page) = get(&agent, &app, &format!("/customers/{id}")).await;
    assert_eq!(status, 200);
    let panel = fragment(&page, r#"id="models-panel""#, "</section>");
    assert!(panel.contains(r#"id="model-stage""#) && panel.contains(r#"id="model-health""#), "{panel}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_built_saved_listed_and_shown() {
    let (app, owner) = demo_app().await;
    let client = logged_in(&app, OWNER, EN).await;
    let (status, page) = get(&client, &app, "/segments/new").await;
    assert_eq!(status, 200);
    let csrf = csrf_in(&page);
    // Bad text: 422 with the line and column next to the form, nothing saved.
    let (status, page) = post(
        &client,
        &app,
        "/segments",
        &[("_csrf", &csrf), ("key", "sh-buyers"), ("name", "上海买家"), ("text", "trait.city = \"上海\" and\n did(")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(fragment(&page, r#"id="segment-errors""#, "</ul>").contains("line 2, column 6"), "{page}");
    let text = "trait.city = \"上海\" and did(\"Order Completed\", within 90d)";
    let expected = app
        .services
        .segments
        .preview_segment(&owner, &siyu_domain::segments::DefinitionInput { definition: None, text: Some(text.into()) })
        .await
        .unwrap()
        .size;
    assert!(expected > 0);
    let (status, page) = post(
        &client,
        &app,
        "/segments",
        &[("_csrf", &csrf), ("key", "sh-buyers"), ("name", "上海买家"), ("text", text)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(fragment(&page, r#"id="segment-size""#, "</span>").contains(&expected.to_string()));
    assert_eq!(page.matches("<tr data-customer-id=").count() as u64, expected.min(25));
    let (_, list) = get(&client, &app, "/segments").await;
    let row = fragment(&list, r#"<tr data-key="sh-buyers">"#, "</tr>");
    assert!(row.contains(&format!(r#"<td class="size">{expected}</td>"#)) && row.contains("上海买家"), "{row}");
    // The live preview answers JSON.
    let (status, answer) = get(&client, &app, "/segments/preview?text=tag(%22nope%22)").await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["size"], 0);
    assert!(answer["warnings"][0].as_str().unwrap().contains("\"nope\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_keeps_rows_and_text_in_sync_with_a_live_size() {
    let (app, owner) = demo_app().await;
    let browser = Browser::start("segment_builder").await;
    browser.log_in(&app, OWNER, "/").await;
    browser.goto(&format!("{}/segments/new", app.base_url)).await;
    // Text → rows and size.
    let text = "tag(\"VIP\") and did(\"Order Completed\", count >= 2, within 90d)";
    browser.type_into("#segment-text", text).await;
    let size = app
        .services
        .segments
        .preview_segment(&owner, &siyu_domain::segments::DefinitionInput { definition: None, text: Some(text.into()) })
        .await
        .unwrap()
        .size;
    browser.wait_for_text("#segment-live-size", &size.to_string()).await;
    assert_eq!(browser.count("#builder-rows li.condition").await, 2);
    // Rows → text: a third row appends its condition.
    browser.click("#builder-add").await;
    browser.type_into("#builder-rows li.condition:nth-child(3) .a", "新客").await;
    let written = browser.find("#segment-text").await.prop("value").await.unwrap().unwrap_or_default();
    assert!(written.ends_with("and tag(\"新客\")"), "{written}");
    browser.step("builder", async { browser.save_screenshot("segment-builder").await }).await;
    // Nested groups: the text's parenthesised group becomes a group of rows, whose own "add
    // condition" and "not" write inside and before the parentheses.
    let nested = "tag(\"VIP\") and (trait.city = \"上海\" or not did(\"Message Opened\", within 14d))";
    browser.type_into("#segment-text", nested).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while browser.count("#builder-rows > li.subgroup li.condition").await != 2 {
        assert!(std::time::Instant::now() < deadline, "the nested group was not drawn as rows");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(browser.count("#builder-rows > li.condition").await, 1);
    assert!(browser.find("#builder-advanced").await.attr("hidden").await.unwrap().is_some());
    browser.click("#builder-rows > li.subgroup .add").await;
    browser.type_into("#builder-rows > li.subgroup li.condition:nth-child(3) .a", "新客").await;
    browser.click("#builder-rows > li.subgroup .negate").await;
    let written = browser.find("#segment-text").await.prop("value").await.unwrap().unwrap_or_default();
    assert_eq!(
        written,
        "tag(\"VIP\") and not (trait.city = \"上海\" or not did(\"Message Opened\", within 14d) or tag(\"新客\"))"
    );
    browser.step("nested", async { browser.save_screenshot("segment-builder-nested").await }).await;
}
