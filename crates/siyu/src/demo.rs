//! `siyu demo`: a realistic synthetic tea-drink brand (茶语 Chayu) with customers, identities,
//! traits, tags in all five families, consent, one console user per role, and the behaviour
//! (views, carts, checkouts, orders with coupons, messages) of the first [`ACTIVE_CUSTOMERS`].
//! Each customer has one story: created when first seen, consent granted then (under the policy
//! in force), orders from then on as BG/NBD assumes (varied rates and dropout), and traits that
//! count those orders.

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use siyu_core::CustomerId;
use siyu_domain::access::workspaces::NewWorkspace;
use siyu_domain::access::{Principal, Role};
use siyu_domain::customers::consent::{Channel, ConsentRecord, Purpose};
use siyu_domain::customers::{CustomerInput, IdentityInput};
use siyu_domain::events::{EventKind, NewEvent};
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

/// Customers (the first ones generated) whose behaviour is written as events.
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
    let story = story(seed, n);
    let orders = story.orders.len();
    let spent = (story.orders.iter().map(|o| o.revenue).sum::<f64>() * 100.0).round() / 100.0;
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
            "first_seen_days_ago": story.first_seen_days,
        })
        .as_object()
        .expect("literal object")
        .clone(),
        tags,
        source: Some("demo".into()),
    }
}

const DAY_US: i64 = 86_400_000_000;
const MINUTE_US: i64 = 60_000_000;

/// One order of a customer's story.
struct StoryOrder {
    /// When, µs after the customer was first seen.
    after_us: i64,
    drink: &'static str,
    category: &'static str,
    price: f64,
    quantity: u32,
    /// A coupon issued after an earlier order, redeemed here.
    coupon_used: Option<&'static str>,
    /// A coupon issued after this order.
    coupon_issued: Option<&'static str>,
    revenue: f64,
}

/// A customer's purchase history, the one source of the traits, events, consent and creation
/// time of that customer. Purchases follow BG/NBD's own story, so the workspace's LTV fit has
/// what it assumes: each buyer buys at a rate drawn from a gamma distribution (shape 2, mean one
/// order a month) until, after any repeat purchase, they drop out with a chance drawn from a
/// beta distribution (a = 1, b = 3); and each buyer's usual order size is their own, so the
/// Gamma-Gamma spend fit converges too.
struct Story {
    /// Whole days before now the customer was first seen (and created).
    first_seen_days: i64,
    orders: Vec<StoryOrder>,
}

/// At most this many orders per customer.
const MAX_ORDERS: usize = 60;

/// Returns the story of customer `n`, the same for the same `(seed, n)`; times are relative to the
/// first-seen instant, so the story does not depend on the clock.
fn story(seed: u64, n: u64) -> Story {
    let rng = &mut rng_of(seed ^ 0x0571_0e5e, n);
    let first_seen_days = rng.random_range(1..900i64);
    let lifetime_us = first_seen_days * DAY_US;
    let mut orders = Vec::new();
    if rng.random_bool(0.15) {
        return Story { first_seen_days, orders };
    }
    // Gamma(2, 60 days): the sum of two exponentials.
    let exp = |rng: &mut StdRng| -(1.0 - rng.random::<f64>()).ln();
    let rate_per_day = (exp(rng) + exp(rng)) / 60.0;
    // Beta(1, 3) by inversion.
    let dropout = 1.0 - (1.0 - rng.random::<f64>()).powf(1.0 / 3.0);
    // Cups per order vary by customer too (Gamma(3) around two cups), as Gamma-Gamma assumes of
    // spend.
    let cups = 2.0 * (exp(rng) + exp(rng) + exp(rng)) / 3.0;
    // The first order comes within the first visit.
    let mut at_us = rng.random_range(10..60) * MINUTE_US;
    let mut coupon: Option<&'static str> = None;
    while at_us < lifetime_us && orders.len() < MAX_ORDERS {
        let drink = *DRINKS.choose(rng).expect("non-empty");
        let category = weighted(rng, &CATEGORIES);
        let price = rng.random_range(14..32) as f64;
        let quantity = (cups * rng.random_range(0.5..1.5)).round().clamp(1.0, 12.0) as u32;
        let coupon_used = coupon.take();
        let mut revenue = price * f64::from(quantity);
        if coupon_used.is_some() {
            revenue = (revenue - 5.0).max(1.0);
        }
        let coupon_issued = rng.random_bool(0.3).then(|| *COUPONS.choose(rng).expect("non-empty"));
        coupon = coupon_issued;
        orders.push(StoryOrder {
            after_us: at_us,
            drink,
            category,
            price,
            quantity,
            coupon_used,
            coupon_issued,
            revenue,
        });
        if orders.len() > 1 && rng.random_bool(dropout) {
            break;
        }
        at_us += ((exp(rng) / rate_per_day) * DAY_US as f64) as i64;
    }
    Story { first_seen_days, orders }
}

/// Consent policy versions and the day each took effect, oldest first.
const POLICIES: [(&str, jiff::civil::Date); 2] =
    [("2024-01", jiff::civil::date(2024, 1, 1)), ("2025-06", jiff::civil::date(2025, 6, 1))];

/// Returns the policy version in force at `at` (`None` before the first one).
fn policy_at(at: jiff::Timestamp) -> Option<&'static str> {
    POLICIES.iter().rev().find_map(|(version, day)| {
        (day.to_zoned(jiff::tz::TimeZone::UTC).expect("valid day").timestamp() <= at).then_some(*version)
    })
}

/// Creates or refreshes the demo workspace with `count` customers (deterministic from `seed`).
pub async fn run(services: &Services, count: u64, seed: u64, progress: bool) -> anyhow::Result<DemoSummary> {
    let started = std::time::Instant::now();
    let workspace = match services.access.workspace_by_slug(SLUG).await {
        Ok(ws) => ws,
        Err(DomainError::NotFound(_)) => {
            services.access.create_workspace(&NewWorkspace::parse(SLUG, Some("茶语 Chayu 新茶饮"), None, None)?).await?
        }
        Err(other) => return Err(other.into()),
    };
    let owner = Principal::cli(workspace.id);
    for (email, name, role) in USERS {
        services.access.add_user(workspace.id, email, name, PASSWORD, role).await?;
    }
    let existing = services.customers.tags(&owner).await?;
    for (group, family, names) in TAGS {
        if services.customers.tag_groups(&owner).await?.iter().all(|g| g.name != group) {
            services.customers.create_tag_group(&owner, group, family).await?;
        }
        for name in names {
            if existing.iter().all(|t| t.name != *name) {
                services.customers.create_tag(&owner, group, name).await?;
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
                let now = services.now();
                // Each customer is created at the instant first seen: customers first seen the
                // same day are written together, by a clock set to that instant.
                let mut by_day: std::collections::BTreeMap<i64, Vec<u64>> = std::collections::BTreeMap::new();
                for n in start..end {
                    by_day.entry(story(seed, n).first_seen_days).or_default().push(n);
                }
                let mut consent = Vec::new();
                let mut events = Vec::new();
                for (days, numbers) in by_day {
                    let first_seen = now - jiff::SignedDuration::from_hours(days * 24);
                    let then = services
                        .customers
                        .with_clock(std::sync::Arc::new(siyu_core::clock::ManualClock::new(first_seen)));
                    let inputs: Vec<CustomerInput> = numbers.iter().map(|n| customer(seed, *n)).collect();
                    let results = then.upsert_customers(&owner, inputs, "demo", "customers").await?;
                    for (n, result) in numbers.into_iter().zip(results) {
                        let result = result.map_err(|errors| anyhow::anyhow!("demo data invalid: {errors:?}"))?;
                        if result.created {
                            let records = demo_consent(&mut rng_of(seed ^ 0x5eed, n), first_seen, now);
                            consent.extend(records.into_iter().map(|r| (result.id, r)));
                            if n < ACTIVE_CUSTOMERS {
                                let story = story(seed, n);
                                let rng = &mut rng_of(seed ^ 0xe7e7, n);
                                events.extend(demo_events(rng, &story, result.id, n, first_seen, now));
                            }
                        }
                    }
                }
                services.stores.consent.record(owner.workspace_id(), &consent).await?;
                if !events.is_empty() {
                    services.events.append_events(&owner, &events).await?;
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
    demo_journey(services, &owner).await?;
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
    if !services.segments.segments(owner).await?.is_empty() {
        return Ok(());
    }
    for (key, name, text) in SEGMENTS {
        let input = siyu_domain::segments::SegmentInput {
            key: key.into(),
            name: Some(name.into()),
            definition: None,
            text: Some(text.into()),
        };
        services.segments.save_segment(owner, &input, false).await?;
    }
    Ok(())
}

/// A draft journey to open in the console's editor (once, when the workspace has none): win back
/// high-value customers gone quiet, with an A/B split and a hold-out group, over a dry-run webhook
/// channel (it records what it would send, and sends nothing).
async fn demo_journey(services: &Services, owner: &Principal) -> anyhow::Result<()> {
    if !services.journeys.journeys(owner).await?.is_empty() {
        return Ok(());
    }
    if services.messaging.channels(owner).await?.iter().all(|c| c.name != "demo-hook") {
        let channel = json!({"kind": "webhook",
            "settings": {"url": "https://crm.example.com/siyu", "consent_channel": "sms", "dry_run": true},
            "secrets": {"secret": "whsec-demo-0123456789abcdef"}});
        services.messaging.save_channel(owner, "demo-hook", serde_json::from_value(channel)?).await?;
    }
    let journey = json!({
        "name": "沉睡高价值客户召回",
        "definition": {
            "trigger": {"type": "segment_entered", "segment": "win-back-high-value"},
            "start": "wait_1",
            "nodes": {
                "wait_1": {"type": "wait", "duration": "1d", "next": "morning_1"},
                "morning_1": {"type": "wait_until", "time": "10:00", "next": "consent_1"},
                "consent_1": {"type": "branch", "condition": {"consent": "sms"}, "yes": "ab_1", "no": "task_1"},
                "ab_1": {"type": "split", "arms": [
                    {"name": "coupon", "percent": 45, "next": "send_1"},
                    {"name": "story", "percent": 45, "next": "send_2"},
                    {"name": "control", "percent": 10}]},
                "send_1": {"type": "send", "channel": "demo-hook", "class": "marketing",
                    "body": "好久不见！送你一张 8 折券，7 天内有效"},
                "send_2": {"type": "send", "channel": "demo-hook", "class": "marketing",
                    "body": "新品上市：今年的第一杯春茶，已为你留好"},
                "task_1": {"type": "task", "reason": "高价值客户 30 天未下单且未授权短信，请企微回访"},
            },
            "goal": {"event": "Order Completed"},
            "reentry": {"policy": "after_days", "days": 30},
        },
    });
    services.journeys.create(owner, &serde_json::from_value(journey)?).await?;
    Ok(())
}

/// Returns one customer's behaviour from first seen (`first_seen`) to `now`, in Segment's
/// E-commerce spec: every order of the customer's story with the views, cart and checkout before
/// it (and the coupons redeemed and issued), sessions of views that went no further, and
/// marketing messages of the last 90 days that may be opened. The first event is at `first_seen`.
fn demo_events(
    rng: &mut StdRng,
    story: &Story,
    customer: CustomerId,
    n: u64,
    first_seen: jiff::Timestamp,
    now: jiff::Timestamp,
) -> Vec<NewEvent> {
    const HOUR_US: i64 = 3_600_000_000;
    let now_us = now.as_microsecond();
    let first_us = first_seen.as_microsecond();
    let user_id = format!("u{n:08}");
    let mut events = Vec::new();
    let mut push = |name: &str, ts_us: i64, properties: serde_json::Value| {
        events.push(NewEvent {
            customer,
            kind: EventKind::Track,
            name: name.into(),
            ts_us: ts_us.clamp(first_us, now_us),
            received_us: now_us,
            message_id: format!("demo-{n}-{}", events.len()),
            user_id: user_id.clone(),
            anonymous_id: String::new(),
            properties: properties.to_string(),
            context: json!({"library": {"name": "siyu-demo"}}).to_string(),
        });
    };
    if rng.random_bool(0.3) {
        push("Signed Up", first_us, json!({"channel": weighted(rng, &ORDER_CHANNELS)}));
    }
    // The first visit starts when the customer is first seen.
    let browse = |rng: &mut StdRng, at: i64, push: &mut dyn FnMut(&str, i64, serde_json::Value)| {
        let drink = *DRINKS.choose(rng).expect("non-empty");
        let product = json!({"product_id": drink, "name": drink, "category": weighted(rng, &CATEGORIES),
            "price": rng.random_range(14..32) as f64});
        for view in 0..rng.random_range(1..4) {
            push("Product Viewed", at + view * MINUTE_US, product.clone());
        }
        if rng.random_bool(0.3) {
            push("Product Added", at + 4 * MINUTE_US, product.clone());
        }
    };
    if story.orders.is_empty() {
        browse(rng, first_us, &mut push);
    }
    for (i, order) in story.orders.iter().enumerate() {
        let at = first_us + order.after_us;
        let product = json!({"product_id": order.drink, "name": order.drink, "category": order.category,
            "price": order.price});
        let start = if i == 0 { first_us } else { at - 9 * MINUTE_US };
        push("Product Viewed", start, product.clone());
        push(
            "Product Added",
            at - 5 * MINUTE_US,
            json!({"product_id": order.drink, "category": order.category, "price": order.price,
                "quantity": order.quantity}),
        );
        push("Checkout Started", at - 2 * MINUTE_US, json!({"value": order.price * f64::from(order.quantity)}));
        if let Some(used) = order.coupon_used {
            push("Coupon Applied", at - MINUTE_US, json!({"coupon": used}));
        }
        let mut completed = json!({
            "order_id": format!("D{n}-{}", at / 1_000_000),
            "revenue": order.revenue,
            "currency": "CNY",
            "category": order.category,
            "channel": weighted(rng, &ORDER_CHANNELS),
        });
        if let Some(used) = order.coupon_used {
            completed["coupon"] = json!(used);
        }
        push("Order Completed", at, completed);
        if let Some(issued) = order.coupon_issued {
            push("Coupon Issued", at + MINUTE_US, json!({"coupon": issued}));
        }
    }
    // Visits that went no further, while the customer was still around (up to a month after the
    // last order).
    let active_until = story.orders.last().map_or(first_us + 30 * DAY_US, |o| first_us + o.after_us + 30 * DAY_US);
    let active_until = active_until.min(now_us);
    for _ in 0..rng.random_range(0..4) {
        let at = first_us + rng.random_range(0..(active_until - first_us).max(1));
        browse(rng, at, &mut push);
    }
    let messages_from = first_us.max(now_us - 90 * DAY_US);
    for _ in 0..rng.random_range(0..4) {
        let sent = messages_from + rng.random_range(0..(now_us - messages_from).max(1));
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

/// Returns one customer's consent: granted at sign-up (when first seen) under the policy then in
/// force, or when the first policy took effect for customers seen before it; some withdraw later.
fn demo_consent(rng: &mut StdRng, first_seen: jiff::Timestamp, now: jiff::Timestamp) -> Vec<ConsentRecord> {
    let mut records = Vec::new();
    let signed_up = first_seen + jiff::SignedDuration::from_mins(rng.random_range(0..30));
    let granted_at = signed_up.max(first_policy());
    if granted_at > now {
        return records;
    }
    let policy = policy_at(granted_at).expect("granted on or after the first policy");
    let record = |channel, granted, source: &str, recorded_at| ConsentRecord {
        purpose: Purpose::Marketing,
        channel,
        granted,
        source: source.into(),
        policy_version: policy.into(),
        recorded_at,
    };
    for channel in [Channel::Wecom, Channel::Sms, Channel::Email] {
        if rng.random_bool(0.7) {
            records.push(record(channel, true, "signup_form", granted_at));
            let withdrawn = granted_at + jiff::SignedDuration::from_hours(rng.random_range(1..5000));
            if rng.random_bool(0.08) && withdrawn <= now {
                records.push(record(channel, false, "unsubscribe_link", withdrawn));
            }
        }
    }
    records
        .push(ConsentRecord { purpose: Purpose::Analytics, ..record(Channel::Wecom, true, "signup_form", granted_at) });
    records
}

/// The instant the first consent policy took effect.
fn first_policy() -> jiff::Timestamp {
    POLICIES[0].1.to_zoned(jiff::tz::TimeZone::UTC).expect("valid day").timestamp()
}
