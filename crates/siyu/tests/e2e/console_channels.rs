//! The channels page: the sending rules as a form (a bad value shown beside the form and nothing
//! saved, a customer channel refused as the staff channel), the configured channels with their kind
//! in words, and a test send whose answer the page shows — in both languages (no English in the
//! Chinese page), with the rules kept to roles that manage the workspace.

use crate::console_support::{
    EN, OWNER, PASSWORD, ZH, csrf_in, fragment, get, logged_in, new_client, post, submit_login,
};
use crate::{Backend, spawn_app};
use siyu_domain::access::Role;

const OPERATOR: &str = "ops@brand.cn";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sending_rules_and_channel_tests_work_from_the_console_in_both_languages() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let (services, owner) = (&app.services, &app.owner);
    let ws = owner.workspace_id();
    services.access.add_user(ws, OWNER, "王店长", PASSWORD, Role::Owner).await.unwrap();
    services.access.add_user(ws, OPERATOR, "李运营", PASSWORD, Role::Operator).await.unwrap();
    let channel = |value: serde_json::Value| serde_json::from_value(value).unwrap();
    let hook = channel(serde_json::json!({"kind": "webhook",
        "settings": {"url": "https://crm.example.com/hook", "consent_channel": "sms", "dry_run": true},
        "secrets": {"secret": "whsec-console-0123456789"}}));
    services.messaging.save_channel(owner, "crm-hook", hook).await.unwrap();
    let robot = channel(serde_json::json!({"kind": "feishu", "settings": {},
        "secrets": {"url": "https://open.feishu.cn/open-apis/bot/v2/hook/abc", "secret": "feishu-secret"}}));
    services.messaging.save_channel(owner, "ops", robot).await.unwrap();

    for lang in [ZH, EN] {
        let client = logged_in(&app, OWNER, lang).await;
        let (status, page) = get(&client, &app, "/channels").await;
        assert_eq!(status, 200, "{page}");
        let table = fragment(&page, r#"id="channels-table""#, "</table>");
        assert!(table.contains(r#"data-channel="crm-hook""#) && table.contains(r#"data-channel="ops""#), "{table}");
        assert!(page.contains(r#"value="21:00""#) && page.contains(r#"name="cap_max" value="2""#), "the defaults");
        let csrf = csrf_in(&page);

        // Bad values: each named beside the form, nothing saved.
        let bad = [("_csrf", csrf.as_str()), ("quiet", "on"), ("quiet_start", "25:00"), ("quiet_end", "09:00")];
        let bad = [&bad[..], &[("cap_max", "2"), ("cap_days", "0"), ("staff_channel", "crm-hook")]].concat();
        let (status, refused) = post(&client, &app, "/channels/settings", &bad).await;
        assert_eq!(status, 422, "{refused}");
        let errors = fragment(&refused, r#"id="rules-errors""#, "</ul>");
        for field in ["quiet_hours.start", "frequency_cap.days", "staff_channel"] {
            assert!(errors.contains(&format!(r#"data-field="{field}""#)), "{field}: {errors}");
        }
        assert!(refused.contains(r#"value="25:00""#), "the form keeps what was typed");
        let settings = services.messaging.messaging_settings(owner).await.unwrap();
        assert_eq!(settings.frequency_cap.days, 7, "nothing saved");

        // A test send through the dry-run webhook: the page shows the answer.
        let test = [("_csrf", csrf.as_str()), ("body", "你好")];
        let (status, tested) = post(&client, &app, "/channels/crm-hook/test", &test).await;
        assert_eq!(status, 200, "{tested}");
        let result = fragment(&tested, r#"id="test-result""#, "</section>");
        assert!(result.contains(r#"data-outcome="dry_run""#), "{result}");

        if lang == ZH {
            assert!(table.contains("网络钩子") && table.contains("飞书机器人") && table.contains("员工"), "{table}");
            assert!(errors.contains("不是 HH:MM 格式的时刻") && errors.contains("该渠道面向客户"), "{errors}");
            assert!(result.contains("演练模式"), "{result}");
            for page in [&page, &refused, &tested] {
                // The channels' names are data the operator chose, not interface.
                let visible = page.replace("Brand", "").replace("crm-hook", "").replace("ops", "");
                let words = crate::console_ux::english_words(&visible);
                assert!(words.is_empty(), "English in the Chinese page: {words:?}");
            }
        } else {
            assert!(table.contains("Webhook") && table.contains("Feishu robot"), "{table}");
            assert!(errors.contains("is not a time of day") && result.contains("Dry run"), "{errors}{result}");
        }
    }

    // Saved: quiet hours, the cap and the staff channel, as the page then shows them.
    let client = logged_in(&app, OWNER, EN).await;
    let (_, page) = get(&client, &app, "/channels").await;
    let form = [
        ("_csrf", csrf_in(&page)),
        ("quiet", "on".into()),
        ("quiet_start", "22:00".into()),
        ("quiet_end", "08:30".into()),
        ("cap_max", "3".into()),
        ("cap_days", "7".into()),
        ("staff_channel", "ops".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, saved) = post(&client, &app, "/channels/settings", &form).await;
    assert_eq!(status, 200, "{saved}");
    assert!(saved.contains("Sending rules saved") && saved.contains(r#"value="22:00""#), "{saved}");
    assert!(saved.contains(r#"<option value="ops" selected>"#), "{saved}");
    let settings = services.messaging.messaging_settings(owner).await.unwrap();
    assert_eq!((settings.frequency_cap.max, settings.staff_channel.as_deref()), (3, Some("ops")));

    // An operator sees the rules but may not change them or send tests.
    let operator = new_client(ZH, true);
    let (status, _, _) = submit_login(&operator, &app, OPERATOR, PASSWORD).await;
    assert_eq!(status, 200);
    let (status, page) = get(&operator, &app, "/channels").await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains(r#"id="rules-save""#) && !page.contains("/channels/crm-hook/test"), "read only");
    let csrf = csrf_in(&page);
    let (status, _) = post(&operator, &app, "/channels/settings", &[("_csrf", &csrf), ("cap_max", "9")]).await;
    assert_eq!(status, 403);
    let (status, _) = post(&operator, &app, "/channels/crm-hook/test", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 403);
    assert_eq!(services.messaging.messaging_settings(owner).await.unwrap().frequency_cap.max, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_added_changed_and_deleted_from_the_console_with_secrets_never_shown() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let (services, owner) = (&app.services, &app.owner);
    let ws = owner.workspace_id();
    services.access.add_user(ws, OWNER, "王店长", PASSWORD, Role::Owner).await.unwrap();
    services.access.add_user(ws, OPERATOR, "李运营", PASSWORD, Role::Operator).await.unwrap();
    let client = logged_in(&app, OWNER, ZH).await;
    let (_, page) = get(&client, &app, "/channels").await;
    assert!(page.contains(r#"id="channel-form""#), "{page}");
    let csrf = csrf_in(&page);
    let secret = "whsec-from-the-console-0123";
    let settings = r#"{"url": "https://crm.example.com/hook", "consent_channel": "sms", "dry_run": true}"#;
    // Bad input: each problem named beside the form, in Chinese, and nothing saved.
    for (name, kind, settings, field) in [
        ("Bad Name", "webhook", settings, "name"),
        ("crm", "webhook", "{not json", "settings"),
        ("crm", "webhook", r#"{"url": "ftp://x", "colour": "red"}"#, "settings.colour"),
        ("crm", "carrier-pigeon", "{}", "kind"),
    ] {
        let form = [
            ("_csrf", csrf.as_str()),
            ("name", name),
            ("kind", kind),
            ("settings", settings),
            ("secret.secret", secret),
        ];
        let (status, refused) = post(&client, &app, "/channels/save", &form).await;
        assert_eq!(status, 422, "{name} {settings}: {refused}");
        let errors = fragment(&refused, r#"id="channel-errors""#, "</ul>");
        assert!(errors.contains(&format!(r#"data-field="{field}""#)), "{field}: {errors}");
        assert!(!refused.contains(secret), "a secret is never sent back");
        let words = crate::console_ux::english_words(&refused.replace("Brand", ""));
        assert!(words.is_empty(), "English in the Chinese page: {words:?}");
    }
    assert!(services.messaging.channels(owner).await.unwrap().is_empty(), "nothing was saved");
    // A good one is saved; the page lists it with its secret named, never shown.
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "crm"),
        ("kind", "webhook"),
        ("settings", settings),
        ("secret.secret", secret),
    ];
    let (status, saved) = post(&client, &app, "/channels/save", &form).await;
    assert_eq!(status, 200, "{saved}");
    assert!(saved.contains("渠道已保存") && saved.contains(r#"data-channel="crm""#), "{saved}");
    assert!(!saved.contains(secret));
    // Adding another of the same name does not replace it.
    let form = [("_csrf", csrf.as_str()), ("name", "crm"), ("kind", "webhook"), ("settings", settings)];
    let (status, taken) = post(&client, &app, "/channels/save", &form).await;
    assert_eq!(status, 422, "{taken}");
    assert!(fragment(&taken, r#"id="channel-errors""#, "</ul>").contains("已有名为"), "{taken}");
    // Changing it keeps the stored secret when the field is left blank.
    let (_, edit) = get(&client, &app, "/channels?edit=crm").await;
    let form = fragment(&edit, r#"id="channel-form""#, "</form>");
    assert!(form.contains("修改渠道") && form.contains("crm.example.com") && !form.contains(secret), "{form}");
    let changed = r#"{"url": "https://crm.example.com/v2", "consent_channel": "sms", "dry_run": true}"#;
    let form =
        [("_csrf", csrf.as_str()), ("name", "crm"), ("kind", "webhook"), ("settings", changed), ("editing", "1")];
    assert_eq!(post(&client, &app, "/channels/save", &form).await.0, 200);
    let stored = services.messaging.channels(owner).await.unwrap();
    assert_eq!(stored[0].settings["url"], "https://crm.example.com/v2");
    assert_eq!(stored[0].secrets, ["secret"], "the secret was kept");
    // An operator may see the page but neither save nor delete (refused before the form is read).
    let operator = logged_in(&app, OPERATOR, EN).await;
    let (_, page) = get(&operator, &app, "/channels").await;
    assert!(!page.contains(r#"id="channel-form""#));
    let their_csrf = csrf_in(&page);
    let form = [("_csrf", their_csrf.as_str()), ("name", "x"), ("kind", "webhook"), ("settings", "{")];
    assert_eq!(post(&operator, &app, "/channels/save", &form).await.0, 403);
    assert_eq!(post(&operator, &app, "/channels/crm/delete", &[("_csrf", &their_csrf)]).await.0, 403);
    // The owner deletes it.
    let (status, gone) = post(&client, &app, "/channels/crm/delete", &[("_csrf", &csrf)]).await;
    assert_eq!(status, 200, "{gone}");
    assert!(gone.contains("渠道已删除") && gone.contains(r#"id="channels-empty""#), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_written_checked_and_previewed_from_the_console_in_both_languages() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite needs no setup");
    let (services, owner) = (&app.services, &app.owner);
    let ws = owner.workspace_id();
    services.access.add_user(ws, OWNER, "王店长", PASSWORD, Role::Owner).await.unwrap();
    services.access.add_user(ws, crate::console_support::AGENT, "客服", PASSWORD, Role::CsAgent).await.unwrap();
    let traits = serde_json::json!({"identities": [{"type": "user_id", "value": "u-t"}],
        "traits": {"city": "London", "language": "en"}});
    let customer = services.customers.upsert_customer(owner, serde_json::from_value(traits).unwrap()).await.unwrap();

    for lang in [ZH, EN] {
        let client = logged_in(&app, OWNER, lang).await;
        let (status, page) = get(&client, &app, "/templates").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(r#"id="templates-empty""#) && page.contains(r#"id="nav-templates""#), "{page}");
        let (status, form) = get(&client, &app, "/templates/new").await;
        assert_eq!(status, 200, "{form}");
        let csrf = csrf_in(&form);
        // Bad input: each problem beside the form, what was typed kept, nothing saved.
        let bad = [
            ("_csrf", csrf.as_str()),
            ("saved", "0"),
            ("name", "welcome"),
            ("title", ""),
            ("class", "marketing"),
            ("body", "{{ customer.traits.shoe_size }}"),
            ("en_body", "Hello {{ customer.traits.city"),
        ];
        let (status, refused) = post(&client, &app, "/templates/save", &bad).await;
        assert_eq!(status, 422, "{refused}");
        let errors = fragment(&refused, r#"id="template-errors""#, "</ul>");
        for field in ["title", "body", "en.body"] {
            assert!(errors.contains(&format!(r#"data-field="{field}""#)), "{field}: {errors}");
        }
        assert!(refused.contains("Hello {{ customer.traits.city"), "the form keeps what was typed");
        assert!(services.messaging.templates(owner).await.unwrap().is_empty(), "nothing saved");
        // Saved, then listed with its class and languages.
        let good = [
            ("_csrf", csrf.as_str()),
            ("saved", "0"),
            ("name", "welcome"),
            ("title", "新客欢迎"),
            ("class", "marketing"),
            ("body", "欢迎来自{{ customer.traits.city }}的你"),
            ("en_body", "Welcome, friend from {{ customer.traits.city }}"),
        ];
        let (status, saved) = post(&client, &app, "/templates/save", &good).await;
        assert_eq!(status, 200, "{saved}");
        assert!(saved.contains(r#"id="flash""#) && saved.contains(r#"id="template-delete""#), "{saved}");
        let (_, list) = get(&client, &app, "/templates").await;
        let table = fragment(&list, r#"id="templates-table""#, "</table>");
        assert!(table.contains(r#"data-template="welcome""#), "{table}");
        // The new-template form does not replace a template of the same name.
        let (status, taken) = post(&client, &app, "/templates/save", &good).await;
        assert_eq!(status, 422, "{taken}");
        assert!(fragment(&taken, r#"id="template-errors""#, "</ul>").contains(r#"data-field="name""#), "{taken}");
        // The live preview: the customer's language (English), or the one picked.
        let id = customer.id.0.to_string();
        let preview = |language: &'static str| {
            vec![
                ("_csrf", csrf.clone()),
                ("customer", id.clone()),
                ("body", good[5].1.to_string()),
                ("en_body", good[6].1.to_string()),
                ("language", language.to_string()),
            ]
        };
        let ask = |form: Vec<(&'static str, String)>| {
            let (client, app) = (&client, &app);
            async move {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let (status, answer) = post(client, app, "/messages/preview", &form).await;
                assert_eq!(status, 200, "{answer}");
                serde_json::from_str::<serde_json::Value>(&answer).unwrap()
            }
        };
        assert_eq!(ask(preview("")).await["body"], "Welcome, friend from London");
        assert_eq!(ask(preview("zh")).await["body"], "欢迎来自London的你");
        if lang == ZH {
            assert!(table.contains("营销") && table.contains("中文、英文"), "{table}");
            for page in [&page, &form, &refused, &list] {
                let visible = page.replace("Brand", "").replace("welcome", "");
                let words = crate::console_ux::english_words(&visible);
                assert!(words.is_empty(), "English in the Chinese page: {words:?}");
            }
        } else {
            assert!(table.contains("Marketing") && table.contains("Chinese, English"), "{table}");
        }
        let (status, _) = post(&client, &app, "/templates/welcome/delete", &[("_csrf", &csrf)]).await;
        assert_eq!(status, 200);
        assert!(services.messaging.templates(owner).await.unwrap().is_empty(), "deleted");
    }

    // A customer-service agent neither reads nor writes templates.
    let agent = logged_in(&app, crate::console_support::AGENT, ZH).await;
    assert_eq!(get(&agent, &app, "/templates").await.0, 403);
    let (_, page) = get(&agent, &app, "/customers").await;
    let csrf = csrf_in(&page);
    let form = [("_csrf", csrf.as_str()), ("name", "x"), ("title", "x"), ("class", "marketing"), ("body", "x")];
    assert_eq!(post(&agent, &app, "/templates/save", &form).await.0, 403);
    assert!(services.messaging.templates(owner).await.unwrap().is_empty());
}
