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
