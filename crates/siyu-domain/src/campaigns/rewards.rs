//! The rewards activities give (a check-in milestone, a quiz's passing score or rank): a coupon of a
//! template and extra lottery draws, each given once for its key, so a retry after a crash or a
//! race between nodes gives nothing twice.

use super::Campaigns;
use crate::FieldError;
use crate::error::DomainResult;
use serde::Serialize;
use siyu_core::{CustomerId, WorkspaceId};
use utoipa::ToSchema;

/// What a reward gave.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Given {
    /// The coupon's code, when the reward gives one (and one was left).
    pub coupon_code: Option<String>,
    /// The lottery the draws are in.
    pub lottery: Option<i64>,
    /// Draws given.
    pub chances: Option<i64>,
}

/// A reward an activity names, at its path in the input (`milestones[0]`, `pass_reward`).
pub(crate) struct Named {
    /// The path.
    pub at: String,
    /// The coupon template it gives one coupon of.
    pub coupon_template: Option<i64>,
    /// The lottery it gives draws in.
    pub lottery: Option<i64>,
}

impl Campaigns {
    /// The rewards' coupon templates and lotteries the workspace does not have, each named at its
    /// path (`milestones[0].coupon_template`).
    pub(crate) async fn missing_rewards(&self, ws: WorkspaceId, named: &[Named]) -> DomainResult<Vec<FieldError>> {
        let mut errors = Vec::new();
        for reward in named {
            if let Some(template) = reward.coupon_template
                && !self.has_coupon_template(ws, template).await?
            {
                errors.push(FieldError::new(
                    format!("{}.coupon_template", reward.at),
                    format!("there is no coupon template {template}"),
                ));
            }
            if let Some(lottery) = reward.lottery
                && !self.has_lottery(ws, lottery).await?
            {
                errors
                    .push(FieldError::new(format!("{}.lottery", reward.at), format!("there is no lottery {lottery}")));
            }
        }
        Ok(errors)
    }

    /// Gives a reward once for `key`: one coupon of `coupon_template` (a coupon refused — stock
    /// gone, template expired — is logged and not given) and `chances` draws in `lottery`.
    pub(crate) async fn give_reward(
        &self,
        ws: WorkspaceId,
        customer: CustomerId,
        coupon_template: Option<i64>,
        lottery: Option<i64>,
        chances: Option<i64>,
        key: &str,
    ) -> DomainResult<Given> {
        let mut given = Given::default();
        if let Some(template) = coupon_template
            && let Some(stored) = self.coupons.coupon_template(ws, template).await?
        {
            match self.issue_keyed_reward(ws, &stored, customer, format!("{key}:coupon")).await {
                Ok(code) => given.coupon_code = Some(code),
                Err(error) => tracing::warn!(key, %error, "a reward's coupon was not given"),
            }
        }
        if let Some(lottery) = lottery {
            let chances = chances.unwrap_or(1);
            // Given now, or before under the same key (a retry): the customer has them.
            self.lotteries.add_chances(ws, lottery, customer, chances, Some(&format!("{key}:draws"))).await?;
            (given.lottery, given.chances) = (Some(lottery), Some(chances));
        }
        Ok(given)
    }
}
