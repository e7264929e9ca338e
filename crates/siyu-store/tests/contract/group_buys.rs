//! Group buying over a real store: joins race from two service instances and a group completes
//! with exactly its size of distinct customers, every member's order confirmed; a late, full or
//! repeated join and a customer past the limit are refused by name; a group whose time runs out
//! fails, its reservations and places given back and its members told; the stock holds; an erased
//! member leaves an open group.

use crate::{Fixture, contract, pass, refusal};
use siyu_core::ManualClock;
use siyu_domain::campaigns::CampaignError;
use siyu_domain::campaigns::group_buy::{GroupBuyInput, GroupStatus};
use std::sync::Arc;

contract!(a_group_completes_with_exactly_its_size_and_one_that_runs_out_fails_and_gives_back);

async fn a_group_completes_with_exactly_its_size_and_one_that_runs_out_fails_and_gives_back(f: Fixture) {
    let owner = f.workspace("brand").await;
    let clock = Arc::new(ManualClock::new(f.services.now()));
    let one = f.reopen_with_clock(clock.clone()).await;
    let two = f.reopen_with_clock(clock.clone()).await;
    let names: Vec<String> = (0..10).map(|i| format!("g-{i}")).collect();
    let ids = one.events.customers_for_user_ids(&owner, &names).await.unwrap();
    let mut passes = Vec::new();
    for id in &ids {
        passes.push(pass(&one, &owner, *id).await);
    }
    let now = siyu_core::Clock::now(clock.as_ref());
    let input: GroupBuyInput = serde_json::from_value(serde_json::json!({
        "name": "三人团", "sku": "tea-1", "title": "乌龙 250 g", "price_fen": 5900, "group_size": 3,
        "time_limit_minutes": 30, "stock": 6, "starts_at": now.to_string(),
        "ends_at": (now + jiff::SignedDuration::from_hours(24)).to_string(),
    }))
    .unwrap();
    let activity = one.campaigns.create_group_buy(&owner, input).await.unwrap().id;

    // The leader opens a group; again, or another group, is refused.
    let group = one.campaigns.open_group(&passes[0], activity).await.unwrap();
    assert_eq!((group.members, group.places_left, group.status), (1, 2, GroupStatus::Open));
    assert_eq!(refusal(two.campaigns.join_group(&passes[0], group.id).await), CampaignError::AlreadyInGroup);
    assert_eq!(refusal(one.campaigns.open_group(&passes[0], activity).await), CampaignError::LimitReached(1));
    // Four customers race for the two places left through both instances: two get in.
    let mut tasks = Vec::new();
    for (n, p) in passes[1..5].iter().enumerate() {
        let s = if n % 2 == 0 { one.clone() } else { two.clone() };
        let (p, id) = (p.clone(), group.id);
        tasks.push(tokio::spawn(async move { s.campaigns.join_group(&p, id).await }));
    }
    let mut joined = 0;
    let mut last = None;
    for task in tasks {
        match task.await.unwrap() {
            Ok(view) => {
                joined += 1;
                if view.status == GroupStatus::Complete {
                    last = Some(view);
                }
            }
            Err(e) => assert_eq!(refusal::<()>(Err(e)), CampaignError::GroupFull),
        }
    }
    assert_eq!(joined, 2);
    let done = last.expect("the last place completes the group");
    assert_eq!((done.members, done.places_left), (3, 0));
    // Its members' orders are confirmed, and each is told.
    let ws = owner.workspace_id();
    let members = one.stores.group_buys.group_members_of(ws, &ids).await.unwrap();
    let confirmed: Vec<&(i64, i64, i64, String)> = members.iter().filter(|m| m.3 == "confirmed").collect();
    assert_eq!(confirmed.len(), 3, "{members:?}");

    // A second group runs out of time: a join is refused, then upkeep fails it and gives back.
    let late = one.campaigns.open_group(&passes[5], activity).await.unwrap();
    one.campaigns.join_group(&passes[6], late.id).await.unwrap();
    clock.advance(jiff::SignedDuration::from_mins(31));
    assert!(matches!(refusal(two.campaigns.join_group(&passes[7], late.id).await), CampaignError::GroupExpired(_)));
    assert_eq!(one.campaigns.fail_expired_groups().await.unwrap(), 1);
    assert_eq!(two.campaigns.fail_expired_groups().await.unwrap(), 0, "failed once");
    let failed = one.campaigns.group(&passes[5], late.id).await.unwrap();
    assert_eq!(failed.status, GroupStatus::Failed);
    assert!(matches!(refusal(one.campaigns.join_group(&passes[7], late.id).await), CampaignError::GroupExpired(_)));
    let view = one.campaigns.group_buy(&owner, activity).await.unwrap();
    assert_eq!((view.complete_groups, view.failed_groups, view.reserved), (Some(1), Some(1), Some(3)), "{view:?}");
    // The failed group's customers have their places back. An erased member of an open group
    // leaves it, the unit back.
    let again = one.campaigns.open_group(&passes[5], activity).await.unwrap();
    one.campaigns.join_group(&passes[6], again.id).await.unwrap();
    one.erase_customer(&owner, ids[6]).await.unwrap();
    let view = one.campaigns.group_buy(&owner, activity).await.unwrap();
    assert_eq!(view.reserved, Some(4), "{view:?}");
    assert_eq!(one.campaigns.group(&passes[5], again.id).await.unwrap().members, 1);
    one.campaigns.join_group(&passes[7], again.id).await.unwrap();
    let full = two.campaigns.join_group(&passes[8], again.id).await.unwrap();
    assert_eq!(full.status, GroupStatus::Complete);
    // The stock of six holds.
    assert_eq!(refusal(one.campaigns.open_group(&passes[9], activity).await), CampaignError::SoldOut);
    one.campaigns.save_attempt_counts().await.unwrap();
    two.campaigns.save_attempt_counts().await.unwrap();
    let view = one.campaigns.group_buy(&owner, activity).await.unwrap();
    assert_eq!((view.complete_groups, view.confirmed, view.reserved), (Some(2), Some(6), Some(6)), "{view:?}");
    let refusals = view.refusals.unwrap();
    assert_eq!(refusals.get("group-full"), Some(&2), "{refusals:?}");
    assert_eq!(refusals.get("group-expired"), Some(&2), "{refusals:?}");
    assert_eq!(refusals.get("sold-out"), Some(&1), "{refusals:?}");
    let export = one.export_customer(&owner, ids[5]).await.unwrap();
    assert_eq!(export["campaigns"]["group_buys"].as_array().map(Vec::len), Some(2), "{export}");
    one.erase_customer(&owner, ids[5]).await.unwrap();
    assert!(one.stores.group_buys.group_members_of(ws, &[ids[5]]).await.unwrap().is_empty());
    let view = one.campaigns.group_buy(&owner, activity).await.unwrap();
    assert_eq!(view.reserved, Some(6), "a settled group keeps its units");
}
