//! Check-in's use cases: activities created and watched (participants, check-ins and make-ups a
//! day, the check-in rate, milestones reached), a customer's standing, the day's check-in and a
//! make-up card, each by the workspace's local day; a streak reaching a milestone gives its reward
//! once (the grants are keyed, so a retry or a race gives nothing twice).

use super::Campaigns;
use super::checkin::{self, CheckinInput, Milestone, StoredCheckin};
use super::checkin_store::CheckedIn;
use super::rewards::Named;
use super::service::CustomerPass;
use crate::access::{Permission, Principal};
use crate::error::{CampaignError, DomainError, DomainResult};
use crate::events::NewEvent;
use serde::{Deserialize, Serialize};
use siyu_core::{CustomerId, WorkspaceId};
use utoipa::ToSchema;

/// The event a check-in records.
pub const CHECKED_IN: &str = "Checked In";
/// The event a milestone reached records (a journey's trigger).
pub const MILESTONE_REACHED: &str = "Check-in Milestone Reached";
/// The activity refusals are counted under.
const ACTIVITY: &str = "checkin";
/// Days the counts show.
const SHOWN_DAYS: i64 = 30;

/// A check-in activity.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckinView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Streak rewards, by streak.
    pub milestones: Vec<Milestone>,
    /// Make-up cards each customer may use.
    pub makeup_cards: i64,
    /// How many days back a make-up card reaches.
    pub makeup_days: i64,
    /// Rules text.
    pub rules: String,
}

impl From<StoredCheckin> for CheckinView {
    fn from(c: StoredCheckin) -> Self {
        Self {
            id: c.id,
            name: c.name,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            milestones: c.milestones,
            makeup_cards: c.makeup_cards,
            makeup_days: c.makeup_days,
            rules: c.rules,
        }
    }
}

/// One day's counts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckinDay {
    /// The workspace's local date.
    pub date: String,
    /// Customers who checked in that day (make-ups included).
    pub checked_in: i64,
    /// Of which by a make-up card.
    pub makeups: i64,
    /// Checked in over the customers who had taken part by that day.
    pub rate: f64,
}

/// An activity with its counts.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckinStats {
    /// The activity.
    pub checkin: CheckinView,
    /// Customers who checked in at least once.
    pub participants: i64,
    /// The last 30 days (to today or the close), oldest first.
    pub days: Vec<CheckinDay>,
    /// Customers who reached each milestone, by streak.
    pub milestones: std::collections::BTreeMap<i64, i64>,
    /// Refusals by reason.
    pub refusals: std::collections::BTreeMap<String, i64>,
}

/// A reward a milestone gave.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RewardView {
    /// The streak reached.
    pub streak: i64,
    /// The coupon's code, when the milestone gives one (and one was left).
    pub coupon_code: Option<String>,
    /// The lottery the draws are in.
    pub lottery: Option<i64>,
    /// Draws given.
    pub chances: Option<i64>,
}

/// A check-in done.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckInView {
    /// The local date checked in.
    pub date: String,
    /// Whether a make-up card was used.
    pub makeup: bool,
    /// The streak standing now.
    pub streak: i64,
    /// Milestones this check-in reached, with what they gave.
    pub rewards: Vec<RewardView>,
}

/// A customer's standing in an activity.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MyCheckinView {
    /// The activity.
    pub checkin: CheckinView,
    /// Today, the workspace's local date.
    pub today: String,
    /// Whether the customer checked in today.
    pub checked_in_today: bool,
    /// The streak standing today (alive until today ends).
    pub streak: i64,
    /// The longest streak.
    pub best_streak: i64,
    /// Days checked in, newest first.
    pub dates: Vec<String>,
    /// Make-up cards left.
    pub cards_left: i64,
    /// Milestones reached, by streak.
    pub reached: Vec<i64>,
}

/// A make-up: the missed day to fill.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeupInput {
    /// The local date (`YYYY-MM-DD`): before today, within the activity and its make-up reach.
    pub date: String,
}

impl Campaigns {
    /// The workspace's local day of `at` (days since 1970-01-01).
    async fn local_day(&self, ws: WorkspaceId, at: jiff::Timestamp) -> DomainResult<i64> {
        Ok(checkin::day_number(at.to_zoned(self.zone(ws).await?).date()))
    }

    async fn stored_checkin(&self, ws: WorkspaceId, id: i64) -> DomainResult<StoredCheckin> {
        self.checkins.checkin(ws, id).await?.ok_or_else(|| DomainError::NotFound(format!("check-in {id}")))
    }

    /// Creates a check-in activity; its milestones' coupon templates and lotteries must exist.
    pub async fn create_checkin(&self, principal: &Principal, input: CheckinInput) -> DomainResult<CheckinView> {
        principal.require(Permission::CampaignsManage)?;
        let ws = principal.workspace_id();
        let mut c = input.into_checkin(self.access.now())?;
        let named: Vec<Named> = c
            .milestones
            .iter()
            .enumerate()
            .map(|(i, m)| Named {
                at: format!("milestones[{i}]"),
                coupon_template: m.coupon_template,
                lottery: m.lottery,
            })
            .collect();
        let errors = self.missing_rewards(ws, &named).await?;
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        c.id = self.checkins.insert_checkin(ws, &c).await?;
        self.access.audit(principal, "checkin.create", &format!("checkin:{}", c.id)).await?;
        Ok(c.into())
    }

    /// The workspace's check-in activities, newest first.
    pub async fn checkins(&self, principal: &Principal) -> DomainResult<Vec<CheckinView>> {
        principal.require(Permission::AnalyticsRead)?;
        Ok(self.checkins.checkins(principal.workspace_id()).await?.into_iter().map(Into::into).collect())
    }

    /// An activity with its counts: participants, the last 30 days' check-ins, make-ups and
    /// check-in rate, the milestones reached and the refusals.
    pub async fn checkin_stats(&self, principal: &Principal, id: i64) -> DomainResult<CheckinStats> {
        principal.require(Permission::AnalyticsRead)?;
        let ws = principal.workspace_id();
        let c = self.stored_checkin(ws, id).await?;
        let zone = self.zone(ws).await?;
        let day_at = |at: jiff::Timestamp| checkin::day_number(at.to_zoned(zone.clone()).date());
        let (first, last) = (day_at(c.starts_at), day_at(self.access.now().min(c.ends_at)));
        let from = first.max(last - SHOWN_DAYS + 1);
        let counts = self.checkins.checkin_counts(ws, id, from).await?;
        let mut days = Vec::new();
        for day in from..=last {
            let joined: i64 = counts.first_days.iter().filter(|(d, _)| *d <= day).map(|(_, n)| n).sum();
            let (checked_in, makeups) =
                counts.days.iter().find(|(d, _, _)| *d == day).map_or((0, 0), |(_, n, m)| (*n, *m));
            let rate = if joined == 0 { 0.0 } else { checked_in as f64 / joined as f64 };
            days.push(CheckinDay { date: checkin::date_of(day).to_string(), checked_in, makeups, rate });
        }
        let refusals = self.coupons.refusals(ws, ACTIVITY, id).await?;
        Ok(CheckinStats {
            checkin: c.into(),
            participants: counts.participants,
            days,
            milestones: counts.milestones.into_iter().collect(),
            refusals: refusals.into_iter().collect(),
        })
    }

    /// The customer's standing: today's check-in, the streak, the days, cards left.
    pub async fn my_checkin(&self, pass: &CustomerPass, id: i64) -> DomainResult<MyCheckinView> {
        let ws = pass.workspace();
        let c = self.stored_checkin(ws, id).await?;
        let today = self.local_day(ws, self.access.now()).await?;
        let standing = self.checkins.standing(ws, id, pass.customer()).await?;
        Ok(MyCheckinView {
            today: checkin::date_of(today).to_string(),
            checked_in_today: standing.days.first() == Some(&today),
            streak: checkin::current_streak(&standing.days, today),
            best_streak: checkin::best_streak(&standing.days),
            dates: standing.days.iter().map(|d| checkin::date_of(*d).to_string()).collect(),
            cards_left: (c.makeup_cards - standing.cards_used).max(0),
            reached: standing.reached,
            checkin: c.into(),
        })
    }

    /// Checks the customer in for today.
    pub async fn check_in(&self, pass: &CustomerPass, id: i64) -> DomainResult<CheckInView> {
        let ws = pass.workspace();
        let c = self.stored_checkin(ws, id).await?;
        let result = async {
            let now = self.open_now(&c)?;
            let today = self.local_day(ws, now).await?;
            self.record_check_in(pass, &c, today, today, None).await
        }
        .await;
        self.count_refusal(ws, ACTIVITY, id, result)
    }

    /// Fills a missed day with a make-up card.
    pub async fn make_up(&self, pass: &CustomerPass, id: i64, input: &MakeupInput) -> DomainResult<CheckInView> {
        let ws = pass.workspace();
        let c = self.stored_checkin(ws, id).await?;
        let result = async {
            let now = self.open_now(&c)?;
            let zone = self.zone(ws).await?;
            let today = checkin::day_number(now.to_zoned(zone.clone()).date());
            let date: jiff::civil::Date = input
                .date
                .parse()
                .map_err(|_| DomainError::invalid("date", format!("\"{}\" is not a date (YYYY-MM-DD)", clip(&input.date))))?;
            let day = checkin::day_number(date);
            let first = checkin::day_number(c.starts_at.to_zoned(zone).date());
            if day >= today || day < today - c.makeup_days || day < first {
                return Err(DomainError::invalid(
                    "date",
                    format!(
                        "{date} is not a missed day a card can fill: from {} to {} ({} days back, not before the start)",
                        checkin::date_of((today - c.makeup_days).max(first)),
                        checkin::date_of(today - 1),
                        c.makeup_days
                    ),
                ));
            }
            if c.makeup_cards == 0 {
                return Err(CampaignError::NoMakeupCards(0).into());
            }
            self.record_check_in(pass, &c, day, today, Some(c.makeup_cards)).await
        }
        .await;
        self.count_refusal(ws, ACTIVITY, id, result)
    }

    /// Now, if the activity is open.
    fn open_now(&self, c: &StoredCheckin) -> DomainResult<jiff::Timestamp> {
        let now = self.access.now();
        if now < c.starts_at {
            return Err(CampaignError::NotStarted(c.starts_at).into());
        }
        if now >= c.ends_at {
            return Err(CampaignError::Ended(c.ends_at).into());
        }
        Ok(now)
    }

    async fn record_check_in(
        &self,
        pass: &CustomerPass,
        c: &StoredCheckin,
        day: i64,
        today: i64,
        makeup_cards: Option<i64>,
    ) -> DomainResult<CheckInView> {
        let ws = pass.workspace();
        let now = self.access.now();
        let (customer, days) = match self.checkins.check_in(ws, c.id, pass.customer(), day, makeup_cards, now).await? {
            CheckedIn::Recorded { customer, days } => (customer, days),
            CheckedIn::Already => return Err(CampaignError::AlreadyCheckedIn(checkin::date_of(day).to_string()).into()),
            CheckedIn::NoCards => return Err(CampaignError::NoMakeupCards(c.makeup_cards).into()),
            CheckedIn::Gone => return Err(DomainError::NotFound(format!("customer {}", pass.customer()))),
        };
        let streak = checkin::current_streak(&days, today);
        let date = checkin::date_of(day).to_string();
        let properties = serde_json::json!({
            "checkin_id": c.id, "date": date, "streak": streak, "makeup": makeup_cards.is_some(),
        });
        let mut events = vec![NewEvent::recorded(customer, CHECKED_IN, properties.to_string(), now)];
        let rewards = self.reward_milestones(ws, c, customer, streak, &mut events).await?;
        self.events.append_and_index(ws, &events).await?;
        Ok(CheckInView { date, makeup: makeup_cards.is_some(), streak, rewards })
    }

    /// Gives the rewards of the milestones `streak` reaches that the customer has not reached
    /// before, then records them reached. The grants are keyed by activity, customer and streak, so
    /// a retry after a crash in between, or a check-in racing a make-up, gives nothing twice.
    async fn reward_milestones(
        &self,
        ws: WorkspaceId,
        c: &StoredCheckin,
        customer: CustomerId,
        streak: i64,
        events: &mut Vec<NewEvent>,
    ) -> DomainResult<Vec<RewardView>> {
        let reached = self.checkins.standing(ws, c.id, customer).await?.reached;
        let due: Vec<&Milestone> =
            c.milestones.iter().filter(|m| m.streak <= streak && !reached.contains(&m.streak)).collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut rewards = Vec::new();
        for m in &due {
            let key = format!("checkin:{}:{}:{}", c.id, customer.0, m.streak);
            let given = self.give_reward(ws, customer, m.coupon_template, m.lottery, m.chances, &key).await?;
            rewards.push(RewardView {
                streak: m.streak,
                coupon_code: given.coupon_code,
                lottery: given.lottery,
                chances: given.chances,
            });
        }
        let streaks: Vec<i64> = due.iter().map(|m| m.streak).collect();
        let now = self.access.now();
        for streak in self.checkins.reach_milestones(ws, c.id, customer, &streaks, now).await? {
            let properties = serde_json::json!({"checkin_id": c.id, "streak": streak});
            events.push(NewEvent::recorded(customer, MILESTONE_REACHED, properties.to_string(), now));
        }
        Ok(rewards)
    }
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}
