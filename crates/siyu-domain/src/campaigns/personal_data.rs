//! What the campaigns slice holds about a customer (their flash-sale orders and purchase counts),
//! given out and erased.

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
        &["flash_orders", "flash_buyers"]
    }

    /// The customer's flash-sale orders.
    async fn export(&self, _principal: &Principal, subject: &Subject) -> DomainResult<Value> {
        let orders = self.store.orders_of(subject.workspace, &subject.ids()).await?;
        let views: Vec<OrderView> = orders.into_iter().map(Into::into).collect();
        Ok(serde_json::json!({ "flash_sale_orders": views }))
    }

    /// Deletes the customer's orders and purchase counts; units their unpaid orders held go back
    /// on sale.
    async fn erase(&self, _principal: &Principal, subject: &Subject) -> DomainResult<()> {
        self.store.erase_orders(subject.workspace, &subject.ids()).await?;
        Ok(())
    }
}
