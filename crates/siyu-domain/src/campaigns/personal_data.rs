//! What the campaigns slice holds about a customer (flash-sale orders and purchase counts,
//! coupons, lottery draws, check-in days), given out and erased.

use super::Campaigns;
use super::flash_sale::OrderView;
use crate::access::Principal;
use crate::error::DomainResult;
use crate::personal_data::{PersonalData, Subject};
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
impl PersonalData for Campaigns {
    fn part(&self) -> &'static str {
        "campaigns"
    }

    fn holds(&self) -> &'static [&'static str] {
        &[
            "flash_orders",
            "flash_buyers",
            "coupons",
            "coupon_holders",
            "coupon_issues",
            "lottery_players",
            "lottery_draws",
            "checkin_players",
            "checkin_days",
            "checkin_milestones",
            "group_buy_groups",
            "group_buy_members",
            "group_buy_players",
            "quiz_attempts",
            "campaign_grants",
        ]
    }

    /// The customer's flash-sale orders and coupons (with their codes).
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let orders = self.store.orders_of(subject.workspace, &subject.ids()).await?;
        let views: Vec<OrderView> = orders.into_iter().map(Into::into).collect();
        let key = self.access.data_key(subject.workspace).await?;
        let coupons: Vec<Value> = self
            .coupons
            .coupons_of(subject.workspace, &subject.ids())
            .await?
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "code": super::coupon::code(c.id, &key), "template_id": c.template_id,
                    "status": c.status, "issued_at": c.issued_at.to_string(), "valid_until": c.valid_until.to_string(),
                    "order_id": c.order_id,
                })
            })
            .collect();
        let draws: Vec<Value> = self
            .lotteries
            .draws_of(subject.workspace, &subject.ids())
            .await?
            .into_iter()
            .map(|(lottery, d)| serde_json::json!({"lottery_id": lottery, "draw": d}))
            .collect();
        let checkins: Vec<Value> = self
            .checkins
            .checkin_days_of(subject.workspace, &subject.ids())
            .await?
            .into_iter()
            .map(|(checkin, _, day, makeup)| {
                serde_json::json!({
                    "checkin_id": checkin, "date": super::checkin::date_of(day).to_string(), "makeup": makeup,
                })
            })
            .collect();
        let groups: Vec<Value> = self
            .group_buys
            .group_members_of(subject.workspace, &subject.ids())
            .await?
            .into_iter()
            .map(|(activity, group, _, status)| {
                serde_json::json!({"group_buy_id": activity, "group_id": group, "order_status": status})
            })
            .collect();
        let attempts: Vec<Value> = self
            .quizzes
            .attempts_of_customers(subject.workspace, &subject.ids())
            .await?
            .into_iter()
            .map(|a| {
                serde_json::json!({
                    "quiz_id": a.quiz_id, "attempt_id": a.id, "n": a.n, "started_at": a.started_at.to_string(),
                    "score": a.score,
                })
            })
            .collect();
        Ok(serde_json::json!({
            "flash_sale_orders": views, "coupons": coupons, "lottery_draws": draws, "check_ins": checkins,
            "group_buys": groups, "quiz_attempts": attempts,
        }))
    }

    /// Deletes the customer's orders, purchase counts, coupons and claim counts (units their
    /// unpaid orders held go back on sale) and takes them out of running bulk issues.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.store.erase_orders(subject.workspace, &subject.ids()).await?;
        self.forget_in_issues(subject.workspace, &subject.ids()).await?;
        self.coupons.erase_coupons(subject.workspace, &subject.ids()).await?;
        self.lotteries.erase_draws(subject.workspace, &subject.ids()).await?;
        self.checkins.erase_checkins(subject.workspace, &subject.ids()).await?;
        self.group_buys.erase_group_members(subject.workspace, &subject.ids()).await?;
        self.quizzes.erase_attempts(subject.workspace, &subject.ids()).await?;
        Ok(())
    }
}
