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
    assert_eq!(names, ["models.refresh", "segments.refresh"]);
    for worker in workers {
        let state = worker["state"].as_str().unwrap();
        assert!(["starting", "working", "idle"].contains(&state), "{worker}");
        assert_eq!(worker["failures"], 0, "{worker}");
        assert!(worker.get("last_error").is_none(), "error texts stay off the unauthenticated endpoint");
        if state == "idle" {
            let due: jiff::Timestamp = worker["next_due"].as_str().unwrap().parse().unwrap();
            assert!(due > app.services.now(), "the minute pass is due a minute after start: {worker}");
        }
    }
}
