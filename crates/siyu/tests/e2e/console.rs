//! Console tests: over HTTP with a cookie-keeping client (login, CSRF, redirects, masking, 403s), and
//! in a real headless Chromium driven through its own chromedriver (language switch, search, 360 page).

use crate::console_support::{
    AGENT, ANALYST, Browser, EN, OWNER, PASSWORD, ZH, csrf_in, fragment, get, logged_in, new_client, post, submit_login,
};
use crate::{Backend, TestApp, spawn_app};
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use siyu_core::CustomerId;
use siyu_domain::access::Role;
use siyu_domain::customers::ConsentChange;
use siyu_domain::customers::CustomerInput;

const PHONE: &str = "13800000000";
const PHONE_E164: &str = "+8613800000000";
const PHONE_MASKED: &str = "138****0000";
const EMAIL: &str = "li.lei@example.com";
const NAME: &str = "李雷";

async fn console_app() -> TestApp {
    spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup")
}

fn input(value: Value) -> CustomerInput {
    serde_json::from_value(value).expect("test input matches CustomerInput")
}

/// Seeds three users (owner, cs_agent, analyst), tags, a few customers, and Li Lei: a customer who
/// came in twice (phone, then e-mail) and was merged, with a note and consent history. Returns his id.
async fn seed(app: &TestApp) -> i64 {
    let (services, owner) = (&app.services, &app.owner);
    let ws = owner.workspace_id();
    for (email, name, role) in
        [(OWNER, "王店长", Role::Owner), (AGENT, "客服小张", Role::CsAgent), (ANALYST, "分析师小陈", Role::Analyst)]
    {
        services.access.add_user(ws, email, name, PASSWORD, role).await.unwrap();
    }
    services.customers.create_tag_group(owner, "价值分层", "consumption_preference").await.unwrap();
    services.customers.create_tag_group(owner, "活跃度", "behaviour").await.unwrap();
    for (group, tag) in [("价值分层", "VIP"), ("价值分层", "高潜力"), ("活跃度", "沉睡"), ("活跃度", "夜猫子")]
    {
        services.customers.create_tag(owner, group, tag).await.unwrap();
    }
    let neighbours = [
        ("韩梅梅", "13900001111", "han.meimei@example.com", "北京", "高潜力"),
        ("王小明", "13700002222", "xiaoming@example.cn", "杭州", "沉睡"),
        ("陈静", "15000003333", "chen.jing@example.com", "深圳", "VIP"),
        ("赵磊", "18600004444", "zhao.lei@example.org", "成都", "夜猫子"),
    ];
    for (name, phone, email, city, tag) in neighbours {
        let customer = json!({"identities": [{"type": "phone", "value": phone}, {"type": "email", "value": email}],
            "traits": {"name": name, "city": city}, "tags": [tag]});
        services.customers.upsert_customer(owner, input(customer)).await.unwrap();
    }
    let by_phone = json!({"identities": [{"type": "phone", "value": PHONE}, {"type": "wecom_external_userid", "value": "wmABC123"}],
        "traits": {"name": NAME, "city": "上海", "level": 3}, "tags": ["VIP"], "source": "wecom"});
    services.customers.upsert_customer(owner, input(by_phone)).await.unwrap();
    let by_email = json!({"identities": [{"type": "email", "value": EMAIL}, {"type": "member_no", "value": "M-20240001"}],
        "traits": {"favourite": "咖啡"}, "source": "mini_program"});
    services.customers.upsert_customer(owner, input(by_email)).await.unwrap();
    let linking = json!({"identities": [{"type": "phone", "value": PHONE}, {"type": "email", "value": EMAIL}]});
    let merged = services.customers.upsert_customer(owner, input(linking)).await.unwrap();
    assert!(!merged.merged.is_empty(), "the linking write merges the two profiles");
    let id = merged.id;
    services.customers.add_note(owner, id, "客户咨询会员积分到期时间，已告知。").await.unwrap();
    let change = |channel: &str, granted: bool| ConsentChange {
        purpose: "marketing".into(),
        channel: channel.into(),
        granted,
        source: Some("mini_program".into()),
        policy_version: "2024-01".into(),
    };
    services.customers.change_consent(owner, id, vec![change("sms", true), change("email", true)]).await.unwrap();
    services.customers.change_consent(owner, id, vec![change("sms", false)]).await.unwrap();
    id.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_wrong_password_shows_a_localized_error() {
    let app = console_app().await;
    seed(&app).await;
    for (lang, expected) in [(ZH, "邮箱或密码错误"), (EN, "Wrong e-mail or password")] {
        let client = new_client(lang, true);
        let (status, path, page) = submit_login(&client, &app, OWNER, "not-the-password").await;
        assert_eq!((status, path.as_str()), (401, "/login"));
        assert!(fragment(&page, r#"id="login-error""#, "</div>").contains(expected), "{lang}: {page}");
        assert!(page.contains(&format!(r#"value="{OWNER}""#)), "the e-mail stays filled in");
    }
    let (status, _, page) = submit_login(&new_client(ZH, true), &app, "nobody@brand.cn", PASSWORD).await;
    assert_eq!(status, 401, "an unknown e-mail reads exactly like a wrong password");
    assert!(page.contains("邮箱或密码错误"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_lock_the_account_with_a_localized_message() {
    let app = console_app().await;
    seed(&app).await;
    let client = new_client(EN, true);
    for _ in 0..4 {
        assert_eq!(submit_login(&client, &app, AGENT, "wrong-password").await.0, 401);
    }
    let (status, _, page) = submit_login(&client, &app, AGENT, "wrong-password").await;
    assert_eq!(status, 429);
    assert!(page.contains("the account is locked until"), "{page}");
    let (status, _, page) = submit_login(&new_client(ZH, true), &app, AGENT, PASSWORD).await;
    assert_eq!(status, 429, "even the right password waits for the lock to end");
    assert!(page.contains("账户已锁定"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_form_without_its_csrf_token_is_refused() {
    let app = console_app().await;
    seed(&app).await;
    let client = new_client(ZH, true);
    get(&client, &app, "/login").await;
    let (status, page) = post(&client, &app, "/login", &[("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(status, 403);
    assert!(page.contains("表单已过期"), "{page}");
    let wrong = "0".repeat(32);
    let (status, _) =
        post(&client, &app, "/login", &[("_csrf", &wrong), ("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(status, 403);
    // A forged form from another site carries a token but cannot set the cookie it must match.
    let (_, login_page) = get(&client, &app, "/login").await;
    let token = csrf_in(&login_page);
    let stranger = new_client(ZH, true);
    let (status, _) =
        post(&stranger, &app, "/login", &[("_csrf", &token), ("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(status, 403);
    let (_, page) = get(&client, &app, "/customers").await;
    assert!(page.contains(r#"id="login-form""#), "no session was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_redirect_to_login_without_a_session() {
    let app = console_app().await;
    let client = new_client(EN, false);
    for path in ["/", "/customers", "/customers/1", "/tags", "/keys", "/users", "/analytics/paths"] {
        let response = client.get(format!("{}{path}", app.base_url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login", "{path}");
    }
    let stale = client
        .get(format!("{}/customers", app.base_url))
        .header("cookie", "siyu_session=0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.headers()[LOCATION], "/login", "an unknown session token counts as none");
    let response =
        client.post(format!("{}/customers/1/notes", app.base_url)).form(&[("body", "hi")]).send().await.unwrap();
    assert_eq!(response.headers()[LOCATION], "/login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_session_csrf_token_are_refused_and_write_nothing() {
    let app = console_app().await;
    let id = seed(&app).await;
    let client = logged_in(&app, OWNER, EN).await;
    let path = format!("/customers/{id}/notes");
    let (status, page) = post(&client, &app, &path, &[("body", "forged note")]).await;
    assert_eq!(status, 403);
    assert!(page.contains("did not come from this site"), "{page}");
    let wrong = "f".repeat(32);
    assert_eq!(post(&client, &app, &path, &[("_csrf", &wrong), ("body", "forged note")]).await.0, 403);
    let notes = app.services.customers.notes(&app.owner, CustomerId(id)).await.unwrap();
    assert_eq!(notes.len(), 1, "only the seeded note exists");

    let (_, page) = get(&client, &app, &format!("/customers/{id}")).await;
    let csrf = csrf_in(&page);
    let (status, page) = post(&client, &app, &path, &[("_csrf", &csrf), ("body", "called back about points")]).await;
    assert_eq!(status, 200, "a genuine note is added and the page shown again");
    assert!(fragment(&page, r#"id="notes""#, "</ul>").contains("called back about points"));
    assert_eq!(app.services.customers.notes(&app.owner, CustomerId(id)).await.unwrap().len(), 2);

    let (status, page) = post(&client, &app, &path, &[("_csrf", &csrf), ("body", "   ")]).await;
    assert_eq!(status, 422, "an empty note shows the form again");
    assert!(fragment(&page, r#"id="note-errors""#, "</ul>").contains("1-4000 characters"));

    assert_eq!(post(&client, &app, "/logout", &[]).await.0, 403, "logging out needs the token too");
    assert_eq!(get(&client, &app, "/customers").await.0, 200, "so the session is still alive");
    let (status, page) = post(&client, &app, "/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="login-form""#), "logging out lands on the login page");
    assert!(get(&client, &app, "/customers").await.1.contains(r#"id="login-form""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_exports_and_erases_a_customer_from_the_360_page() {
    let app = console_app().await;
    let id = seed(&app).await;
    let page_path = format!("/customers/{id}");
    let (export_path, erase_path) = (format!("/customers/{id}/export.json"), format!("/customers/{id}/erase"));

    // A customer-service agent sees neither, and is refused both.
    let agent = logged_in(&app, AGENT, ZH).await;
    let (_, page) = get(&agent, &app, &page_path).await;
    assert!(!page.contains(r#"id="personal-data-panel""#));
    assert_eq!(get(&agent, &app, &export_path).await.0, 403);
    let csrf = csrf_in(&page);
    assert_eq!(post(&agent, &app, &erase_path, &[("_csrf", &csrf), ("confirm", "yes")]).await.0, 403);

    let owner = logged_in(&app, OWNER, ZH).await;
    let (_, page) = get(&owner, &app, &page_path).await;
    let panel = fragment(&page, r#"id="personal-data-panel""#, "</section>");
    assert!(panel.contains("导出个人信息") && panel.contains("删除该客户"), "{panel}");
    let response = owner.get(format!("{}{export_path}", app.base_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains(&format!("customer-{id}.json")));
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["customer_id"], json!(id));
    assert!(export["customers"]["profile"]["identities"].to_string().contains(PHONE_E164), "unmasked");

    // Without the confirmation box nothing is erased.
    let csrf = csrf_in(&page);
    let (status, page) = post(&owner, &app, &erase_path, &[("_csrf", &csrf)]).await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="erase-errors""#, "</ul>").contains("请先勾选确认框"));
    assert!(app.services.customers.customer(&app.owner, CustomerId(id)).await.is_ok());

    let (status, page) = post(&owner, &app, &erase_path, &[("_csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200, "back on the customer list");
    assert!(page.contains("客户已删除"), "the list says so");
    assert!(matches!(
        app.services.customers.customer(&app.owner, CustomerId(id)).await,
        Err(siyu_domain::DomainError::NotFound(_))
    ));
    assert_eq!(get(&owner, &app, &page_path).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cs_agent_sees_only_masked_personal_data() {
    let app = console_app().await;
    let id = seed(&app).await;
    let client = logged_in(&app, AGENT, ZH).await;
    let (status, list) = get(&client, &app, &format!("/customers?q={PHONE}")).await;
    assert_eq!(status, 200);
    let table = fragment(&list, r#"<table id="customers""#, "</table>");
    assert!(table.contains(&format!(r#"href="/customers/{id}""#)), "search by the raw phone finds him: {table}");
    assert!(table.contains(PHONE_MASKED));
    for raw in [PHONE, PHONE_E164, EMAIL, NAME] {
        assert!(!table.contains(raw), "the result table shows no raw {raw}");
    }
    let (status, page) = get(&client, &app, &format!("/customers/{id}")).await;
    assert_eq!(status, 200);
    let identities = fragment(&page, r#"id="identities""#, "</table>");
    assert!(identities.contains(PHONE_MASKED), "{identities}");
    assert!(identities.contains("已脱敏"), "masked values carry a badge");
    for raw in [PHONE, PHONE_E164, EMAIL, NAME] {
        assert!(!page.contains(raw), "the 360 page never contains the raw {raw}");
    }
    assert!(page.contains(r#"id="note-form""#), "cs agents may write notes");
    assert!(page.contains(r#"id="user-role">客服"#), "the top bar names the role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_sees_the_whole_customer_unmasked() {
    let app = console_app().await;
    let id = seed(&app).await;
    let client = logged_in(&app, OWNER, ZH).await;
    let (status, page) = get(&client, &app, &format!("/customers/{id}")).await;
    assert_eq!(status, 200);
    let identities = fragment(&page, r#"id="identities""#, "</table>");
    for raw in [PHONE_E164, EMAIL, "wmABC123", "M-20240001"] {
        assert!(identities.contains(raw), "{raw} in {identities}");
    }
    assert!(!identities.contains("masked-badge"), "nothing is masked for the owner");
    assert!(fragment(&page, r#"id="customer-heading""#, "</h1>").contains(NAME));
    let traits = fragment(&page, r#"id="traits""#, "</table>");
    assert!(traits.contains("上海") && traits.contains("咖啡"), "{traits}");
    let history = fragment(&page, r#"id="consent-history""#, "</table>");
    assert_eq!(history.matches("<tr><td>").count(), 3, "three consent records: {history}");
    assert!(history.contains("已撤回") && history.contains("2024-01"));
    assert!(fragment(&page, r#"id="merges""#, "</table>").contains("<td>#"), "the merge is listed");
    assert!(fragment(&page, r#"id="notes""#, "</ul>").contains("积分到期"));
    let (_, list) = get(&client, &app, "/customers?tag=VIP").await;
    let table = fragment(&list, r#"<table id="customers""#, "</table>");
    assert_eq!(table.matches("customer-link").count(), 2, "two VIPs: {table}");
    assert!(list.contains("找到 2 位客户（共 5 位）"), "the count found and the total are shown");
    let (status, list) = get(&client, &app, "/customers?trait=name%3D%E6%9D%8E%E9%9B%B7").await;
    assert_eq!(status, 422, "personal traits cannot be searched");
    assert!(fragment(&list, r#"id="search-errors""#, "</div>").contains("是个人信息，不能用于搜索"));
    let (status, page) = get(&client, &app, "/customers/999999").await;
    assert_eq!(status, 404);
    assert!(page.contains("未找到"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_list_pages_with_a_cursor() {
    let app = console_app().await;
    seed(&app).await;
    let more =
        (0..30).map(|i| input(json!({"identities": [{"type": "user_id", "value": format!("u-{i}")}]}))).collect();
    app.services.customers.upsert_customers(&app.owner, more, "api", "").await.unwrap();
    let client = logged_in(&app, OWNER, EN).await;
    let (_, first) = get(&client, &app, "/customers").await;
    assert!(first.contains("35 customers in total"));
    assert_eq!(fragment(&first, r#"<table id="customers""#, "</table>").matches("customer-link").count(), 25);
    let next = fragment(&first, r#"id="next-page" href=""#, "\"").trim_start_matches(r#"id="next-page" href=""#);
    assert!(next.starts_with("/customers?cursor=c"), "{next}");
    let (_, second) = get(&client, &app, &next.replace("&amp;", "&")).await;
    assert_eq!(fragment(&second, r#"<table id="customers""#, "</table>").matches("customer-link").count(), 10);
    assert!(!second.contains(r#"id="next-page""#), "the last page has no next link");
    assert!(second.contains(r#"id="first-page""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_switcher_moves_the_session_to_another_membership() {
    let app = console_app().await;
    seed(&app).await;
    let (other, _) = app.other_workspace("outlet").await;
    app.services.access.add_user(other.workspace_id(), OWNER, "王店长", PASSWORD, Role::Analyst).await.unwrap();
    let (stranger, _) = app.other_workspace("stranger").await;
    let client = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&client, &app, "/customers").await;
    let switcher = fragment(&page, r#"id="workspace-switcher""#, "</select>");
    assert_eq!(switcher.matches("<option").count(), 2, "{switcher}");
    let csrf = csrf_in(&page);
    let target = other.workspace_id().to_string();
    let (status, page) = post(&client, &app, "/workspace/switch", &[("_csrf", &csrf), ("workspace", &target)]).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="home-empty""#), "the switch lands on the home page, empty there: {page}");
    assert!(page.contains(r#"id="user-role">Analyst"#), "and the role there applies");
    assert!(
        fragment(&page, r#"id="workspace-switcher""#, "</select>").contains(&format!(r#"value="{target}" selected"#))
    );
    assert!(get(&client, &app, "/customers").await.1.contains("0 customers in total"), "the other workspace is empty");
    let foreign = stranger.workspace_id().to_string();
    let (status, _) = post(&client, &app, "/workspace/switch", &[("_csrf", &csrf), ("workspace", &foreign)]).await;
    assert_eq!(status, 404, "a workspace the user does not belong to cannot be entered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_open_api_keys_and_users() {
    let app = console_app().await;
    seed(&app).await;
    let analyst = logged_in(&app, ANALYST, ZH).await;
    for path in ["/keys", "/users"] {
        let (status, page) = get(&analyst, &app, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("无权访问"), "{path}: {page}");
    }
    let (_, page) = get(&analyst, &app, "/customers").await;
    assert!(!page.contains(r#"id="nav-keys""#), "the navigation hides pages the role cannot open");
    let (status, page) = get(&analyst, &app, "/tags").await;
    assert_eq!(status, 200);
    assert!(!page.contains(r#"id="group-form""#), "analysts see tags but cannot create them");

    let owner = logged_in(&app, OWNER, EN).await;
    let (status, page) = get(&owner, &app, "/users").await;
    assert_eq!(status, 200);
    let matrix = fragment(&page, r#"id="permission-matrix""#, "</table>");
    assert_eq!(matrix.matches("data-permission=").count(), siyu_domain::access::Permission::ALL.len());
    assert!(fragment(&page, r#"id="members""#, "</table>").contains(AGENT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_creates_an_api_key_and_sees_its_token_once() {
    let app = console_app().await;
    seed(&app).await;
    let client = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&client, &app, "/keys").await;
    let csrf = csrf_in(&page);
    let form = [("_csrf", csrf.as_str()), ("kind", "secret"), ("role", "analyst"), ("name", "CRM sync")];
    let (status, page) = post(&client, &app, "/keys", &form).await;
    assert_eq!(status, 200);
    let token =
        fragment(&page, r#"<code id="new-key-token">"#, "</code>").trim_start_matches(r#"<code id="new-key-token">"#);
    assert!(token.starts_with("sy_sk_"), "{token}");
    assert!(page.contains("shown only this once"));
    let (_, listed) = get(&client, &app, "/keys").await;
    assert!(!listed.contains(token), "the token is never shown again");
    let key_id =
        app.services.access.keys(&app.owner).await.unwrap().into_iter().find(|k| k.name == "CRM sync").unwrap().id;
    let (status, page) = post(&client, &app, &format!("/keys/{key_id}/revoke"), &[("_csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Key revoked."), "{page}");
    let (status, page) =
        post(&client, &app, "/keys", &[("_csrf", &csrf), ("kind", "root"), ("role", "analyst"), ("name", "x")]).await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="key-errors""#, "</ul>").contains("unknown key kind"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_forms_show_field_errors_and_create_groups_and_tags() {
    let app = console_app().await;
    seed(&app).await;
    let client = logged_in(&app, OWNER, ZH).await;
    let (_, page) = get(&client, &app, "/tags").await;
    let csrf = csrf_in(&page);
    let (status, page) =
        post(&client, &app, "/tags/groups", &[("_csrf", &csrf), ("name", " "), ("family", "social")]).await;
    assert_eq!(status, 422);
    assert!(fragment(&page, r#"id="group-errors""#, "</ul>").contains(r#"data-field="name""#));
    let (status, page) =
        post(&client, &app, "/tags/groups", &[("_csrf", &csrf), ("name", "价值分层"), ("family", "social")]).await;
    assert_eq!(status, 422, "a duplicate name is a field error too");
    assert!(page.contains("已存在同名记录"));
    let (status, page) =
        post(&client, &app, "/tags/groups", &[("_csrf", &csrf), ("name", "社群角色"), ("family", "social")]).await;
    assert_eq!(status, 200);
    assert!(page.contains("标签组已创建") && page.contains("社交属性"), "{page}");
    let (status, page) =
        post(&client, &app, "/tags", &[("_csrf", &csrf), ("name", "团长"), ("group", "社群角色")]).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-tag="团长""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_links_set_a_cookie_and_return_to_the_same_page() {
    let app = console_app().await;
    let client = new_client(ZH, false);
    let response = client
        .get(format!("{}/lang/en", app.base_url))
        .header("referer", format!("{}/tags?x=1", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/tags?x=1");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("siyu_lang=en;") && cookie.contains("SameSite=Lax"), "{cookie}");
    let (_, page) = get(&client, &app, "/login").await;
    assert!(page.contains(r#"<html lang="en">"#), "the cookie beats Accept-Language");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_switches_language_searches_and_opens_the_360_page_in_chromium() {
    let app = console_app().await;
    let id = seed(&app).await;
    let browser = Browser::start("owner_in_chromium").await;
    browser.step("login", browser.log_in(&app, OWNER, "/")).await;
    browser
        .step("switch-language", async {
            browser.click("#nav-customers").await;
            browser.find("table#customers").await;
            browser.click("a#lang-en").await;
            browser.wait_for_text("#nav-customers", "Customers").await;
            assert_eq!(browser.text("#search-submit").await, "Search");
            browser.click("a#lang-zh").await;
            browser.wait_for_text("#nav-customers", "客户").await;
            assert_eq!(browser.text("#search-submit").await, "搜索");
        })
        .await;
    browser
        .step("search-by-phone", async {
            browser.type_into("#search-q", PHONE).await;
            browser.click("#search-submit").await;
            browser.wait_for_text("#customers tbody", PHONE_E164).await;
            assert_eq!(browser.count("#customers .customer-link").await, 1);
            browser.click("#customers .customer-link").await;
            browser.find("#identities").await;
            assert_eq!(browser.path().await, format!("/customers/{id}"));
        })
        .await;
    browser
        .step("identities-unmasked", async {
            let identities = browser.text("#identities").await;
            for raw in [PHONE_E164, EMAIL, "wmABC123"] {
                assert!(identities.contains(raw), "{raw} in {identities}");
            }
            assert_eq!(browser.count("#identities [data-testid=masked]").await, 0);
            assert!(browser.text("#consent-history").await.contains("已撤回"));
        })
        .await;
    let customer = format!("/customers/{id}");
    let pages = [
        ("dashboard-empty", "/"),
        ("customers", "/customers"),
        ("customer-360", customer.as_str()),
        ("tags", "/tags"),
        ("keys", "/keys"),
        ("users", "/users"),
    ];
    browser.step("gallery", browser.gallery(&app, &pages)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cs_agent_sees_the_phone_masked_in_chromium() {
    let app = console_app().await;
    let id = seed(&app).await;
    let browser = Browser::start("cs_agent_in_chromium").await;
    browser
        .step(
            "gallery-public",
            browser.gallery(&app, &[("login", "/login"), ("unsubscribe-invalid", "/u/not-a-token")]),
        )
        .await;
    browser.step("login", browser.log_in(&app, AGENT, "/customers")).await;
    browser
        .step("search-by-phone", async {
            browser.type_into("#search-q", PHONE).await;
            browser.click("#search-submit").await;
            browser.wait_for_text("#customers tbody", PHONE_MASKED).await;
            let table = browser.text("#customers").await;
            assert!(!table.contains(PHONE) && !table.contains(PHONE_E164), "{table}");
            browser.click("#customers .customer-link").await;
            browser.find("#identities").await;
            assert_eq!(browser.path().await, format!("/customers/{id}"));
        })
        .await;
    browser
        .step("identities-masked", async {
            let phone = browser.text("#identities tr[data-identity=phone] .identity-value").await;
            assert!(phone.starts_with(PHONE_MASKED), "{phone}");
            assert!(browser.count("#identities [data-testid=masked]").await >= 2, "phone and e-mail carry the badge");
            let source = browser.source().await;
            for raw in [PHONE, PHONE_E164, EMAIL, NAME] {
                assert!(!source.contains(raw), "the page source contains the raw {raw}");
            }
        })
        .await;
    let customer = format!("/customers/{id}");
    browser
        .step(
            "gallery",
            browser.gallery(&app, &[("customer-360-masked", customer.as_str()), ("keys-forbidden", "/keys")]),
        )
        .await;
}
