//! Access over HTTP: authentication, the permission matrix walked for every route and role, and
//! workspace isolation proved for every route.

use crate::TestApp;
use serde_json::{Value, json};
use siyu_domain::access::api_keys::KeyKind;
use siyu_domain::access::{Permission, Role};

crate::both_backends!(
    requests_without_a_valid_secret_key_are_refused,
    every_route_enforces_the_permission_matrix,
    no_route_crosses_workspaces,
    openapi_document_lists_every_route
);

/// Every API route: method, path template (`{c}` = a customer, `{t}` = a tag, `{k}` = a key,
/// `{u}` = a user), body, and the permission it needs.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>, Permission)> {
    use Permission::*;
    vec![
        ("GET", "/api/v1/customers", None, CustomersRead),
        (
            "POST",
            "/api/v1/customers",
            Some(json!({"identities": [{"type": "user_id", "value": "new-@@"}]})),
            CustomersWrite,
        ),
        (
            "POST",
            "/api/v1/customers/batch",
            Some(json!({"customers": [{"identities": [{"type": "user_id", "value": "new2-@@"}]}]})),
            CustomersWrite,
        ),
        ("GET", "/api/v1/customers/{c}", None, CustomersRead),
        ("GET", "/api/v1/customers/{c}/export", None, PiiRead),
        ("PATCH", "/api/v1/customers/{c}", Some(json!({"traits": {"city": "上海"}})), CustomersWrite),
        (
            "POST",
            "/api/v1/customers/{c}/identities",
            Some(json!({"type": "member_no", "value": "M-1"})),
            CustomersWrite,
        ),
        ("DELETE", "/api/v1/customers/{c}/identities/member_no/M-1", None, CustomersWrite),
        ("POST", "/api/v1/customers/{c}/tags", Some(json!({"tags": ["VIP"]})), CustomersWrite),
        ("DELETE", "/api/v1/customers/{c}/tags/VIP", None, CustomersWrite),
        ("GET", "/api/v1/customers/{c}/notes", None, CustomersRead),
        ("POST", "/api/v1/customers/{c}/notes", Some(json!({"body": "hello"})), NotesWrite),
        ("GET", "/api/v1/customers/{c}/merges", None, CustomersRead),
        ("GET", "/api/v1/customers/{c}/consent", None, CustomersRead),
        (
            "POST",
            "/api/v1/customers/{c}/consent",
            Some(
                json!({"changes": [{"purpose": "marketing", "channel": "sms", "granted": true, "policy_version": "v1"}]}),
            ),
            ConsentWrite,
        ),
        ("GET", "/api/v1/customers/{c}/unsubscribe-link?channel=sms", None, ConsentWrite),
        (
            "POST",
            "/api/v1/analytics/funnel",
            Some(json!({"steps": ["Signed Up", "Order Completed"], "window": "7d"})),
            AnalyticsRead,
        ),
        ("POST", "/api/v1/analytics/retention", Some(json!({"period": "week"})), AnalyticsRead),
        ("POST", "/api/v1/analytics/rfm", Some(json!({})), AnalyticsRead),
        ("POST", "/api/v1/analytics/segmentation", Some(json!({"events": ["Signed Up"]})), AnalyticsRead),
        ("POST", "/api/v1/analytics/paths", Some(json!({"event": "Signed Up"})), AnalyticsRead),
        ("POST", "/api/v1/analytics/kpi", Some(json!({})), AnalyticsRead),
        ("GET", "/api/v1/models", None, AnalyticsRead),
        ("POST", "/api/v1/models/run", None, AnalyticsRead),
        ("GET", "/api/v1/models/recall", None, AnalyticsRead),
        ("GET", "/api/v1/models/rfm", None, AnalyticsRead),
        ("GET", "/api/v1/models/ltv", None, AnalyticsRead),
        ("GET", "/api/v1/models/lifecycle/flows?from=2020-01-01T00:00:00Z", None, AnalyticsRead),
        ("GET", "/api/v1/models/settings", None, AnalyticsRead),
        ("PUT", "/api/v1/models/settings", Some(json!({"churn_days": 30})), SegmentsManage),
        ("GET", "/api/v1/customers/{c}/models", None, CustomersRead),
        ("POST", "/api/v1/segments/preview", Some(json!({"text": "tag(\"VIP\")"})), AnalyticsRead),
        ("GET", "/api/v1/segments", None, AnalyticsRead),
        ("POST", "/api/v1/segments", Some(json!({"key": "new-@@", "text": "tag(\"VIP\")"})), SegmentsManage),
        ("GET", "/api/v1/segments/{s}", None, AnalyticsRead),
        ("GET", "/api/v1/segments/{s}/members", None, AnalyticsRead),
        ("GET", "/api/v1/segments/{s}/export", None, AnalyticsRead),
        ("PUT", "/api/v1/segments/{s}", Some(json!({"key": "seg-@@", "text": "not tag(\"VIP\")"})), SegmentsManage),
        ("DELETE", "/api/v1/segments/{s}", None, SegmentsManage),
        ("GET", "/api/v1/tag-groups", None, CustomersRead),
        ("POST", "/api/v1/tag-groups", Some(json!({"name": "g-@@", "family": "social"})), TagsManage),
        ("GET", "/api/v1/tags", None, CustomersRead),
        ("POST", "/api/v1/tags", Some(json!({"name": "t-@@", "group": "价值"})), TagsManage),
        ("DELETE", "/api/v1/tags/{t}", None, TagsManage),
        ("GET", "/api/v1/workspace", None, CustomersRead),
        ("PATCH", "/api/v1/workspace", Some(json!({"name": "Renamed"})), WorkspaceManage),
        ("GET", "/api/v1/users", None, UsersManage),
        ("POST", "/api/v1/users", Some(json!({"email": "new@@@brand.cn", "role": "analyst"})), UsersManage),
        ("GET", "/api/v1/invitations", None, UsersManage),
        ("DELETE", "/api/v1/invitations/{i}", None, UsersManage),
        ("PATCH", "/api/v1/users/{u}", Some(json!({"role": "auditor"})), UsersManage),
        ("DELETE", "/api/v1/users/{u}", None, UsersManage),
        ("GET", "/api/v1/keys", None, KeysManage),
        ("POST", "/api/v1/keys", Some(json!({"kind": "write", "name": "sdk"})), KeysManage),
        ("DELETE", "/api/v1/keys/{k}", None, KeysManage),
        ("GET", "/api/v1/audit", None, AuditRead),
        ("GET", "/api/v1/channels", None, MessagesSend),
        (
            "PUT",
            "/api/v1/channels/{ch}",
            Some(
                json!({"kind": "webhook", "settings": {"url": "https://hooks.example.com/@@", "dry_run": true}, "secrets": {"secret": "whsec-0123456789abcdef"}}),
            ),
            WorkspaceManage,
        ),
        ("POST", "/api/v1/channels/{ch}/test", Some(json!({"body": "hi"})), WorkspaceManage),
        ("DELETE", "/api/v1/channels/{ch}", None, WorkspaceManage),
        ("GET", "/api/v1/messages", None, MessagesRead),
        ("GET", "/api/v1/templates", None, MessagesSend),
        ("GET", "/api/v1/templates/{tp}", None, MessagesSend),
        (
            "PUT",
            "/api/v1/templates/{tp}",
            Some(json!({"title": "walk @@", "class": "transactional", "body": "hi {{ customer.id }}"})),
            JourneysManage,
        ),
        ("DELETE", "/api/v1/templates/{tp}", None, JourneysManage),
        ("GET", "/api/v1/messaging/settings", None, MessagesSend),
        (
            "PUT",
            "/api/v1/messaging/settings",
            Some(json!({"quiet_hours": {"start": "22:00", "end": "08:00"}, "frequency_cap": {"max": 3, "days": 7}})),
            WorkspaceManage,
        ),
        ("GET", "/api/v1/journeys", None, AnalyticsRead),
        ("POST", "/api/v1/journeys", Some(walk_journey("j-@@")), JourneysManage),
        ("GET", "/api/v1/journeys/{j}", None, AnalyticsRead),
        ("PUT", "/api/v1/journeys/{j}", Some(walk_journey("renamed-@@")), JourneysManage),
        (
            "POST",
            "/api/v1/journeys/check",
            Some(json!({"definition": walk_journey("c-@@")["definition"]})),
            JourneysManage,
        ),
        ("POST", "/api/v1/journeys/{j}/publish", None, JourneysManage),
        ("POST", "/api/v1/journeys/{j}/pause", None, JourneysManage),
        ("POST", "/api/v1/journeys/{j}/resume", None, JourneysManage),
        ("POST", "/api/v1/journeys/{j}/archive", None, JourneysManage),
        ("POST", "/api/v1/journeys/{j}/entries", Some(json!({"customer_ids": [1], "key": "k-@@"})), JourneysManage),
        ("GET", "/api/v1/customers/{c}/journeys", None, CustomersRead),
        ("GET", "/api/v1/tasks", None, NotesWrite),
        ("POST", "/api/v1/tasks/{tk}/done", None, NotesWrite),
        (
            "POST",
            "/api/v1/messages",
            Some(
                json!({"channel": "walk", "customer_id": 1, "class": "transactional", "body": "hi", "key": "walk-@@"}),
            ),
            MessagesSend,
        ),
        ("POST", "/api/v1/messages/preview", Some(json!({"customer_id": 1, "body": "hi"})), MessagesSend),
        ("POST", "/api/v1/customers/{c}/token", None, CampaignsManage),
        ("GET", "/api/v1/flash-sales", None, AnalyticsRead),
        ("POST", "/api/v1/flash-sales", Some(walk_sale()), CampaignsManage),
        ("GET", "/api/v1/flash-sales/{fs}", None, AnalyticsRead),
        ("GET", "/api/v1/flash-sales/{fs}/orders", None, AnalyticsRead),
        ("POST", "/api/v1/flash-sales/{fs}/orders/{fo}/pay", None, CampaignsManage),
        ("GET", "/api/v1/coupon-templates", None, AnalyticsRead),
        ("POST", "/api/v1/coupon-templates", Some(walk_coupon_template()), CampaignsManage),
        ("GET", "/api/v1/coupon-templates/{ct}", None, AnalyticsRead),
        ("POST", "/api/v1/coupon-templates/{ct}/issue", Some(json!({"segment": "walk-all"})), CampaignsManage),
        (
            "POST",
            "/api/v1/coupon-templates/{ct}/grant?customer={c}",
            Some(json!({"customer_id": "@customer"})),
            CampaignsManage,
        ),
        ("GET", "/api/v1/coupon-issues/{ci}", None, AnalyticsRead),
        ("GET", "/api/v1/coupons/{cc}", None, CampaignsManage),
        (
            "POST",
            "/api/v1/coupons/redeem?code={cc}",
            Some(json!({"code": "@code", "order_id": "walk-@@", "amount_fen": 100})),
            CampaignsManage,
        ),
        ("POST", "/api/v1/coupons/release?order={ro}", Some(json!({"order_id": "@order"})), CampaignsManage),
        ("GET", "/api/v1/customers/{c}/coupons", None, CustomersRead),
        ("GET", "/api/v1/lotteries", None, AnalyticsRead),
        ("POST", "/api/v1/lotteries", Some(walk_lottery()), CampaignsManage),
        ("GET", "/api/v1/lotteries/{lt}", None, AnalyticsRead),
        ("GET", "/api/v1/lotteries/{lt}/audit", None, AnalyticsRead),
        (
            "POST",
            "/api/v1/lotteries/{lt}/chances?customer={c}",
            Some(json!({"customer_id": "@customer", "chances": 1})),
            CampaignsManage,
        ),
        ("GET", "/api/v1/checkins", None, AnalyticsRead),
        ("POST", "/api/v1/checkins", Some(walk_checkin()), CampaignsManage),
        ("GET", "/api/v1/checkins/{ck}", None, AnalyticsRead),
        ("GET", "/api/v1/group-buys", None, AnalyticsRead),
        ("POST", "/api/v1/group-buys", Some(walk_group_buy()), CampaignsManage),
        ("GET", "/api/v1/group-buys/{gb}", None, AnalyticsRead),
        ("GET", "/api/v1/quizzes", None, AnalyticsRead),
        ("POST", "/api/v1/quizzes", Some(walk_quiz()), CampaignsManage),
        ("GET", "/api/v1/quizzes/{qz}", None, AnalyticsRead),
        ("POST", "/api/v1/customers/import", None, CustomersImport),
        ("DELETE", "/api/v1/customers/{c}", None, CustomersDelete),
    ]
}

/// A lottery in the future with one prize.
fn walk_lottery() -> Value {
    json!({"name": "walk-@@", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
        "prizes": [{"key": "cup", "name": "杯子", "weight": 1, "stock": 1}], "no_prize_weight": 9})
}

/// A check-in activity in the future with one make-up card.
fn walk_checkin() -> Value {
    json!({"name": "walk-@@", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-08T00:00:00Z",
        "makeup_cards": 1})
}

/// A group-buying activity in the future: groups of three.
fn walk_group_buy() -> Value {
    json!({"name": "walk-@@", "sku": "s-1", "title": "t", "price_fen": 100, "group_size": 3,
        "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"})
}

/// A quiz in the future with one question.
fn walk_quiz() -> Value {
    json!({"name": "walk-@@", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
        "questions": [{"text": "乌龙茶属于？", "options": ["绿茶", "青茶"], "answer": 1}]})
}

/// A coupon template: ¥5 off, a week from issue.
fn walk_coupon_template() -> Value {
    json!({"name": "walk-@@", "benefit": {"kind": "fixed", "amount_fen": 500},
        "validity": {"kind": "days_after_issue", "days": 7}})
}

/// A flash sale in the future (the walk only creates it).
fn walk_sale() -> Value {
    json!({"name": "walk", "sku": "s-1", "title": "t", "price_fen": 100, "stock": 5,
        "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z"})
}

/// Creates fresh objects for a route to act on and returns the path filled in.
async fn fixture(app: &TestApp, owner_key: &str, template: &str, round: usize) -> String {
    let mut path = template.to_string();
    if path.contains("{c}") {
        let (_, c, _) = app
            .call(
                "POST",
                "/api/v1/customers",
                owner_key,
                Some(json!({"identities": [{"type": "user_id", "value": format!("fx-{round}")}], "tags": ["VIP"]})),
            )
            .await;
        path = path.replace("{c}", &c["id"].to_string());
        app.call(
            "POST",
            &format!("/api/v1/customers/{}/identities", c["id"]),
            owner_key,
            Some(json!({"type": "member_no", "value": "M-1"})),
        )
        .await;
    }
    if path.contains("{t}") {
        let (_, t, _) = app
            .call("POST", "/api/v1/tags", owner_key, Some(json!({"name": format!("tmp-{round}"), "group": "价值"})))
            .await;
        path = path.replace("{t}", &t["id"].to_string());
    }
    if path.contains("{k}") {
        let (_, k, _) =
            app.call("POST", "/api/v1/keys", owner_key, Some(json!({"kind": "write", "name": "tmp"}))).await;
        path = path.replace("{k}", &k["key"]["id"].to_string());
    }
    if path.contains("{s}") {
        let key = format!("seg-{round}");
        app.call("POST", "/api/v1/segments", owner_key, Some(json!({"key": key, "text": "tag(\"VIP\")"}))).await;
        path = path.replace("{s}", &key);
    }
    if path.contains("{ch}") {
        let name = format!("ch-{round}");
        app.call("PUT", &format!("/api/v1/channels/{name}"), owner_key, Some(dry_run_channel())).await;
        path = path.replace("{ch}", &name);
    }
    if path.contains("{tp}") {
        let name = format!("tp-{round}");
        let template = json!({"title": "模板", "class": "marketing", "body": "您好"});
        app.call("PUT", &format!("/api/v1/templates/{name}"), owner_key, Some(template)).await;
        path = path.replace("{tp}", &name);
    }
    if path.contains("{j}") || path.contains("{tk}") {
        let (_, j, _) =
            app.call("POST", "/api/v1/journeys", owner_key, Some(walk_journey(&format!("fx-{round}")))).await;
        let (status, published, _) =
            app.call("POST", &format!("/api/v1/journeys/{}/publish", j["id"]), owner_key, None).await;
        assert_eq!(status, 200, "{published}");
        path = path.replace("{j}", &j["id"].to_string());
        if path.contains("{tk}") {
            let (_, c, _) = app
                .call(
                    "POST",
                    "/api/v1/customers",
                    owner_key,
                    Some(json!({"identities": [{"type": "user_id", "value": format!("tk-{round}")}]})),
                )
                .await;
            let entries = json!({"customer_ids": [c["id"]], "key": "fx"});
            app.call("POST", &format!("/api/v1/journeys/{}/entries", j["id"]), owner_key, Some(entries)).await;
            // The server's step worker makes the task at once; wait for it (bounded, no sleep).
            let task = tokio::time::timeout(std::time::Duration::from_secs(20), async {
                loop {
                    let (_, tasks, _) = app.call("GET", "/api/v1/tasks", owner_key, None).await;
                    if let Some(task) = tasks["items"]
                        .as_array()
                        .and_then(|items| items.iter().find(|t| t["customer_id"] == c["id"]).cloned())
                    {
                        return task;
                    }
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the journey makes its task");
            path = path.replace("{tk}", &task["id"].to_string());
        }
    }
    if path.contains("{ct}") || path.contains("{ci}") || path.contains("{cc}") || path.contains("{ro}") {
        let (status, template, _) =
            app.call("POST", "/api/v1/coupon-templates", owner_key, Some(walk_coupon_template())).await;
        assert_eq!(status, 201, "{template}");
        path = path.replace("{ct}", &template["id"].to_string());
        let everyone = json!({"key": "walk-all", "text": "has_identity(\"user_id\")"});
        app.call("POST", "/api/v1/segments", owner_key, Some(everyone)).await;
        if path.contains("{ci}") {
            let (status, issue, _) = app
                .call(
                    "POST",
                    &format!("/api/v1/coupon-templates/{}/issue", template["id"]),
                    owner_key,
                    Some(json!({"segment": "walk-all"})),
                )
                .await;
            assert_eq!(status, 202, "{issue}");
            path = path.replace("{ci}", &issue["id"].to_string());
        }
        if path.contains("{cc}") || path.contains("{ro}") {
            let user = json!({"identities": [{"type": "user_id", "value": format!("cc-{round}")}]});
            let (_, c, _) = app.call("POST", "/api/v1/customers", owner_key, Some(user)).await;
            let grant = format!("/api/v1/coupon-templates/{}/grant", template["id"]);
            let (status, coupon, _) = app.call("POST", &grant, owner_key, Some(json!({"customer_id": c["id"]}))).await;
            assert_eq!(status, 201, "{coupon}");
            let code = coupon["code"].as_str().unwrap().to_string();
            path = path.replace("{cc}", &code);
            if path.contains("{ro}") {
                let order = format!("ro-{round}");
                let redeem = json!({"code": code, "order_id": order, "amount_fen": 1000});
                let (status, done, _) = app.call("POST", "/api/v1/coupons/redeem", owner_key, Some(redeem)).await;
                assert_eq!(status, 200, "{done}");
                path = path.replace("{ro}", &order);
            }
        }
    }
    if path.contains("{lt}") {
        let (status, lottery, _) = app.call("POST", "/api/v1/lotteries", owner_key, Some(walk_lottery())).await;
        assert_eq!(status, 201, "{lottery}");
        path = path.replace("{lt}", &lottery["id"].to_string());
    }
    if path.contains("{ck}") {
        let (status, checkin, _) = app.call("POST", "/api/v1/checkins", owner_key, Some(walk_checkin())).await;
        assert_eq!(status, 201, "{checkin}");
        path = path.replace("{ck}", &checkin["id"].to_string());
    }
    if path.contains("{gb}") {
        let (status, group_buy, _) = app.call("POST", "/api/v1/group-buys", owner_key, Some(walk_group_buy())).await;
        assert_eq!(status, 201, "{group_buy}");
        path = path.replace("{gb}", &group_buy["id"].to_string());
    }
    if path.contains("{qz}") {
        let (status, quiz, _) = app.call("POST", "/api/v1/quizzes", owner_key, Some(walk_quiz())).await;
        assert_eq!(status, 201, "{quiz}");
        path = path.replace("{qz}", &quiz["id"].to_string());
    }
    if path.contains("{fs}") {
        let now = app.services.now();
        let sale = json!({"name": format!("fs-{round}"), "sku": "s-1", "title": "t", "price_fen": 100, "stock": 5,
            "starts_at": (now - jiff::SignedDuration::from_mins(1)).to_string(),
            "ends_at": (now + jiff::SignedDuration::from_hours(1)).to_string()});
        let (status, sale, _) = app.call("POST", "/api/v1/flash-sales", owner_key, Some(sale)).await;
        assert_eq!(status, 201, "{sale}");
        path = path.replace("{fs}", &sale["id"].to_string());
        if path.contains("{fo}") {
            let user = json!({"identities": [{"type": "user_id", "value": format!("fo-{round}")}]});
            let (_, c, _) = app.call("POST", "/api/v1/customers", owner_key, Some(user)).await;
            let (_, token, _) =
                app.call("POST", &format!("/api/v1/customers/{}/token", c["id"]), owner_key, None).await;
            let purchase = format!("/c/v1/flash-sales/{}/purchase", sale["id"]);
            let (status, order, _) = app.call("POST", &purchase, token["token"].as_str().unwrap(), None).await;
            assert_eq!(status, 201, "{order}");
            path = path.replace("{fo}", &order["id"].to_string());
        }
    }
    if path.contains("{u}") {
        let id = app
            .services
            .access
            .add_user(app.owner.workspace_id(), &format!("u{round}@brand.cn"), "", "long-password", Role::Analyst)
            .await
            .unwrap();
        path = path.replace("{u}", &id.to_string());
    }
    if path.contains("{i}") {
        let (_, i, _) = app
            .call(
                "POST",
                "/api/v1/users",
                owner_key,
                Some(json!({"email": format!("i{round}@brand.cn"), "role": "analyst"})),
            )
            .await;
        path = path.replace("{i}", &i["invitation"]["id"].to_string());
    }
    path
}

async fn send(app: &TestApp, method: &str, path: &str, key: &str, body: Option<Value>, round: usize) -> (u16, Value) {
    // Bodies name new objects with "@@", made unique per round so repeated creates do not conflict.
    let mut text = body.map(|b| b.to_string().replace("@@", &round.to_string()));
    // What a body must name of the fixture travels in the walked path's query: `?code=…` fills
    // "@code", `?order=…` "@order", `?customer=…` "@customer" (a number).
    let fills = text.as_ref().is_some_and(|t| ["@code", "@order", "@customer"].iter().any(|m| t.contains(m)));
    let (path, query) = if fills { path.split_once('?').unwrap_or((path, "")) } else { (path, "") };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        text = text.map(|t| match key.as_ref() {
            "customer" => t.replace("\"@customer\"", &value),
            _ => t.replace(&format!("@{key}"), &value),
        });
    }
    let body: Option<Value> = text.map(|t| serde_json::from_str(&t).unwrap());
    if path.ends_with("/import") {
        let (status, body, _) = app.call_raw(method, path, key, "text/csv", b"user_id\nimp-1\n".to_vec()).await;
        return (status, body);
    }
    let (status, body, _) = app.call(method, path, key, body).await;
    (status, body)
}

/// Stores two events in the test workspace, so analytics routes have something to answer.
async fn seed_events(app: &TestApp) {
    use siyu_domain::events::{EventKind, NewEvent};
    let ids = app.services.events.customers_for_user_ids(&app.owner, &["ev-1".to_string()]).await.unwrap();
    let now = app.services.now().as_microsecond();
    let events = ["Signed Up", "Order Completed"].map(|name| NewEvent {
        customer: ids[0],
        kind: EventKind::Track,
        name: name.into(),
        ts_us: now,
        received_us: now,
        message_id: String::new(),
        user_id: "ev-1".into(),
        anonymous_id: String::new(),
        properties: r#"{"revenue":10}"#.into(),
        context: "{}".into(),
    });
    app.services.events.append_events(&app.owner, &events).await.unwrap();
}

/// A journey entered by API that sends on the dry-run channel `walk` and leaves a task.
fn walk_journey(name: &str) -> Value {
    json!({
        "name": name,
        "definition": {
            "trigger": {"type": "api"},
            "start": "send",
            "nodes": {
                "send": {"type": "send", "channel": "walk", "class": "transactional", "body": "hi", "next": "call"},
                "call": {"type": "task", "reason": "call back"},
            },
        },
    })
}

/// A webhook channel in dry-run mode: saved like any other, sends nothing.
fn dry_run_channel() -> Value {
    json!({
        "kind": "webhook",
        "settings": {"url": "https://hooks.example.com/siyu", "dry_run": true},
        "secrets": {"secret": "whsec-0123456789abcdef"},
    })
}

async fn seed_tags(app: &TestApp, key: &str) {
    app.call("PUT", "/api/v1/channels/walk", key, Some(dry_run_channel())).await;
    app.call("POST", "/api/v1/tag-groups", key, Some(json!({"name": "价值", "family": "consumption_preference"})))
        .await;
    app.call("POST", "/api/v1/tags", key, Some(json!({"name": "VIP", "group": "价值"}))).await;
}

async fn requests_without_a_valid_secret_key_are_refused(app: TestApp) {
    let response = app.http.get(format!("{}/api/v1/customers", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let (status, _, _) = app.call("GET", "/api/v1/customers", "sy_sk_0000", None).await;
    assert_eq!(status, 401);
    let (_, write_key) = app.services.access.create_key(&app.owner, KeyKind::Write, Role::Owner, "sdk").await.unwrap();
    let (status, problem, _) = app.call("GET", "/api/v1/customers", &write_key, None).await;
    assert_eq!(status, 401, "{problem}");
    let (key, token) =
        app.services.access.create_key(&app.owner, KeyKind::Secret, Role::Owner, "short-lived").await.unwrap();
    assert_eq!(app.call("GET", "/api/v1/customers", &token, None).await.0, 200);
    app.services.access.revoke_key(&app.owner, key.id).await.unwrap();
    assert_eq!(app.call("GET", "/api/v1/customers", &token, None).await.0, 401);
}

async fn every_route_enforces_the_permission_matrix(app: TestApp) {
    seed_tags(&app, &app.key).await;
    seed_events(&app).await;
    let mut round = 0;
    for role in Role::ALL {
        let key = app.key_with_role(role).await;
        for (method, template, body, permission) in routes() {
            round += 1;
            let path = fixture(&app, &app.key, template, round).await;
            let (status, answer) = send(&app, method, &path, &key, body, round).await;
            if role.allows(permission) {
                // The LTV fit needs more orders than the seed has: a 422 that says so is past the check.
                let unanswerable = template.ends_with("/ltv") && status == 422;
                assert!(
                    status < 400 || unanswerable,
                    "{} {method} {path} should be allowed: {status} {answer}",
                    role.as_str()
                );
            } else {
                assert_eq!(status, 403, "{} {method} {path} must be refused: {answer}", role.as_str());
                assert_eq!(answer["detail"], format!("your role lacks the \"{}\" permission", permission.name()));
            }
        }
    }
}

async fn no_route_crosses_workspaces(app: TestApp) {
    seed_tags(&app, &app.key).await;
    let (_, other_key) = app.other_workspace("other").await;
    seed_tags(&app, &other_key).await;
    for (round, (method, template, body, _)) in routes().into_iter().enumerate() {
        // Objects are made in the test workspace; the other workspace's owner key tries to reach them.
        let path = fixture(&app, &app.key, template, round).await;
        let (status, answer) = send(&app, method, &path, &other_key, body, round).await;
        let names_an_object = [
            "{c}", "{t}", "{k}", "{u}", "{s}", "{i}", "{ch}", "{j}", "{tk}", "{tp}", "{fs}", "{ct}", "{ci}", "{cc}",
            "{ro}", "{lt}", "{ck}", "{gb}", "{qz}",
        ]
        .iter()
        .any(|p| template.contains(p));
        if method == "PUT" && (template.contains("{ch}") || template.contains("{tp}")) {
            // Channels and templates are named per workspace: the other workspace saves one of its
            // own, and this workspace's is as it was.
            assert!(status < 400, "{method} {path}: {status} {answer}");
            if template.contains("{tp}") {
                let (_, ours, _) = app.call("GET", &path, &app.key, None).await;
                assert_eq!(ours["title"], "模板", "{method} {path} changed this workspace's: {ours}");
            }
        } else if names_an_object {
            assert_eq!(status, 404, "{method} {path} from another workspace: {answer}");
        } else if method == "GET" {
            // The other workspace has no orders: models saying so is the right answer.
            let no_orders = status == 422 && answer["detail"].as_str().is_some_and(|d| d.contains("no order data"));
            assert!(status < 400 || no_orders, "{method} {path}: {status} {answer}");
            let text = answer.to_string();
            assert!(!text.contains("fx-") && !text.contains("\"Brand\""), "{method} {path} leaked: {text}");
        }
    }
    // And nothing the other workspace did is visible here.
    let (_, mine, _) = app.call("GET", "/api/v1/customers?limit=1000", &app.key, None).await;
    assert!(
        !mine.to_string().contains("new-@@")
            || mine["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c.to_string().contains("fx-") || c.to_string().contains("new-"))
    );
    let (_, theirs, _) = app.call("GET", "/api/v1/customers?limit=1000", &other_key, None).await;
    assert!(!theirs.to_string().contains("fx-"), "{theirs}");
}

/// Turns a walked path into its OpenAPI template (`/api/v1/customers/{c}` → `/api/v1/customers/{id}`).
fn documented_path(template: &str) -> String {
    template
        .split('?')
        .next()
        .unwrap()
        .replace("{c}", "{id}")
        .replace("{t}", "{id}")
        .replace("{k}", "{id}")
        .replace("{u}", "{id}")
        .replace("{i}", "{id}")
        .replace("{ch}", "{name}")
        .replace("{tp}", "{name}")
        .replace("{j}", "{id}")
        .replace("{tk}", "{id}")
        .replace("{fs}", "{id}")
        .replace("{fo}", "{order}")
        .replace("{ct}", "{id}")
        .replace("{lt}", "{id}")
        .replace("{ck}", "{id}")
        .replace("{gb}", "{id}")
        .replace("{qz}", "{id}")
        .replace("{ci}", "{id}")
        .replace("{cc}", "{code}")
        .replace("{s}", "{key}")
        .replace("member_no/M-1", "{type}/{value}")
        .replace("tags/VIP", "tags/{tag}")
}

async fn openapi_document_lists_every_route(app: TestApp) {
    let document: Value =
        reqwest::get(format!("{}/api/v1/openapi.json", app.base_url)).await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for (method, template, _, _) in routes() {
        let path = documented_path(template);
        let operation = &document["paths"][&path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} missing from the OpenAPI document");
    }
    // The other way round: every route the code guards is walked by the permission matrix above, with
    // the permission the code checks for it (docs/PERMISSIONS.md is held to the same table by tidy).
    let walked: Vec<(String, String, Permission)> = routes()
        .into_iter()
        .map(|(method, template, _, permission)| (method.to_string(), documented_path(template), permission))
        .collect();
    for (method, route, access) in siyu_web::api::ROUTES {
        let siyu_web::api::Access::Role(permissions) = access else { continue };
        let (_, _, permission) = walked
            .iter()
            .find(|(m, p, _)| m == method && p == route)
            .unwrap_or_else(|| panic!("{method} {route} is not in the permission matrix walk"));
        assert!(
            permissions.contains(permission) || (permissions.is_empty() && *permission == Permission::CustomersRead),
            "{method} {route}: the walk expects {}, the code checks {permissions:?}",
            permission.name()
        );
    }
    let docs = reqwest::get(format!("{}/api/docs", app.base_url)).await.unwrap();
    assert_eq!(docs.status(), 200);
    let bundle = reqwest::get(format!("{}/assets/swagger-ui/swagger-ui-bundle.js", app.base_url)).await.unwrap();
    assert_eq!(bundle.status(), 200);
}
