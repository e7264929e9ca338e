//! Group buying's use cases: activities created and watched, a group opened by its leader and
//! joined through its link, completed by the last place (every member's order confirmed), failed by
//! `campaigns.upkeep` when its time runs out (reservations given back, each member told by a
//! `Group Buy Failed` event). Every refusal is counted.

use super::Campaigns;
use super::group_buy::{GroupBuyInput, GroupStatus, StoredGroup, StoredGroupBuy};
use super::group_buy_store::Joined;
use super::service::CustomerPass;
use crate::access::{Permission, Principal};
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::NewEvent;
use serde::Serialize;
use siyu_core::WorkspaceId;
use utoipa::ToSchema;

/// A group opened.
pub const GROUP_OPENED: &str = "Group Buy Opened";
/// A customer joined a group.
pub const GROUP_JOINED: &str = "Group Buy Joined";
/// A group filled: each member's order is confirmed.
pub const GROUP_COMPLETED: &str = "Group Buy Completed";
/// A group's time ran out: each member's reservation was released.
pub const GROUP_FAILED: &str = "Group Buy Failed";
/// The activity refusals are counted under.
const ACTIVITY: &str = "group_buy";
/// Groups failed per round of upkeep at most.
const FAIL_BATCH: usize = 1_000;

/// A group-buying activity with its counts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupBuyView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Group price in fen.
    pub price_fen: i64,
    /// Customers a group needs.
    pub group_size: i64,
    /// Minutes a group has to fill.
    pub time_limit_minutes: i64,
    /// Units in all, if limited.
    pub stock: Option<i64>,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Groups a customer may be in.
    pub per_customer: i64,
    /// Groups filling now (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_groups: Option<i64>,
    /// Groups completed (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_groups: Option<i64>,
    /// Groups failed (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_groups: Option<i64>,
    /// Orders confirmed (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<i64>,
    /// Units reserved by open and completed groups (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved: Option<i64>,
    /// The share of groups settled that completed (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_rate: Option<f64>,
    /// Refusals by reason (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusals: Option<std::collections::BTreeMap<String, i64>>,
}

impl From<StoredGroupBuy> for GroupBuyView {
    fn from(g: StoredGroupBuy) -> Self {
        Self {
            id: g.id,
            name: g.name,
            sku: g.sku,
            title: g.title,
            price_fen: g.price_fen,
            group_size: g.group_size,
            time_limit_minutes: g.time_limit_minutes,
            stock: g.stock,
            starts_at: g.starts_at,
            ends_at: g.ends_at,
            per_customer: g.per_customer,
            open_groups: None,
            complete_groups: None,
            failed_groups: None,
            confirmed: None,
            reserved: None,
            completion_rate: None,
            refusals: None,
        }
    }
}

/// A group as a customer sees it (members are counted, not named).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// Id.
    pub id: i64,
    /// The activity.
    pub group_buy_id: i64,
    /// Where it is.
    pub status: GroupStatus,
    /// Customers in it.
    pub members: i64,
    /// Customers it needs.
    pub size: i64,
    /// Places left.
    pub places_left: i64,
    /// When it fails unless filled.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    /// The path to join it (share it with the activity's page).
    pub join_path: String,
    /// Whether the asking customer is in it.
    pub joined: bool,
}

impl GroupView {
    fn new(g: StoredGroup, joined: bool) -> Self {
        Self {
            id: g.id,
            group_buy_id: g.group_buy_id,
            status: g.status,
            members: g.members,
            size: g.size,
            places_left: (g.size - g.members).max(0),
            expires_at: g.expires_at,
            join_path: format!("/c/v1/groups/{}/join", g.id),
            joined,
        }
    }
}

/// An activity as a customer sees it, with the customer's groups.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MyGroupBuyView {
    /// The activity.
    pub group_buy: GroupBuyView,
    /// The customer's groups in it, newest first.
    pub groups: Vec<GroupView>,
}

impl Campaigns {
    async fn stored_group_buy(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredGroupBuy> {
        self.group_buys.group_buy(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("group buy {id}")))
    }

    /// Creates a group-buying activity.
    pub async fn create_group_buy(&self, principal: &Principal, input: GroupBuyInput) -> DomainResult<GroupBuyView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut g = input.into_group_buy(self.access.now())?;
        g.id = self.group_buys.insert_group_buy(ws, &g).await?;
        self.access.audit(principal, "group_buy.create", &format!("group_buy:{}", g.id)).await?;
        self.group_buy_view(ws, g).await
    }

    async fn group_buy_view(&self, ws: WorkspaceId, g: StoredGroupBuy) -> DomainResult<GroupBuyView> {
        let counts = self.group_buys.group_buy_counts(ws, g.id).await?;
        let refusals = self.coupons.refusals(ws, ACTIVITY, g.id).await?;
        let settled = counts.complete + counts.failed;
        Ok(GroupBuyView {
            open_groups: Some(counts.open),
            complete_groups: Some(counts.complete),
            failed_groups: Some(counts.failed),
            confirmed: Some(counts.confirmed),
            reserved: Some(counts.reserved),
            completion_rate: Some(if settled == 0 { 0.0 } else { counts.complete as f64 / settled as f64 }),
            refusals: Some(refusals.into_iter().collect()),
            ..g.into()
        })
    }

    /// The workspace's group-buying activities with their counts, newest first.
    pub async fn group_buys(&self, principal: &Principal) -> DomainResult<Vec<GroupBuyView>> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let mut views = Vec::new();
        for g in self.group_buys.group_buys(ws).await? {
            views.push(self.group_buy_view(ws, g).await?);
        }
        Ok(views)
    }

    /// An activity with its counts: groups open, completed and failed, orders confirmed, units
    /// reserved, the completion rate and the refusals.
    pub async fn group_buy(&self, principal: &Principal, id: i64) -> DomainResult<GroupBuyView> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let g = self.stored_group_buy(ws, id).await?;
        self.group_buy_view(ws, g).await
    }

    /// The activity as the customer sees it, with their groups.
    pub async fn my_group_buy(&self, pass: &CustomerPass, id: i64) -> DomainResult<MyGroupBuyView> {
        let ws = pass.workspace();
        let g = self.stored_group_buy(ws, id).await?;
        let groups = self.group_buys.groups_of(ws, id, pass.customer()).await?;
        Ok(MyGroupBuyView {
            group_buy: g.into(),
            groups: groups.into_iter().map(|g| GroupView::new(g, true)).collect(),
        })
    }

    /// A group, as anyone with its link sees it.
    pub async fn group(&self, pass: &CustomerPass, id: i64) -> DomainResult<GroupView> {
        let ws = pass.workspace();
        let g = self.group_buys.group(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("group {id}")))?;
        let joined = self.group_buys.groups_of(ws, g.group_buy_id, pass.customer()).await?.iter().any(|m| m.id == id);
        Ok(GroupView::new(g, joined))
    }

    /// The customer opens a group and takes its first place.
    pub async fn open_group(&self, pass: &CustomerPass, id: i64) -> DomainResult<GroupView> {
        let ws = pass.workspace();
        let g = self.stored_group_buy(ws, id).await?;
        let result = async {
            let now = self.open_activity(&g)?;
            let joined = self.group_buys.open_group(ws, &g, pass.customer(), now).await?;
            self.joined(ws, joined, GROUP_OPENED, &g, now).await
        }
        .await;
        self.count_refusal(ws, ACTIVITY, id, result)
    }

    /// The customer joins a group through its link.
    pub async fn join_group(&self, pass: &CustomerPass, group: i64) -> DomainResult<GroupView> {
        let ws = pass.workspace();
        let found =
            self.group_buys.group(ws, group).await?.ok_or_else(|| DomainError::NotFound(format!("group {group}")))?;
        let g = self.stored_group_buy(ws, found.group_buy_id).await?;
        let result = async {
            let now = self.open_activity(&g)?;
            let joined = self.group_buys.join_group(ws, group, pass.customer(), now).await?;
            self.joined(ws, joined, GROUP_JOINED, &g, now).await
        }
        .await;
        self.count_refusal(ws, ACTIVITY, g.id, result)
    }

    /// Now, if the activity is open.
    fn open_activity(&self, g: &StoredGroupBuy) -> DomainResult<jiff::Timestamp> {
        let now = self.access.now();
        if now < g.starts_at {
            return Err(CampaignError::NotStarted(g.starts_at).into());
        }
        if now >= g.ends_at {
            return Err(CampaignError::Ended(g.ends_at).into());
        }
        Ok(now)
    }

    /// The answer to an open or a join, with its events.
    async fn joined(
        &self,
        ws: WorkspaceId,
        joined: Joined,
        name: &str,
        g: &StoredGroupBuy,
        now: jiff::Timestamp,
    ) -> DomainResult<GroupView> {
        let (group, completed, customer) = match joined {
            Joined::In { group, completed, customer } => (group, completed, customer),
            Joined::Full => return Err(CampaignError::GroupFull.into()),
            Joined::Expired(at) => return Err(CampaignError::GroupExpired(at).into()),
            Joined::Already => return Err(CampaignError::AlreadyInGroup.into()),
            Joined::OutOfStock => return Err(CampaignError::SoldOut.into()),
            Joined::LimitReached => return Err(CampaignError::LimitReached(g.per_customer).into()),
            Joined::Gone => return Err(DomainError::NotFound("group buy, group or customer".into())),
        };
        let properties = |extra: serde_json::Value| {
            let mut p = serde_json::json!({
                "group_buy_id": group.group_buy_id, "group_id": group.id, "members": group.members, "size": group.size,
            });
            if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
                p.extend(extra.clone());
            }
            p.to_string()
        };
        let mut events = vec![NewEvent::recorded(customer, name, properties(serde_json::json!({})), now)];
        for member in completed.iter().flatten() {
            events.push(NewEvent::recorded(*member, GROUP_COMPLETED, properties(serde_json::json!({})), now));
        }
        self.events.append_and_index(ws, &events).await?;
        Ok(GroupView::new(group, true))
    }

    /// Fails the groups whose time ran out (every workspace's), gives their reservations back and
    /// tells each member with a `Group Buy Failed` event; returns how many failed.
    pub async fn fail_expired_groups(&self) -> DomainResult<usize> {
        let now = self.access.now();
        let failed = self.group_buys.fail_expired_groups(now, FAIL_BATCH).await?;
        let mut by_workspace: std::collections::BTreeMap<WorkspaceId, Vec<NewEvent>> = Default::default();
        for f in &failed {
            let properties = serde_json::json!({
                "group_buy_id": f.group.group_buy_id, "group_id": f.group.id, "members": f.group.members,
                "size": f.group.size,
            })
            .to_string();
            for member in &f.members {
                by_workspace.entry(f.workspace).or_default().push(NewEvent::recorded(
                    *member,
                    GROUP_FAILED,
                    properties.clone(),
                    now,
                ));
            }
        }
        for (ws, events) in by_workspace {
            self.events.append_and_index(ws, &events).await?;
        }
        Ok(failed.len())
    }
}
