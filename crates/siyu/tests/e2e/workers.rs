//! Background workers run on the shared runner, and `/healthz` shows them.

use crate::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_lists_the_background_workers_and_their_states() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let response = app.http.get(format!("{}/healthz", app.base_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let workers = health["workers"].as_array().unwrap();
    let names: Vec<&str> = workers.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "store.checkpoint",
            "index.upkeep",
            "segments.upkeep",
            "segments.record",
            "channels.send",
            "journeys.enter",
            "journeys.step",
            "journeys.schedule",
            "journeys.position",
            "campaigns.upkeep",
            "campaigns.issue",
            "models.refresh",
            "segments.refresh"
        ]
    );
    for worker in workers {
        let state = worker["state"].as_str().unwrap();
        assert!(["starting", "working", "idle"].contains(&state), "{worker}");
        assert_eq!(worker["failures"], 0, "{worker}");
        assert!(worker.get("last_error").is_none(), "error texts stay off the unauthenticated endpoint");
        let name = worker["name"].as_str().unwrap();
        if state == "idle" && name.ends_with(".refresh") {
            let due: jiff::Timestamp = worker["next_due"].as_str().unwrap().parse().unwrap();
            assert!(due > app.services.now(), "the minute pass is due a minute after start: {worker}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_see_the_background_work_in_the_console_and_others_do_not() {
    use crate::console_support::{ANALYST, OWNER, PASSWORD, ZH, fragment, get, logged_in};
    use siyu_domain::access::Role;
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let ws = app.owner.workspace_id();
    for (email, role) in [(OWNER, Role::Owner), (ANALYST, Role::Analyst)] {
        app.services.access.add_user(ws, email, "测试", PASSWORD, role).await.unwrap();
    }
    let owner = logged_in(&app, OWNER, ZH).await;
    let (status, page) = get(&owner, &app, "/system").await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="nav-system" href="/system" class="active""#));
    let table = fragment(&page, r#"id="workers-table""#, "</table>");
    let keys = [
        "store.checkpoint",
        "index.upkeep",
        "segments.upkeep",
        "segments.record",
        "models.refresh",
        "segments.refresh",
        "channels.send",
        "journeys.enter",
        "journeys.step",
        "journeys.schedule",
        "journeys.position",
    ];
    for key in keys {
        assert!(table.contains(&format!(r#"data-worker="{key}""#)), "{table}");
    }
    let names = [
        "数据库日志检查点",
        "分析索引维护",
        "分群实时维护",
        "分群进出记录",
        "模型刷新",
        "分群全量校对",
        "消息发送",
        "旅程触发与目标",
        "旅程执行",
        "定时旅程",
        "旅程触发位置",
    ];
    for words in names {
        assert!(table.contains(words), "{words}: {table}");
    }
    // Every worker has a name in words: none shows its machine name.
    for cell in table.split(r#"<td class="name">"#).skip(1) {
        let name = cell.split("</td>").next().unwrap_or_default();
        assert!(
            name.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "a worker without a Chinese name: {name}"
        );
    }
    // "Brand" is the test workspace's name: data, not interface.
    let words = crate::console_ux::english_words(&page.replace("Brand", ""));
    assert!(words.is_empty(), "English in the Chinese page: {words:?}");

    let analyst = logged_in(&app, ANALYST, ZH).await;
    let (status, page) = get(&analyst, &app, "/system").await;
    assert_eq!(status, 403);
    assert!(page.contains("workspace:manage"), "the page says which permission is missing");
    let (_, home) = get(&analyst, &app, "/").await;
    assert!(!home.contains(r#"id="nav-system""#), "the navigation hides it");
}
