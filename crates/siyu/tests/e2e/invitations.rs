//! Adding people to a workspace: invitations that only the invited person can accept, the login
//! throttle per client address, and cookies that are Secure behind https.

use crate::console_support::{OWNER, PASSWORD, csrf_in, fragment, get, logged_in, new_client, post, submit_login};
use crate::{Backend, TestApp, spawn_app};
use serde_json::json;
use siyu_domain::access::Role;

const EN: &str = "en-US,en;q=0.9";

async fn console_app() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    app.services.access.add_user(app.owner.workspace_id(), OWNER, "王店长", PASSWORD, Role::Owner).await.unwrap();
    app
}

/// Returns the path of an accept link (`http://host/invite/…` → `/invite/…`).
fn path_of(url: &str) -> String {
    format!("/invite/{}", url.rsplit('/').next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_owner_cannot_take_over_a_user_of_another_workspace() {
    let app = console_app().await;
    let (_, attacker_key) = app.other_workspace("evil").await;

    // Setting a password for someone is refused outright, naming the field; nothing is created.
    let body = json!({"email": OWNER, "password": "chosen-by-attacker", "role": "owner"});
    let (status, problem, _) = app.call("POST", "/api/v1/users", &attacker_key, Some(body)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "password");

    // Inviting the victim only creates an invitation with a one-time link.
    let body = json!({"email": OWNER, "role": "owner"});
    let (status, created, _) = app.call("POST", "/api/v1/users", &attacker_key, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["invitation"]["email"], OWNER);
    let link = path_of(created["accept_url"].as_str().unwrap());
    let (_, pending, _) = app.call("GET", "/api/v1/invitations", &attacker_key, None).await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (_, mine, _) = app.call("GET", "/api/v1/invitations", &app.key, None).await;
    assert_eq!(mine, json!([]), "invitations stay in their workspace");

    // The victim's password still works and still leads only into their own workspace.
    let victim = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&victim, &app, "/customers").await;
    assert!(fragment(&page, r#"id="workspace-switcher""#, "</select>").matches("<option").count() == 1);

    // The attacker, holding the link, is asked for the victim's own password and cannot pass.
    let attacker = new_client(EN, true);
    let (status, page) = get(&attacker, &app, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="invite-password""#) && !page.contains(r#"id="invite-password-again""#), "{page}");
    let csrf = csrf_in(&page);
    let guesses = [
        vec![("_csrf", csrf.as_str()), ("password", "chosen-by-attacker")],
        vec![
            ("_csrf", csrf.as_str()),
            ("name", "x"),
            ("password", "chosen-by-attacker"),
            ("password_again", "chosen-by-attacker"),
        ],
    ];
    for form in guesses {
        let (status, _) = post(&attacker, &app, &link, &form).await;
        assert_eq!(status, 401, "a guess accepts nothing");
    }
    let (status, _, _) = submit_login(&new_client(EN, true), &app, OWNER, "chosen-by-attacker").await;
    assert_eq!(status, 401, "the attacker's password was never set");
    assert!(
        app.services
            .access
            .members(&app.owner)
            .await
            .unwrap()
            .iter()
            .any(|m| m.email == OWNER && m.role == Role::Owner)
    );

    // The victim, signed in, accepts with one click and now belongs to both workspaces.
    let (status, page) = get(&victim, &app, &link).await;
    assert_eq!(status, 200);
    assert!(!page.contains(r#"id="invite-password""#), "signed in as the invitee: no password asked");
    let (status, page) = post(&victim, &app, &link, &[("_csrf", &csrf_in(&page))]).await;
    assert_eq!(status, 200, "{page}");
    let switcher = fragment(&page, r#"id="workspace-switcher""#, "</select>");
    assert_eq!(switcher.matches("<option").count(), 2, "{switcher}");
    let (status, _) = get(&attacker, &app, &link).await;
    assert_eq!(status, 404, "the link is spent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitee_without_an_account_sets_their_own_password() {
    let app = console_app().await;
    let owner = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&owner, &app, "/users").await;
    let form = [("_csrf", csrf_in(&page)), ("email", "new.hire@brand.cn".into()), ("role", "operator".into())];
    let response = owner.post(format!("{}/users", app.base_url)).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let page = response.text().await.unwrap();
    let link = fragment(&page, r#"<code class="mono grow" id="invite-link-value">"#, "</code>")
        .trim_start_matches(r#"<code class="mono grow" id="invite-link-value">"#)
        .to_string();
    assert!(fragment(&page, r#"id="invitations""#, "</section>").contains("new.hire@brand.cn"));
    let (_, listed) = get(&owner, &app, "/users").await;
    assert!(!listed.contains(&link), "the link is shown only once");

    let invitee = new_client(EN, true);
    let (_, page) = get(&invitee, &app, &path_of(&link)).await;
    let csrf = csrf_in(&page);
    let mismatch = [("_csrf", csrf.as_str()), ("password", "my-own-pass"), ("password_again", "my-own-pasS")];
    let (status, page) = post(&invitee, &app, &path_of(&link), &mismatch).await;
    assert_eq!(status, 422);
    assert!(page.contains("The two passwords differ."));
    let good = [
        ("_csrf", csrf.as_str()),
        ("name", "New Hire"),
        ("password", "my-own-pass"),
        ("password_again", "my-own-pass"),
    ];
    let (status, page) = post(&invitee, &app, &path_of(&link), &good).await;
    assert_eq!(status, 200);
    assert!(page.contains("new.hire@brand.cn"), "signed in as the new account: {page}");
    let (status, _, _) = submit_login(&new_client(EN, true), &app, "new.hire@brand.cn", "my-own-pass").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_from_an_address_that_keeps_failing_are_held_back_whatever_the_account() {
    let app = console_app().await;
    for i in 0..5 {
        let (status, _, _) = submit_login(&new_client(EN, true), &app, &format!("guess{i}@brand.cn"), "guess").await;
        assert_eq!(status, 401);
    }
    let (status, _, page) = submit_login(&new_client(EN, true), &app, OWNER, PASSWORD).await;
    assert_eq!(status, 429, "even a right password waits: {page}");
    assert!(page.contains("from this network address"), "{page}");
    let (status, _, _) = app.call("GET", "/api/v1/customers", &app.key, None).await;
    assert_eq!(status, 200, "API keys are not affected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_secure_when_the_public_url_is_https() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = siyu::Config::for_tests(dir.path(), None);
    config.http.public_url = Some("https://crm.brand.cn".into());
    let app = siyu::App::build(&config).await.unwrap();
    let services = app.services().clone();
    let ws = services
        .access
        .create_workspace(&siyu_domain::access::workspaces::NewWorkspace::parse("brand", None, None, None).unwrap())
        .await
        .unwrap();
    services.access.add_user(ws.id, OWNER, "", PASSWORD, Role::Owner).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async move {
        stopped.await.ok();
    }));
    let client = siyu::http_client().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form_page = client.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = form_page.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let csrf = csrf_in(&form_page.text().await.unwrap());
    let csrf_cookie = login_cookie.split(';').next().unwrap().to_string();
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", csrf_cookie)
        .form(&[("_csrf", csrf.as_str()), ("email", OWNER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("siyu_session=")), "{cookies:?}");
    assert!(cookies.iter().all(|c| c.contains("; Secure") && c.contains("HttpOnly")), "{cookies:?}");
}
