//! `siyu demo`: a realistic synthetic tea-drink brand (茶语 Chayu) with customers, identities,
//! traits, tags in all five families, consent, one console user per role, and 90 days of behaviour
//! (views, carts, checkouts, orders with coupons, messages) for the most recent customers.

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use siyu_core::CustomerId;
use siyu_domain::access::{Principal, Role};
use siyu_domain::consent::{Channel, ConsentRecord, Purpose};
use siyu_domain::events::{EventKind, NewEvent};
use siyu_domain::profiles::{CustomerInput, IdentityInput};
use siyu_domain::workspaces::NewWorkspace;
use siyu_domain::{DomainError, Services};

/// The demo workspace's slug.
pub const SLUG: &str = "demo";
/// Password of every demo user.
pub const PASSWORD: &str = "siyu-demo-2026";
/// Demo users, one per role.
pub const USERS: [(&str, &str, Role); 5] = [
    ("owner@demo.siyu", "店长 王芳", Role::Owner),
    ("operator@demo.siyu", "运营 李娜", Role::Operator),
    ("analyst@demo.siyu", "分析 张伟", Role::Analyst),
    ("agent@demo.siyu", "客服 刘洋", Role::CsAgent),
    ("auditor@demo.siyu", "合规 陈静", Role::Auditor),
];

const TAGS: [(&str, &str, &[&str]); 5] = [
    ("人口属性", "demographic", &["00后", "95后", "90后", "80后", "学生", "白领", "宝妈"]),
    ("消费偏好", "consumption_preference", &["果茶爱好者", "奶茶爱好者", "纯茶爱好者", "高客单", "价格敏感", "少糖"]),
    ("内容兴趣", "content_interest", &["新品尝鲜", "养生", "联名周边", "茶文化"]),
    ("行为特征", "behaviour", &["高频复购", "沉睡", "夜猫子", "周末党", "外卖党"]),
    ("社交属性", "social", &["社群活跃", "邀请达人", "KOC"]),
];

const SURNAMES: [&str; 30] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗",
    "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const GIVEN: [&str; 40] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "子涵", "欣怡", "梓萱", "浩然", "宇轩", "雨桐", "一诺", "思远", "诗涵", "晨曦", "嘉怡", "俊杰",
    "佳琪", "文博", "若汐", "沐阳", "可馨", "天佑",
];
const CITIES: [(&str, &str, u32); 12] = [
    ("上海", "上海市徐汇区漕溪北路", 18),
    ("北京", "北京市朝阳区建国路", 14),
    ("深圳", "深圳市南山区科技园路", 12),
    ("广州", "广州市天河区体育西路", 10),
    ("杭州", "杭州市西湖区文三路", 10),
    ("成都", "成都市锦江区春熙路", 9),
    ("南京", "南京市鼓楼区中山路", 6),
    ("武汉", "武汉市江汉区解放大道", 6),
    ("苏州", "苏州市姑苏区观前街", 5),
    ("长沙", "长沙市天心区五一大道", 4),
    ("西安", "西安市雁塔区小寨路", 3),
    ("重庆", "重庆市渝中区解放碑", 3),
];
const DRINKS: [&str; 8] =
    ["多肉葡萄", "芝芝莓莓", "杨枝甘露", "烤黑糖波波", "满杯红柚", "茉莉绿茶", "生椰拿铁", "桂花乌龙"];
const LEVELS: [(&str, u32); 4] = [("普通会员", 55), ("银卡", 25), ("金卡", 15), ("黑金", 5)];
const CHANNELS: [&str; 5] = ["小程序", "门店扫码", "企业微信", "公众号", "外卖平台"];

/// Customers (the first ones generated) who get 90 days of behavioural events.
pub const ACTIVE_CUSTOMERS: u64 = 20_000;

const CATEGORIES: [(&str, u32); 3] = [("果茶", 45), ("奶茶", 40), ("纯茶", 15)];
const MESSAGE_CHANNELS: [(&str, u32); 3] = [("企业微信", 55), ("短信", 25), ("公众号", 20)];
const ORDER_CHANNELS: [(&str, u32); 3] = [("小程序", 55), ("门店", 25), ("外卖平台", 20)];
const COUPONS: [&str; 3] = ["新人立减5元", "第二杯半价", "满30减8"];

/// What the demo command did.
pub struct DemoSummary {
    /// Customers written.
    pub customers: u64,
    /// Seconds taken.
    pub seconds: f64,
}

fn weighted(rng: &mut StdRng, items: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, weight) in items {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    items[0].0
}

/// Returns the random source of customer `n`, so any customer can be rebuilt on its own.
fn rng_of(seed: u64, n: u64) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n)
}

/// Returns synthetic customer `n`, the same for the same `(seed, n)`.
pub fn customer(seed: u64, n: u64) -> CustomerInput {
    let rng = &mut rng_of(seed, n);
    let name = format!("{}{}", SURNAMES.choose(rng).expect("non-empty"), GIVEN.choose(rng).expect("non-empty"));
    let city = weighted(rng, &CITIES.map(|(c, _, w)| (c, w)));
    let street = CITIES.iter().find(|(c, _, _)| *c == city).map(|(_, s, _)| *s).expect("picked from CITIES");
    let orders: u32 = if rng.random_bool(0.15) { 0 } else { rng.random_range(1..40) };
    let spent = (orders as f64 * rng.random_range(18.0..42.0) * 100.0).round() / 100.0;
    let year = rng.random_range(1970..2008);
    let birthday = format!("{year}-{:02}-{:02}", rng.random_range(1..=12), rng.random_range(1..=28));
    let mut identities = vec![
        IdentityInput { kind: "phone".into(), value: format!("1{}{:09}", rng.random_range(3..=9), n % 1_000_000_000) },
        IdentityInput { kind: "user_id".into(), value: format!("u{n:08}") },
    ];
    if rng.random_bool(0.45) {
        identities.push(IdentityInput { kind: "email".into(), value: format!("c{n}@mail.example.cn") });
    }
    if rng.random_bool(0.6) {
        identities.push(IdentityInput { kind: "wecom_external_userid".into(), value: format!("wmJx{n:010x}") });
    }
    if rng.random_bool(0.7) {
        identities.push(IdentityInput { kind: "wechat_unionid".into(), value: format!("oU{n:012x}") });
    }
    if rng.random_bool(0.5) {
        identities.push(IdentityInput { kind: "member_no".into(), value: format!("M{n:09}") });
    }
    let mut tags: Vec<String> = Vec::new();
    for (_, _, names) in TAGS {
        if rng.random_bool(0.35) {
            tags.push(names.choose(rng).expect("non-empty").to_string());
        }
    }
    let first_seen_days = rng.random_range(1..900);
    CustomerInput {
        identities,
        traits: json!({
            "name": name,
            "birthday": birthday,
            "address": format!("{street}{}号", rng.random_range(1..400)),
            "city": city,
            "gender": if rng.random_bool(0.62) { "female" } else { "male" },
            "member_level": weighted(rng, &LEVELS),
            "favorite_drink": DRINKS.choose(rng).expect("non-empty"),
            "orders": orders,
            "total_spent": spent,
            "acquisition_channel": CHANNELS.choose(rng).expect("non-empty"),
            "first_seen_days_ago": first_seen_days,
        })
        .as_object()
        .expect("literal object")
        .clone(),
        tags,
        source: Some("demo".into()),
    }
}

/// Creates or refreshes the demo workspace with `count` customers (deterministic from `seed`).
pub async fn run(services: &Services, count: u64, seed: u64, progress: bool) -> anyhow::Result<DemoSummary> {
    let started = std::time::Instant::now();
    let workspace = match services.workspace_by_slug(SLUG).await {
        Ok(ws) => ws,
        Err(DomainError::NotFound(_)) => {
            services.create_workspace(&NewWorkspace::parse(SLUG, Some("茶语 Chayu 新茶饮"), None, None)?).await?
        }
        Err(other) => return Err(other.into()),
    };
    let owner = Principal::cli(workspace.id);
    for (email, name, role) in USERS {
        services.add_user(workspace.id, email, name, PASSWORD, role).await?;
    }
    let existing = services.tags(&owner).await?;
    for (group, family, names) in TAGS {
        if services.tag_groups(&owner).await?.iter().all(|g| g.name != group) {
            services.create_tag_group(&owner, group, family).await?;
        }
        for name in names {
            if existing.iter().all(|t| t.name != *name) {
                services.create_tag(&owner, group, name).await?;
            }
        }
    }
    let bar = if progress { ProgressBar::new(count) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} customers [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    // Two batches in flight: one is generated and sealed while the other is written.
    let batch_size = 40_000u64;
    let mut batches = futures::stream::iter((0..count).step_by(batch_size as usize))
        .map(|start| {
            let (services, owner) = (services.clone(), owner.clone());
            tokio::spawn(async move {
                let end = (start + batch_size).min(count);
                let inputs: Vec<CustomerInput> = (start..end).map(|n| customer(seed, n)).collect();
                let results = services.upsert_customers(&owner, inputs, "demo", "customers").await?;
                let mut consent = Vec::new();
                let mut events = Vec::new();
                for (n, result) in (start..end).zip(results) {
                    let result = result.map_err(|errors| anyhow::anyhow!("demo data invalid: {errors:?}"))?;
                    if result.created {
                        let records = demo_consent(&mut rng_of(seed ^ 0x5eed, n), services.now());
                        consent.extend(records.into_iter().map(|r| (result.id, r)));
                        if n < ACTIVE_CUSTOMERS {
                            events.extend(demo_events(&mut rng_of(seed ^ 0xe7e7, n), result.id, n, services.now()));
                        }
                    }
                }
                services.stores.consent.record(owner.workspace_id, &consent).await?;
                if !events.is_empty() {
                    services.append_events(&owner, &events).await?;
                }
                anyhow::Ok(end - start)
            })
        })
        .buffer_unordered(2);
    while let Some(done) = batches.next().await {
        bar.inc(done??);
    }
    bar.finish_and_clear();
    demo_segments(services, &owner).await?;
    Ok(DemoSummary { customers: count, seconds: started.elapsed().as_secs_f64() })
}

/// Segments an operator of the brand would keep, created once (when the workspace has none).
const SEGMENTS: [(&str, &str, &str); 4] = [
    ("sh-repeat-buyers", "上海复购客户", "trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d)"),
    (
        "win-back-high-value",
        "沉睡高价值客户",
        "did(\"Order Completed\", sum(revenue) >= 100) and not did(\"Order Completed\", within 30d)",
    ),
    (
        "fruit-tea-fans-no-open",
        "果茶爱好者·未读消息",
        "tag(\"果茶爱好者\") and did(\"Message Sent\", within 30d) and not did(\"Message Opened\", within 30d)",
    ),
    ("important-value", "重要价值客户", "rfm.class = \"important_value\""),
];

async fn demo_segments(services: &Services, owner: &Principal) -> anyhow::Result<()> {
    if !services.segments(owner).await?.is_empty() {
        return Ok(());
    }
    for (key, name, text) in SEGMENTS {
        let input = siyu_domain::services::SegmentInput {
            key: key.into(),
            name: Some(name.into()),
            definition: None,
            text: Some(text.into()),
        };
        services.save_segment(owner, &input, false).await?;
    }
    Ok(())
}

/// Returns 90 days of one customer's behaviour up to `now`, in Segment's E-commerce spec: sessions of
/// product views that may go on to a cart, a checkout and an order (some with a coupon), marketing
/// messages that may be opened, and coupons issued.
fn demo_events(rng: &mut StdRng, customer: CustomerId, n: u64, now: jiff::Timestamp) -> Vec<NewEvent> {
    const HOUR_US: i64 = 3_600_000_000;
    let now_us = now.as_microsecond();
    let user_id = format!("u{n:08}");
    let mut events = Vec::new();
    let mut push = |name: &str, ts_us: i64, properties: serde_json::Value| {
        events.push(NewEvent {
            customer,
            kind: EventKind::Track,
            name: name.into(),
            ts_us: ts_us.min(now_us),
            received_us: now_us,
            message_id: format!("demo-{n}-{}", events.len()),
            user_id: user_id.clone(),
            anonymous_id: String::new(),
            properties: properties.to_string(),
            context: json!({"library": {"name": "siyu-demo"}}).to_string(),
        });
    };
    // Newer customers signed up recently; older ones have been around all 90 days.
    let first_us = now_us - rng.random_range(1..90 * 24) * HOUR_US;
    if rng.random_bool(0.3) {
        push("Signed Up", first_us, json!({"channel": weighted(rng, &ORDER_CHANNELS)}));
    }
    let sessions = 1 + rng.random_range(0..10u32) * rng.random_range(0..3u32);
    let mut coupon: Option<&str> = None;
    for _ in 0..sessions {
        // Afternoons and evenings, Beijing time.
        let day_start = first_us + rng.random_range(0..(now_us - first_us).max(1));
        let at = day_start - day_start.rem_euclid(24 * HOUR_US) + rng.random_range(2..14) * HOUR_US;
        let drink = *DRINKS.choose(rng).expect("non-empty");
        let category = weighted(rng, &CATEGORIES);
        let price = rng.random_range(14..32) as f64;
        let product = json!({"product_id": drink, "name": drink, "category": category, "price": price});
        for view in 0..rng.random_range(1..4) {
            push("Product Viewed", at + view * 60_000_000, product.clone());
        }
        if !rng.random_bool(0.55) {
            continue;
        }
        let quantity = rng.random_range(1..4);
        push(
            "Product Added",
            at + 240_000_000,
            json!({"product_id": drink, "category": category, "price": price, "quantity": quantity}),
        );
        if !rng.random_bool(0.7) {
            continue;
        }
        push("Checkout Started", at + 420_000_000, json!({"value": price * quantity as f64}));
        if !rng.random_bool(0.8) {
            continue;
        }
        let mut revenue = price * quantity as f64;
        let used = coupon.take();
        if used.is_some() {
            revenue = (revenue - 5.0).max(1.0);
            push("Coupon Applied", at + 480_000_000, json!({"coupon": used}));
        }
        let mut order = json!({
            "order_id": format!("D{n}-{}", at / 1_000_000),
            "revenue": revenue,
            "currency": "CNY",
            "category": category,
            "channel": weighted(rng, &ORDER_CHANNELS),
        });
        if let Some(used) = used {
            order["coupon"] = json!(used);
        }
        push("Order Completed", at + 540_000_000, order);
        if rng.random_bool(0.3) {
            let issued = *COUPONS.choose(rng).expect("non-empty");
            push("Coupon Issued", at + 600_000_000, json!({"coupon": issued}));
            coupon = Some(issued);
        }
    }
    for _ in 0..rng.random_range(0..4) {
        let sent = first_us + rng.random_range(0..(now_us - first_us).max(1));
        let channel = weighted(rng, &MESSAGE_CHANNELS);
        push("Message Sent", sent, json!({"channel": channel, "campaign": "新品上市"}));
        if rng.random_bool(0.35) {
            push(
                "Message Opened",
                sent + rng.random_range(1..12) * HOUR_US,
                json!({"channel": channel, "campaign": "新品上市"}),
            );
        }
    }
    events
}

fn demo_consent(rng: &mut StdRng, now: jiff::Timestamp) -> Vec<ConsentRecord> {
    let mut records = Vec::new();
    let granted_at = now - jiff::SignedDuration::from_hours(rng.random_range(24..20_000));
    for channel in [Channel::Wecom, Channel::Sms, Channel::Email] {
        if rng.random_bool(0.7) {
            records.push(ConsentRecord {
                purpose: Purpose::Marketing,
                channel,
                granted: true,
                source: "signup_form".into(),
                policy_version: "2025-06".into(),
                recorded_at: granted_at,
            });
            if rng.random_bool(0.08) {
                records.push(ConsentRecord {
                    purpose: Purpose::Marketing,
                    channel,
                    granted: false,
                    source: "unsubscribe_link".into(),
                    policy_version: "2025-06".into(),
                    recorded_at: granted_at + jiff::SignedDuration::from_hours(rng.random_range(1..5000)),
                });
            }
        }
    }
    records.push(ConsentRecord {
        purpose: Purpose::Analytics,
        channel: Channel::Wecom,
        granted: true,
        source: "signup_form".into(),
        policy_version: "2025-06".into(),
        recorded_at: granted_at,
    });
    records
}
