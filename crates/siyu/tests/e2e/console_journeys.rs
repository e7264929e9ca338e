//! The journeys and follow-up pages: a journey shows its status, trigger and counts; the task its
//! step created shows with its customer and reason and is marked done from the page — over HTTP in
//! both languages (no English in the Chinese pages) and in Chromium.

use crate::console_support::{Browser, EN, OWNER, PASSWORD, ZH, fragment, get, logged_in};
use crate::{Backend, TestApp, spawn_app};
use siyu_domain::access::Role;

/// A journey entered by API whose first step creates a follow-up task; returns the customer.
async fn seed(app: &TestApp) -> i64 {
    let (services, owner) = (&app.services, &app.owner);
    services.access.add_user(owner.workspace_id(), OWNER, "王店长", PASSWORD, Role::Owner).await.unwrap();
    let input =
        serde_json::from_value(serde_json::json!({"identities": [{"type": "user_id", "value": "vip-1"}]})).unwrap();
    let customer = services.customers.upsert_customer(owner, input).await.unwrap().id;
    let journey = serde_json::from_value(serde_json::json!({
        "name": "高价值回访",
        "definition": {"trigger": {"type": "api"}, "start": "follow",
            "nodes": {"follow": {"type": "task", "reason": "电话回访：上月消费超过五千元"}}},
    }))
    .unwrap();
    let id = services.journeys.create(owner, &journey).await.unwrap().id;
    services.journeys.publish(owner, id).await.unwrap();
    services.journeys.enter_customers(owner, id, &[customer], "vip-call").await.unwrap();
    // A marketing message to a customer without consent, blocked when the server sends it.
    let channel = serde_json::from_value(serde_json::json!({"kind": "webhook",
        "settings": {"url": "https://crm.example.com/hook", "consent_channel": "sms", "dry_run": true},
        "secrets": {"secret": "whsec-console-0123456789"}}))
    .unwrap();
    services.messaging.save_channel(owner, "crm-hook", channel).await.unwrap();
    let message = serde_json::from_value(serde_json::json!({"channel": "crm-hook", "customer_id": customer.0,
        "class": "marketing", "body": "新品上市", "key": "launch-1"}))
    .unwrap();
    services.messaging.send(owner, message).await.unwrap();
    // The server's workers create the task and block the message.
    let blocked = siyu_domain::channels::store::MessageFilter {
        status: Some(siyu_domain::channels::store::MessageStatus::Blocked),
        ..Default::default()
    };
    for _ in 0..200 {
        let tasks = services.journeys.tasks(owner, true).await.unwrap();
        let messages = services.messaging.messages(owner, blocked.clone(), 10).await.unwrap();
        if !tasks.is_empty() && !messages.is_empty() {
            return customer.0;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the journey's step made no task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_and_follow_ups_show_in_both_languages() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let customer = seed(&app).await;
    for lang in [ZH, EN] {
        let client = logged_in(&app, OWNER, lang).await;
        let (status, page) = get(&client, &app, "/journeys").await;
        assert_eq!(status, 200, "{page}");
        let table = fragment(&page, r#"id="journeys-table""#, "</table>");
        assert!(table.contains("高价值回访") && table.contains(r#"data-status="active""#), "{table}");
        assert!(table.contains(r#"<td class="done">1</td>"#), "the entry finished at its task: {table}");
        let (status, page) = get(&client, &app, "/tasks").await;
        assert_eq!(status, 200);
        let tasks = fragment(&page, r#"id="tasks-table""#, "</table>");
        assert!(tasks.contains("电话回访") && tasks.contains(&format!(r#"href="/customers/{customer}""#)), "{tasks}");
        let (status, log) = get(&client, &app, "/messages?status=blocked&channel=crm-hook").await;
        assert_eq!(status, 200, "{log}");
        let rows = fragment(&log, r#"id="messages-table""#, "</table>");
        assert!(
            rows.contains(r#"data-status="blocked""#) && rows.contains(&format!(r#"href="/customers/{customer}""#)),
            "{rows}"
        );
        // The customer's 360 page shows their journey and their messages.
        let (_, page360) = get(&client, &app, &format!("/customers/{customer}")).await;
        let journeys = fragment(&page360, r#"id="customer-journeys""#, "</table>");
        assert!(journeys.contains("<code>follow</code>"), "{journeys}");
        let messages = fragment(&page360, r#"id="customer-messages""#, "</table>");
        assert!(messages.contains(r#"data-status="blocked""#), "{messages}");
        let (_, none) = get(&client, &app, "/messages?status=sent").await;
        assert!(none.contains(r#"id="messages-empty""#), "no message was sent");
        if lang == ZH {
            assert!(rows.contains("已拦截") && rows.contains("客户未授予短信营销同意"), "{rows}");
            assert!(journeys.contains("已完成") && messages.contains("客户未授予短信营销同意"), "{journeys}{messages}");
            for page in [get(&client, &app, "/journeys").await.1, page, log, page360.clone()] {
                // The workspace's and the channel's names are data the operator chose, not interface.
                let words = crate::console_ux::english_words(&page.replace("Brand", "").replace("crm-hook", ""));
                assert!(words.is_empty(), "English in the Chinese page: {words:?}");
            }
            assert!(table.contains("进行中") && table.contains("API 调用"), "{table}");
        } else {
            assert!(table.contains("Active") && table.contains("API call"), "{table}");
            assert!(rows.contains("Blocked") && rows.contains("has not given marketing consent on sms"), "{rows}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_is_marked_done_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    seed(&app).await;
    let browser = Browser::start("follow_ups_in_chromium").await;
    browser.step("login", browser.log_in(&app, OWNER, "/")).await;
    browser
        .step("journeys", async {
            browser.click("a#lang-zh").await;
            browser.wait_for_text("#nav-journeys", "自动旅程").await;
            browser.click("#nav-journeys").await;
            browser.wait_for_text("#journeys-table .status", "进行中").await;
            assert_eq!(browser.text("#journeys-table .name").await, "高价值回访");
        })
        .await;
    browser
        .step("done", async {
            browser.click("#nav-tasks").await;
            browser.wait_for_text("#tasks-table .reason", "电话回访：上月消费超过五千元").await;
            browser.click("#tasks-table button.complete").await;
            browser.find("#tasks-empty").await;
            assert_eq!(browser.path().await, "/tasks");
        })
        .await;
    browser.step("gallery", browser.gallery(&app, &[("journeys", "/journeys"), ("tasks", "/tasks")])).await;
}

/// The journey whose first step is a follow-up task (made by `seed`).
async fn seeded_journey(app: &TestApp) -> i64 {
    app.services.journeys.journeys(&app.owner).await.unwrap()[0].id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_page_draws_its_graph_with_counts_and_publishes_only_what_passes_the_check() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let customer = seed(&app).await;
    let id = seeded_journey(&app).await;
    let path = format!("/journeys/{id}");
    for lang in [ZH, EN] {
        let client = logged_in(&app, OWNER, lang).await;
        let (status, page) = get(&client, &app, &path).await;
        assert_eq!(status, 200, "{page}");
        let graph = fragment(&page, r#"id="journey-graph""#, "</svg>");
        assert!(graph.contains(r#"data-node="follow""#), "{graph}");
        assert!(page.contains(r#"id="journey-ready""#), "the published draft passes the check: {page}");
        if lang == ZH {
            assert!(graph.contains("跟进任务") && graph.contains("进入 1"), "the node's kind and count: {graph}");
            let words = crate::console_ux::english_words(&page.replace("follow", "").replace("Brand", ""));
            assert!(words.is_empty(), "English in the Chinese journey page: {words:?}");
        } else {
            assert!(graph.contains("Follow-up task") && graph.contains("entered 1"), "{graph}");
        }
    }
    let client = logged_in(&app, OWNER, ZH).await;
    let (_, page) = get(&client, &app, &path).await;
    let csrf = crate::console_support::csrf_in(&page);
    // A definition that would not publish: an unreachable node, an unknown tag, a template naming a
    // trait no customer has. Refused with each problem at its node, and nothing saved.
    let bad = serde_json::json!({"trigger": {"type": "api"}, "start": "follow", "nodes": {
        "follow": {"type": "add_tag", "tag": "没有这个标签", "next": "send1"},
        "send1": {"type": "send", "channel": "crm-hook", "class": "transactional", "body": "{{ customer.traits.shoe_size }}"},
        "lost1": {"type": "exit"}}});
    let bad = bad.to_string();
    let form = [("_csrf", csrf.as_str()), ("name", "高价值回访"), ("definition", &bad), ("intent", "publish")];
    let (status, refused) = crate::console_support::post(&client, &app, &path, &form).await;
    assert_eq!(status, 422, "{refused}");
    let errors = fragment(&refused, r#"id="journey-errors""#, "</ul>");
    for field in ["definition.nodes.lost1", "definition.nodes.follow.tag", "definition.nodes.send1.body"] {
        assert!(errors.contains(&format!(r#"data-field="{field}""#)), "{field} in {errors}");
    }
    assert!(errors.contains("从起始节点无法到达") && errors.contains("没有标签"), "{errors}");
    assert!(refused.contains(r#"class="jnode exit problem lost" data-node="lost1""#), "the graph marks the node");
    let data = refused.replace("follow", "").replace("Brand", "").replace("crm-hook", "");
    let words = crate::console_ux::english_words(&data);
    assert!(words.is_empty(), "English in the Chinese refusal: {words:?}");
    let draft = app.services.journeys.journey(&app.owner, id).await.unwrap().draft;
    assert_eq!(draft.nodes.len(), 1, "a refused publish saves nothing");
    // A good draft saves, then publishes as version 2; pausing shows on the page.
    let good = serde_json::json!({"trigger": {"type": "api"}, "start": "wait1", "nodes": {
        "wait1": {"type": "wait", "duration": "2h", "next": "follow"},
        "follow": {"type": "task", "reason": "电话回访"}}})
    .to_string();
    let form = [("_csrf", csrf.as_str()), ("name", "高价值回访"), ("definition", &good), ("intent", "save")];
    assert_eq!(crate::console_support::post(&client, &app, &path, &form).await.0, 200, "followed to the page");
    let view = app.services.journeys.journey(&app.owner, id).await.unwrap();
    assert_eq!((view.version, view.draft.nodes.len()), (1, 2), "saved as a draft, not published");
    let form = [("_csrf", csrf.as_str()), ("name", "高价值回访"), ("definition", &good), ("intent", "publish")];
    let (_, published) = crate::console_support::post(&client, &app, &path, &form).await;
    assert!(published.contains("已发布为新版本"), "{published}");
    assert_eq!(app.services.journeys.journey(&app.owner, id).await.unwrap().version, 2);
    let status_path = format!("{path}/status");
    let (_, paused) =
        crate::console_support::post(&client, &app, &status_path, &[("_csrf", &csrf), ("to", "paused")]).await;
    assert!(paused.contains(r#"data-status="paused""#), "{paused}");
    // The live check and the template preview answer JSON in the page's language.
    let (status, answer) = crate::console_support::post(
        &client,
        &app,
        "/journeys/check",
        &[("_csrf", &csrf), ("definition", &bad), ("id", &id.to_string())],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert!(answer["graph"].as_str().unwrap().contains(r#"data-node="lost1""#), "{answer}");
    assert!(answer["problems"].as_array().unwrap().iter().any(|p| p["node"] == "lost1"), "{answer}");
    let preview = [
        ("_csrf", csrf.as_str()),
        ("customer", &customer.to_string()),
        ("body", "您好 {{ customer.id }}，{{ customer.tags | length }} 个标签"),
    ];
    let (status, answer) = crate::console_support::post(&client, &app, "/messages/preview", &preview).await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["body"], format!("您好 {customer}，0 个标签"), "{answer}");
    assert_eq!(answer["sms_messages"], 1);
    let preview = [("_csrf", csrf.as_str()), ("customer", &customer.to_string()), ("body", "{{ customer.shoe }}")];
    let (status, answer) = crate::console_support::post(&client, &app, "/messages/preview", &preview).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.contains("未知变量"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_sees_a_journey_but_cannot_change_or_check_it() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    seed(&app).await;
    let id = seeded_journey(&app).await;
    app.services
        .access
        .add_user(app.owner.workspace_id(), "analyst@brand.cn", "分析师", PASSWORD, Role::Analyst)
        .await
        .unwrap();
    let client = logged_in(&app, "analyst@brand.cn", EN).await;
    let (status, page) = get(&client, &app, &format!("/journeys/{id}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="journey-readonly""#) && !page.contains(r#"id="journey-publish""#), "{page}");
    let csrf = crate::console_support::csrf_in(&page);
    // Refused before the form is read: a broken definition gets 403, not 422.
    for path in
        [format!("/journeys/{id}"), "/journeys/new".into(), format!("/journeys/{id}/status"), "/journeys/check".into()]
    {
        let form = [("_csrf", csrf.as_str()), ("name", ""), ("definition", "{"), ("to", "paused")];
        let (status, answer) = crate::console_support::post(&client, &app, &path, &form).await;
        assert_eq!(status, 403, "{path}: {answer}");
    }
    let (status, _) =
        crate::console_support::post(&client, &app, "/messages/preview", &[("_csrf", &csrf), ("customer", "x")]).await;
    assert_eq!(status, 403);
    assert_eq!(get(&client, &app, "/journeys/new").await.0, 403);
    assert_eq!(app.services.journeys.journey(&app.owner, id).await.unwrap().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_is_built_node_by_node_in_chromium_with_a_live_check_and_preview() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let customer = seed(&app).await;
    let template =
        serde_json::json!({"title": "欢迎", "class": "transactional", "body": "欢迎你，{{ customer.id }} 号客户"});
    app.services
        .messaging
        .save_template(&app.owner, "welcome", serde_json::from_value(template).unwrap())
        .await
        .unwrap();
    let browser = Browser::start("journey_editor").await;
    browser.step("login", browser.log_in(&app, OWNER, "/")).await;
    browser
        .step("new", async {
            browser.click("a#lang-zh").await;
            browser.wait_for_text("#nav-journeys", "自动旅程").await;
            browser.goto(&format!("{}/journeys/new", app.base_url)).await;
            browser.type_into("#journey-name", "新客欢迎").await;
            // The starter: a wait, then a task; both drawn and checked.
            browser.find(r#"#journey-graph g[data-node="wait_1"]"#).await;
            browser.wait_for_text("#journey-problems", "检查通过").await;
        })
        .await;
    browser
        .step("add a send node", async {
            browser.click(r#"select.add-kind option[value="send"]"#).await;
            browser.click("#journey-add-node").await;
            browser.find("#node-send_1").await;
            // Not connected yet: the check names it and the graph marks it.
            browser.wait_for_text("#journey-errors", "从起始节点无法到达").await;
            browser.find(r#"#journey-graph g.problem[data-node="send_1"]"#).await;
            assert!(browser.count("#node-send_1.problem").await == 1);
            browser.type_into("#journey-preview-customer", &customer.to_string()).await;
            browser.type_into("#node-send_1 textarea.body", "您好 {{ customer.id }}").await;
            browser.wait_for_text("#node-send_1 .preview-out .body", &format!("您好 {customer}")).await;
            assert!(browser.text("#node-send_1 .preview-out .sms").await.contains("分 1 条发送"));
        })
        .await;
    browser
        .step("choose a saved template", async {
            // The node's own text gives way to the template's, which the preview then renders.
            browser.click(r#"#node-send_1 select.saved-template option[value="welcome"]"#).await;
            browser.wait_for_text("#node-send_1 .preview-out .body", &format!("欢迎你，{customer} 号客户")).await;
            assert_eq!(browser.count("#node-send_1 textarea.body").await, 0);
        })
        .await;
    browser
        .step("connect and publish", async {
            browser.click(r#"#node-task_1 select.outlet option[value="send_1"]"#).await;
            browser.wait_for_text("#journey-problems", "检查通过").await;
            browser.find(r#"#journey-graph g.action[data-node="send_1"]"#).await;
            let written = browser.find("#journey-definition").await.prop("value").await.unwrap().unwrap_or_default();
            let definition: serde_json::Value = serde_json::from_str(&written).unwrap();
            assert_eq!(definition["nodes"]["task_1"]["next"], "send_1", "{written}");
            assert_eq!(definition["nodes"]["send_1"]["saved_template"], "welcome", "{written}");
            assert!(definition["nodes"]["send_1"].get("body").is_none(), "{written}");
            browser.click("#journey-publish").await;
            browser.wait_for_text("#flash", "已发布为新版本").await;
            assert_eq!(browser.text("#journey-status").await, "进行中");
        })
        .await;
    let journeys = app.services.journeys.journeys(&app.owner).await.unwrap();
    let made = journeys.iter().find(|j| j.name == "新客欢迎").expect("the journey was made");
    assert_eq!((made.version, made.draft.nodes.len()), (1, 3));
    // The version holds the template's text and class, copied when it was published.
    let version = app.services.stores.journeys.version(app.owner.workspace_id(), made.id, 1).await.unwrap().unwrap();
    let version: serde_json::Value = serde_json::from_str(&version).unwrap();
    let send = &version["nodes"]["send_1"];
    assert_eq!(
        (send["body"].as_str(), send["class"].as_str()),
        (Some("欢迎你，{{ customer.id }} 号客户"), Some("transactional"))
    );
    browser.step("gallery", browser.gallery(&app, &[("journey-editor", &format!("/journeys/{}", made.id))])).await;
}
