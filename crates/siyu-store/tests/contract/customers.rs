//! Profiles: upsert, transitive merge, workspace isolation, search, masking, consent, erasure, import.

use crate::Fixture;
use serde_json::json;
use siyu_core::PageRequest;
use siyu_domain::DomainError;
use siyu_domain::access::{Principal, Role};
use siyu_domain::customers::CustomerInput;
use siyu_domain::customers::consent::Channel;
use siyu_domain::customers::{ConsentChange, CustomerQuery};

crate::contract!(
    upsert_by_identity_updates_the_same_profile,
    merges_are_transitive_and_keep_everything,
    workspaces_never_see_each_other,
    search_filters_by_identity_trait_and_tag_with_cursor,
    personal_data_is_masked_and_unmasked_reads_are_audited,
    personal_data_is_encrypted_at_rest,
    every_identity_and_note_is_sealed_at_rest,
    an_older_stores_clear_values_are_sealed_at_start,
    consent_history_and_unsubscribe,
    delete_erases_the_profile,
    import_reports_bad_rows_and_keeps_good_ones,
    import_reports_every_error_of_a_row_at_once,
    import_reads_chinese_headers_and_unicode_trait_names,
    customer_count_follows_the_search_filter,
    batch_rejects_bad_items_and_applies_good_ones,
    concurrent_creates_of_one_identity_end_on_one_profile,
    the_identity_index_holds_each_identity_once_across_processes;
    flushing:
    upsert_by_identity_updates_the_same_profile,
    merges_are_transitive_and_keep_everything,
    workspaces_never_see_each_other,
    search_filters_by_identity_trait_and_tag_with_cursor,
    an_older_stores_clear_values_are_sealed_at_start,
    delete_erases_the_profile,
    batch_rejects_bad_items_and_applies_good_ones,
    concurrent_creates_of_one_identity_end_on_one_profile,
    the_identity_index_holds_each_identity_once_across_processes
);

fn input(value: serde_json::Value) -> CustomerInput {
    serde_json::from_value(value).unwrap()
}

fn as_role(owner: &Principal, role: Role) -> Principal {
    Principal::key(owner.workspace_id(), role, siyu_core::ApiKeyId(1), "sk_test")
}

async fn setup_tags(f: &Fixture, owner: &Principal) {
    f.services.customers.create_tag_group(owner, "价值", "consumption_preference").await.unwrap();
    f.services.customers.create_tag(owner, "价值", "VIP").await.unwrap();
    f.services.customers.create_tag(owner, "价值", "新客").await.unwrap();
}

async fn upsert_by_identity_updates_the_same_profile(f: Fixture) {
    let owner = f.workspace("brand").await;
    let first = f
        .services
        .customers
        .upsert_customer(
            &owner,
            input(json!({"identities": [{"type": "phone", "value": "13800000001"}], "traits": {"city": "上海"}})),
        )
        .await
        .unwrap();
    assert!(first.created);
    let second = f
        .services
        .customers
        .upsert_customer(
            &owner,
            input(json!({"identities": [{"type": "phone", "value": "+86 138 0000 0001"}], "traits": {"orders": 3}})),
        )
        .await
        .unwrap();
    assert_eq!((second.id, second.created), (first.id, false));
    let customer = f.services.customers.customer(&owner, first.id).await.unwrap();
    assert_eq!(customer.traits["city"].value, json!("上海"));
    assert_eq!(customer.traits["orders"].value, json!(3));
    assert_eq!(customer.identities[0].value, "+8613800000001");
    // null removes a trait
    f.services.customers.update_customer(&owner, first.id, input(json!({"traits": {"orders": null}}))).await.unwrap();
    assert!(!f.services.customers.customer(&owner, first.id).await.unwrap().traits.contains_key("orders"));
}

async fn merges_are_transitive_and_keep_everything(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    let a = f.services.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "phone", "value": "13800000001"}], "traits": {"city": "上海"}, "tags": ["VIP"]}))).await.unwrap();
    let b = f.services.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "email", "value": "li@example.com"}], "traits": {"level": 2}, "tags": ["新客"]}))).await.unwrap();
    let c = f
        .services
        .customers
        .upsert_customer(
            &owner,
            input(json!({"identities": [{"type": "user_id", "value": "u-9"}], "traits": {"city": "北京"}})),
        )
        .await
        .unwrap();
    f.services.customers.add_note(&owner, b.id, "asked about oolong").await.unwrap();
    f.services
        .customers
        .change_consent(
            &owner,
            c.id,
            vec![ConsentChange {
                purpose: "marketing".into(),
                channel: "sms".into(),
                granted: true,
                source: None,
                policy_version: "v1".into(),
            }],
        )
        .await
        .unwrap();
    // phone + email joins A and B; A is older, so A survives.
    let ab = f.services.customers.upsert_customer(&owner, input(json!({"identities": [{"type": "phone", "value": "13800000001"}, {"type": "email", "value": "LI@example.com"}]}))).await.unwrap();
    assert_eq!((ab.id, ab.merged.clone()), (a.id, vec![b.id]));
    // email + user_id joins (A+B) and C.
    let abc = f.services.customers.add_identity(&owner, c.id, "email", "li@example.com").await.unwrap();
    assert_eq!((abc.id, abc.merged.clone()), (a.id, vec![c.id]));
    for id in [a.id, b.id, c.id] {
        let customer = f.services.customers.customer(&owner, id).await.unwrap();
        assert_eq!(customer.id, a.id, "every merged id resolves to the survivor");
    }
    let customer = f.services.customers.customer(&owner, a.id).await.unwrap();
    let kinds: Vec<_> = customer.identities.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(customer.traits["level"].value, json!(2));
    assert_eq!(customer.traits["city"].value, json!("北京"), "the most recently written value wins");
    let tags: Vec<_> = customer.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags.len(), 2);
    assert_eq!(f.services.customers.notes(&owner, a.id).await.unwrap().len(), 1);
    assert_eq!(f.services.customers.consent(&owner, a.id).await.unwrap().history.len(), 1);
    let merges = f.services.customers.merges(&owner, a.id).await.unwrap();
    assert_eq!(merges.iter().map(|m| m.merged_id).collect::<Vec<_>>(), vec![b.id, c.id]);
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 1);
}

async fn workspaces_never_see_each_other(f: Fixture) {
    let a = f.workspace("brand-a").await;
    let b = f.workspace("brand-b").await;
    let in_a = f
        .services
        .customers
        .upsert_customer(&a, input(json!({"identities": [{"type": "phone", "value": "13800000001"}]})))
        .await
        .unwrap();
    let in_b = f
        .services
        .customers
        .upsert_customer(&b, input(json!({"identities": [{"type": "phone", "value": "13800000001"}]})))
        .await
        .unwrap();
    assert!(in_b.created, "the same phone in another workspace is another customer");
    assert!(matches!(f.services.customers.customer(&b, in_a.id).await, Err(DomainError::NotFound(_))));
    assert!(matches!(
        f.services.customers.update_customer(&b, in_a.id, CustomerInput::default()).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(f.services.customers.add_note(&b, in_a.id, "x").await, Err(DomainError::NotFound(_))));
    assert!(matches!(f.services.erase_customer(&b, in_a.id).await, Err(DomainError::NotFound(_))));
    let page = f
        .services
        .customers
        .search_customers(&b, &CustomerQuery { page: PageRequest::first(50), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![in_b.id]);
}

async fn search_filters_by_identity_trait_and_tag_with_cursor(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let tags = if i % 2 == 0 { json!(["VIP"]) } else { json!([]) };
        let city = if i < 4 { "上海" } else { "杭州" };
        let r = f.services.customers.upsert_customer(&owner, input(json!({
            "identities": [{"type": "phone", "value": format!("1380000000{i}")}, {"type": "email", "value": format!("c{i}@example.com")}],
            "traits": {"city": city, "orders": i}, "tags": tags
        }))).await.unwrap();
        ids.push(r.id);
    }
    let query = |q: CustomerQuery| {
        let services = f.services.clone();
        let owner = owner.clone();
        async move {
            services
                .customers
                .search_customers(&owner, &q)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    let page = PageRequest::first(50);
    assert_eq!(
        query(CustomerQuery { q: Some("138 0000 0003".into()), page: page.clone(), ..Default::default() }).await,
        vec![ids[3]]
    );
    assert_eq!(
        query(CustomerQuery { q: Some("C5@Example.com".into()), page: page.clone(), ..Default::default() }).await,
        vec![ids[5]]
    );
    assert_eq!(
        query(CustomerQuery {
            identity: Some("email:c1@example.com".into()),
            page: page.clone(),
            ..Default::default()
        })
        .await,
        vec![ids[1]]
    );
    assert_eq!(
        query(CustomerQuery {
            traits: vec!["city=上海".into()],
            tags: vec!["VIP".into()],
            page: page.clone(),
            ..Default::default()
        })
        .await,
        vec![ids[2], ids[0]]
    );
    assert_eq!(
        query(CustomerQuery { traits: vec!["orders=6".into()], page: page.clone(), ..Default::default() }).await,
        vec![ids[6]]
    );
    // Cursor pagination walks every customer once, newest first.
    let mut seen = Vec::new();
    let mut request = PageRequest::first(3);
    loop {
        let page = f
            .services
            .customers
            .search_customers(&owner, &CustomerQuery { page: request.clone(), ..Default::default() })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        match page.next_after {
            Some(after) => request.after = Some(after),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let unknown = f
        .services
        .customers
        .search_customers(&owner, &CustomerQuery { tags: vec!["nope".into()], page, ..Default::default() })
        .await;
    assert!(matches!(unknown, Err(DomainError::Invalid(e)) if e[0].field == "tag"));
}

async fn personal_data_is_masked_and_unmasked_reads_are_audited(f: Fixture) {
    let owner = f.workspace("brand").await;
    let id = f.services.customers.upsert_customer(&owner, input(json!({
        "identities": [{"type": "phone", "value": "13812345678"}, {"type": "email", "value": "lily@example.com"}, {"type": "user_id", "value": "u-1"}],
        "traits": {"name": "王丽丽", "birthday": "1990-05-01", "address": "上海市徐汇区漕溪北路88号", "city": "上海"}
    }))).await.unwrap().id;
    let agent = as_role(&owner, Role::CsAgent);
    let masked = f.services.customers.customer(&agent, id).await.unwrap();
    let value = |kind: &str| masked.identities.iter().find(|i| i.kind.as_str() == kind).unwrap().value.clone();
    assert_eq!(value("phone"), "138****5678");
    assert_eq!(value("email"), "l***@example.com");
    assert_eq!(value("user_id"), "u-1");
    assert_eq!(masked.traits["name"].value, json!("王**"));
    assert_eq!(masked.traits["birthday"].value, json!("****-**-**"));
    assert_eq!(masked.traits["address"].value, json!("上海市徐汇区****"));
    assert_eq!(masked.traits["city"].value, json!("上海"));
    let audit_before = f.services.access.audit_log(&owner, &PageRequest::first(100)).await.unwrap().items.len();
    let plain = f.services.customers.customer(&owner, id).await.unwrap();
    assert_eq!(plain.traits["name"].value, json!("王丽丽"));
    assert!(plain.identities.iter().any(|i| i.value == "+8613812345678"));
    let audit = f.services.access.audit_log(&owner, &PageRequest::first(100)).await.unwrap().items;
    assert_eq!(audit.len(), audit_before + 1);
    assert_eq!((audit[0].action.as_str(), audit[0].target.clone()), ("pii.read", format!("customer:{id}")));
    assert!(matches!(
        f.services.access.audit_log(&agent, &PageRequest::first(10)).await,
        Err(DomainError::Forbidden("audit:read"))
    ));
}

async fn personal_data_is_encrypted_at_rest(f: Fixture) {
    let owner = f.workspace("brand").await;
    let id = f
        .services
        .customers
        .upsert_customer(
            &owner,
            input(json!({
                "identities": [{"type": "phone", "value": "13812345678"}], "traits": {"name": "王丽丽"}
            })),
        )
        .await
        .unwrap()
        .id;
    let stored = f.services.stores.customers.find(owner.workspace_id(), id).await.unwrap().unwrap();
    let identity = &stored.identities[0];
    assert!(!identity.lookup.contains("13812345678"), "the lookup key is a blind index");
    let sealed = identity.sealed.as_ref().expect("phone is sealed");
    assert!(!sealed.windows(11).any(|w| w == b"13812345678"));
    assert!(matches!(stored.traits[0].value, siyu_domain::customers::TraitPayload::Sealed(_)));
}

async fn every_identity_and_note_is_sealed_at_rest(f: Fixture) {
    let owner = f.workspace("brand").await;
    let identities = [
        ("user_id", "u-secret-4711"),
        ("anonymous_id", "anon-secret-0815"),
        ("wechat_openid", "oSecretOpenid9a8b7c"),
        ("wechat_unionid", "uSecretUnionid6d5e4f"),
        ("wecom_external_userid", "wmSecretExternal3g2h"),
        ("member_no", "M-secret-2024-001"),
        ("email", "secret.person@example.com"),
    ];
    let listed: Vec<_> = identities.iter().map(|(kind, value)| json!({"type": kind, "value": value})).collect();
    let id = f.services.customers.upsert_customer(&owner, input(json!({"identities": listed}))).await.unwrap().id;
    f.services.customers.add_note(&owner, id, "note-secret: prefers calls after 6pm").await.unwrap();
    for needle in identities.iter().map(|(_, value)| *value).chain(["note-secret"]) {
        assert_eq!(f.found_at_rest(needle).await, Vec::<String>::new(), "{needle} is stored in the clear");
    }
    // Found through the blind index; ids are shown to a role without pii:read, contact details masked.
    let analyst = as_role(&owner, Role::Analyst);
    let query = CustomerQuery {
        identity: Some("user_id:u-secret-4711".into()),
        page: PageRequest::first(10),
        ..Default::default()
    };
    let found = f.services.customers.search_customers(&analyst, &query).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), [id]);
    let shown: Vec<_> =
        found.items[0].identities.iter().map(|i| (i.kind.as_str(), i.value.as_str(), i.masked)).collect();
    assert!(shown.contains(&("wechat_openid", "oSecretOpenid9a8b7c", false)), "{shown:?}");
    assert!(shown.contains(&("email", "s***@example.com", true)), "{shown:?}");
    let notes = f.services.customers.notes(&owner, id).await.unwrap();
    assert_eq!(notes[0].body, "note-secret: prefers calls after 6pm");
}

/// A store written before every identity and note was sealed: user ids in the clear in the lookup
/// index, notes in the clear. Opening it seals them, and everything is found as before.
async fn an_older_stores_clear_values_are_sealed_at_start(f: Fixture) {
    let owner = f.workspace("brand").await;
    let id = f
        .services
        .customers
        .upsert_customer(&owner, input(json!({"identities": [{"type": "user_id", "value": "u-old-1"}]})))
        .await
        .unwrap()
        .id;
    f.services.customers.add_note(&owner, id, "note written long ago").await.unwrap();
    f.execute(
        "UPDATE identities SET lookup = 'u-old-1' WHERE kind = 'user_id'; \
         UPDATE customer_identities SET lookup = 'u-old-1', sealed = NULL WHERE kind = 'user_id'; \
         UPDATE notes SET body = 'note written long ago', sealed = NULL",
    )
    .await;
    let services = f.reopen().await;
    assert_eq!(services.customers.seal_clear_values().await.unwrap(), 2);
    assert_eq!(services.customers.seal_clear_values().await.unwrap(), 0, "sealing twice seals nothing");
    let stored = services.stores.customers.find(owner.workspace_id(), id).await.unwrap().unwrap();
    assert!(stored.identities[0].sealed.is_some() && stored.identities[0].lookup != "u-old-1");
    // The same sender is still the same customer, and the note reads as before.
    let again = services
        .customers
        .upsert_customer(&owner, input(json!({"identities": [{"type": "user_id", "value": "u-old-1"}]})))
        .await
        .unwrap();
    assert_eq!((again.id, again.created), (id, false));
    assert_eq!(services.customers.notes(&owner, id).await.unwrap()[0].body, "note written long ago");
}

async fn consent_history_and_unsubscribe(f: Fixture) {
    let owner = f.workspace("brand").await;
    let id = f
        .services
        .customers
        .upsert_customer(&owner, input(json!({"identities": [{"type": "email", "value": "a@example.com"}]})))
        .await
        .unwrap()
        .id;
    let grant = |channel: &str| ConsentChange {
        purpose: "marketing".into(),
        channel: channel.into(),
        granted: true,
        source: Some("signup_form".into()),
        policy_version: "2026-01".into(),
    };
    f.services.customers.change_consent(&owner, id, vec![grant("email"), grant("sms")]).await.unwrap();
    let bad = f
        .services
        .customers
        .change_consent(&owner, id, vec![grant("email"), ConsentChange { purpose: "spam".into(), ..grant("fax") }])
        .await;
    assert!(matches!(bad, Err(DomainError::Invalid(e)) if e.len() == 2 && e[0].field == "changes[1].purpose"));
    assert_eq!(
        f.services.customers.consent(&owner, id).await.unwrap().history.len(),
        2,
        "nothing of a bad request is written"
    );
    let (token, expires) = f.services.customers.unsubscribe_link(&owner, id, "email").await.unwrap();
    assert!(
        f.services.customers.unsubscribe(&token.replace(".email.", ".sms.")).await.is_err(),
        "tampered tokens fail"
    );
    let stretched = token.replacen(&format!(".{}.", expires.as_second()), &format!(".{}.", expires.as_second() + 9), 1);
    assert!(f.services.customers.unsubscribe(&stretched).await.is_err(), "the expiry is signed");
    let past = f.services.now() - jiff::SignedDuration::from_hours(1);
    let expired = f.services.customers.unsubscribe_token(owner.workspace_id(), id, Channel::Email, past).await.unwrap();
    assert!(f.services.customers.unsubscribe(&expired).await.is_err(), "expired links fail");
    // Creating a link needs the permission to change consent.
    let auditor = siyu_domain::access::Principal::key(
        owner.workspace_id(),
        siyu_domain::access::Role::Auditor,
        siyu_core::ApiKeyId(1),
        "sk_test",
    );
    assert!(matches!(
        f.services.customers.unsubscribe_link(&auditor, id, "email").await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(
        matches!(f.services.customers.undo_unsubscribe(&token).await, Err(DomainError::Conflict(_))),
        "nothing to undo yet"
    );
    f.services.customers.unsubscribe(&token).await.unwrap();
    let view = f.services.customers.consent(&owner, id).await.unwrap();
    assert_eq!(view.history.len(), 3);
    let email = view.current.iter().find(|r| r.channel == Channel::Email).unwrap();
    assert!(!email.granted);
    assert_eq!(email.source, "unsubscribe_link");
    assert!(view.current.iter().find(|r| r.channel == Channel::Sms).unwrap().granted);
    // The same link undoes it, restoring the grant under its policy version, once.
    f.services.customers.undo_unsubscribe(&token).await.unwrap();
    let view = f.services.customers.consent(&owner, id).await.unwrap();
    let email = view.current.iter().find(|r| r.channel == Channel::Email).unwrap();
    assert!(email.granted && email.source == "unsubscribe_undo" && email.policy_version == "2026-01", "{email:?}");
    assert!(f.services.customers.undo_unsubscribe(&token).await.is_err());
}

async fn delete_erases_the_profile(f: Fixture) {
    let owner = f.workspace("brand").await;
    let a = f
        .services
        .customers
        .upsert_customer(&owner, input(json!({"identities": [{"type": "phone", "value": "13800000001"}]})))
        .await
        .unwrap();
    let b = f
        .services
        .customers
        .upsert_customer(
            &owner,
            input(
                json!({"identities": [{"type": "user_id", "value": "x"}, {"type": "phone", "value": "13800000002"}]}),
            ),
        )
        .await
        .unwrap();
    f.services
        .customers
        .upsert_customer(
            &owner,
            input(
                json!({"identities": [{"type": "phone", "value": "13800000001"}, {"type": "user_id", "value": "x"}]}),
            ),
        )
        .await
        .unwrap();
    let analyst = as_role(&owner, Role::Analyst);
    assert!(matches!(f.services.erase_customer(&analyst, a.id).await, Err(DomainError::Forbidden(_))));
    f.services.erase_customer(&owner, b.id).await.unwrap();
    assert!(matches!(f.services.customers.customer(&owner, a.id).await, Err(DomainError::NotFound(_))));
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 0);
    let again = f
        .services
        .customers
        .upsert_customer(&owner, input(json!({"identities": [{"type": "phone", "value": "13800000001"}]})))
        .await
        .unwrap();
    assert!(again.created, "identities were erased with the profile");
}

async fn import_reports_bad_rows_and_keeps_good_ones(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    let csv = "phone,email,name,orders:number,tags\n\
               13800000001,a@example.com,张三,3,VIP\n\
               12345,b@example.com,李四,1,\n\
               13800000003,not-an-email,王五,x,\n\
               13800000004,,赵六,2,VIP|不存在\n\
               13800000005,e@example.com,钱七,5,新客\n";
    let report = f
        .services
        .customers
        .import_customers(&owner, std::io::Cursor::new(csv.as_bytes().to_vec()), |_| {})
        .await
        .unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (5, 2, 3));
    let errors: Vec<_> = report.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(errors, vec![(3, "phone"), (4, "email"), (4, "orders:number"), (5, "tags")]);
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 2);
    let bad_header = f
        .services
        .customers
        .import_customers(&owner, std::io::Cursor::new("city\n上海\n".as_bytes().to_vec()), |_| {})
        .await;
    assert!(matches!(bad_header, Err(DomainError::Invalid(e)) if e[0].field == "header"));
}

async fn import_reports_every_error_of_a_row_at_once(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    // Typed cells, identities and tags are all wrong on line 2; only the tag on line 3.
    let csv = "phone,email,orders:number,vip:boolean,joined:date,tags\n\
               12345,broken,many,maybe,soon,VIP|不存在\n\
               13800000001,a@example.com,3,yes,2024-05-01,不存在\n";
    let report = f
        .services
        .customers
        .import_customers(&owner, std::io::Cursor::new(csv.as_bytes().to_vec()), |_| {})
        .await
        .unwrap();
    assert_eq!((report.rows, report.imported, report.failed), (2, 0, 2));
    let errors: Vec<_> = report.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(
        errors,
        vec![
            (2, "phone"),
            (2, "email"),
            (2, "orders:number"),
            (2, "vip:boolean"),
            (2, "joined:date"),
            (2, "tags"),
            (3, "tags")
        ]
    );
    assert!(report.errors[5].reason.contains("\"不存在\""), "{:?}", report.errors[5]);
}

async fn import_reads_chinese_headers_and_unicode_trait_names(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    let csv =
        "\u{feff}手机号,邮箱,姓名,会员等级,消费次数：数字,标签\n13800000001,A@Example.com,张三,金卡,12,VIP|新客\n";
    let report = f
        .services
        .customers
        .import_customers(&owner, std::io::Cursor::new(csv.as_bytes().to_vec()), |_| {})
        .await
        .unwrap();
    assert_eq!((report.imported, report.failed), (1, 0), "{:?}", report.errors);
    let found = f
        .services
        .customers
        .search_customers(
            &owner,
            &CustomerQuery { q: Some("13800000001".into()), page: PageRequest::first(5), ..Default::default() },
        )
        .await
        .unwrap();
    let customer = &found.items[0];
    assert!(customer.identities.iter().any(|i| i.value == "a@example.com"));
    assert_eq!(customer.traits["会员等级"].value, serde_json::json!("金卡"));
    assert_eq!(customer.traits["消费次数"].value, serde_json::json!(12));
    // 姓名 is the sealed `name` trait, not a plain trait of its own.
    assert_eq!(customer.traits["name"].value, serde_json::json!("张三"));
    assert!(!customer.traits.contains_key("姓名"));
    assert_eq!(customer.tags.len(), 2);
}

async fn customer_count_follows_the_search_filter(f: Fixture) {
    let owner = f.workspace("brand").await;
    setup_tags(&f, &owner).await;
    for (i, (city, tags)) in [("上海", vec!["VIP"]), ("上海", vec![]), ("北京", vec!["VIP"])].into_iter().enumerate()
    {
        let value = serde_json::json!({"identities": [{"type": "user_id", "value": format!("u{i}")}],
            "traits": {"city": city}, "tags": tags});
        f.services.customers.upsert_customer(&owner, input(value)).await.unwrap();
    }
    let count = |traits: Vec<&str>, tags: Vec<&str>| {
        let query = CustomerQuery {
            traits: traits.into_iter().map(String::from).collect(),
            tags: tags.into_iter().map(String::from).collect(),
            ..Default::default()
        };
        let services = f.services.clone();
        let owner = owner.clone();
        async move { services.customers.count_customers(&owner, &query).await.unwrap() }
    };
    assert_eq!(count(vec![], vec![]).await, 3);
    assert_eq!(count(vec!["city=上海"], vec![]).await, 2);
    assert_eq!(count(vec!["city=上海"], vec!["VIP"]).await, 1);
    assert_eq!(count(vec![], vec!["VIP"]).await, 2);
}

async fn batch_rejects_bad_items_and_applies_good_ones(f: Fixture) {
    let owner = f.workspace("brand").await;
    let results = f
        .services
        .customers
        .upsert_customers(
            &owner,
            vec![
                input(json!({"identities": [{"type": "phone", "value": "13800000001"}]})),
                input(json!({"identities": [{"type": "phone", "value": "bad"}]})),
                input(json!({"identities": [{"type": "email", "value": "z@example.com"}]})),
            ],
            "api",
            "customers",
        )
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err()[0].field, "customers[1].identities[0].value");
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 2);
    // Two items reaching the same profile through different identities, and two items sharing a new
    // identity, are applied in order within one batch.
    let results = f
        .services
        .customers.upsert_customers(
            &owner,
            vec![
                input(json!({"identities": [{"type": "phone", "value": "13800000001"}], "traits": {"level": 1}})),
                input(json!({"identities": [{"type": "email", "value": "z@example.com"}, {"type": "phone", "value": "13800000001"}], "traits": {"level": 2}})),
                input(json!({"identities": [{"type": "user_id", "value": "new"}], "traits": {"level": 3}})),
                input(json!({"identities": [{"type": "user_id", "value": "new"}], "traits": {"level": 4}})),
            ],
            "api",
            "customers",
        )
        .await
        .unwrap();
    let ids: Vec<_> = results.iter().map(|r| r.as_ref().unwrap().id).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert_eq!(results[1].as_ref().unwrap().merged.len(), 1, "phone and e-mail profiles merged");
    assert!(results[2].as_ref().unwrap().created && !results[3].as_ref().unwrap().created);
    assert_eq!(f.services.customers.customer(&owner, ids[0]).await.unwrap().traits["level"].value, json!(2));
    assert_eq!(f.services.customers.customer(&owner, ids[2]).await.unwrap().traits["level"].value, json!(4));
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 2);
}

async fn concurrent_creates_of_one_identity_end_on_one_profile(f: Fixture) {
    let owner = f.workspace("brand").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (services, owner) = (f.services.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            services
                .customers
                .upsert_customer(
                    &owner,
                    input(json!({"identities": [{"type": "phone", "value": "13800000042"}], "traits": {"n": i}})),
                )
                .await
                .unwrap()
                .id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every writer landed on the same profile: {ids:?}");
    assert_eq!(f.services.customers.customer_count(&owner).await.unwrap(), 1);
    let customer = f.services.customers.customer(&owner, ids[0]).await.unwrap();
    assert_eq!(customer.identities.len(), 1);
}

/// Two processes on one store (the second opened anew, as a CLI command beside the server is) and a
/// restart: each finds the identities the other indexed, whether still pending or moved into the
/// index, and the index ends with exactly the identities the profiles hold.
async fn the_identity_index_holds_each_identity_once_across_processes(f: Fixture) {
    let owner = f.workspace("brand").await;
    let one = &f.services;
    let other = f.reopen().await;
    let user = |i: usize| json!({"type": "user_id", "value": format!("u{i}")});
    let phone = |i: usize| json!({"type": "phone", "value": format!("1380000{i:04}")});
    let mut ids = Vec::new();
    for i in 0..6 {
        let made =
            one.customers.upsert_customer(&owner, input(json!({"identities": [user(i), phone(i)]}))).await.unwrap();
        assert!(made.created);
        ids.push(made.id);
    }
    let again = other.customers.upsert_customer(&owner, input(json!({"identities": [user(2)], "traits": {"n": 1}})));
    let again = again.await.unwrap();
    assert_eq!((again.id, again.created), (ids[2], false), "the other process finds the first one's identity");
    let found = other
        .customers
        .search_customers(
            &owner,
            &CustomerQuery { identity: Some("user_id:u3".into()), page: PageRequest::first(10), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ids[3]]);
    // The other process merges two of the first one's profiles, makes one of its own and erases one.
    let merged =
        other.customers.upsert_customer(&owner, input(json!({"identities": [user(0), phone(1)]}))).await.unwrap();
    assert_eq!((merged.id, merged.merged.clone()), (ids[0], vec![ids[1]]));
    let own = other.customers.upsert_customer(&owner, input(json!({"identities": [user(9)]}))).await.unwrap();
    assert!(own.created);
    other.erase_customer(&owner, ids[5]).await.unwrap();
    // The first process sees all of it.
    let u1 = one.customers.upsert_customer(&owner, input(json!({"identities": [user(1)]}))).await.unwrap();
    assert_eq!((u1.id, u1.created), (ids[0], false));
    let u9 = one.customers.upsert_customer(&owner, input(json!({"identities": [user(9)]}))).await.unwrap();
    assert_eq!((u9.id, u9.created), (own.id, false));
    let u5 = one.customers.upsert_customer(&owner, input(json!({"identities": [user(5)]}))).await.unwrap();
    assert!(u5.created, "the erased profile's identity is free again");
    let made = one.customers.upsert_customer(&owner, input(json!({"identities": [user(10)]}))).await.unwrap();
    // After a restart.
    let restarted = f.reopen().await;
    for (i, id) in [(0, ids[0]), (4, ids[4]), (9, own.id), (10, made.id)] {
        let found = restarted.customers.upsert_customer(&owner, input(json!({"identities": [user(i)]}))).await.unwrap();
        assert_eq!((found.id, found.created), (id, false), "u{i} after a restart");
    }
    assert_eq!(restarted.customers.customer_count(&owner).await.unwrap(), 7);
    let index = if f.postgres {
        "SELECT workspace_id, lookup, kind, customer_id FROM identities"
    } else {
        "SELECT workspace_id, lookup, kind, customer_id FROM identities \
         UNION ALL SELECT workspace_id, lookup, kind, customer_id FROM identities_pending"
    };
    let held = "SELECT workspace_id, lookup, kind, customer_id FROM customer_identities";
    assert_eq!(f.rows(index).await, f.rows(held).await, "each identity a profile holds is indexed once");
}
