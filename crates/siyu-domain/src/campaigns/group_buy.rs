//! Group buying (拼团): an item at a group price for groups of N customers. A leader opens a group
//! and shares it; it completes when N customers are in it before its time runs out, and every
//! member's order is then confirmed; otherwise it fails, every reservation is released and each
//! member is told (a `Group Buy Failed` event, a journey's trigger). This module holds the
//! activity's definition and checks, and the shapes the store gives.

use super::input;
use crate::FieldError;
use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest group.
pub const MAX_GROUP_SIZE: i64 = 50;
/// The longest time a group may take to fill, in minutes (a week).
pub const MAX_TIME_LIMIT_MINUTES: i64 = 10_080;
/// The most units one activity may offer.
pub const MAX_STOCK: i64 = 10_000_000;
/// The most groups one customer may be in within an activity.
pub const MAX_PER_CUSTOMER: i64 = 10;

/// A group-buying activity to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBuyInput {
    /// Its name, for operators.
    pub name: String,
    /// The item's SKU.
    pub sku: String,
    /// The item's title, shown to customers.
    pub title: String,
    /// The group price in fen (分).
    pub price_fen: i64,
    /// Customers a group needs (2 to 50).
    pub group_size: i64,
    /// Minutes a group has to fill from when it is opened (5 to 10,080; 1,440 unless set).
    #[serde(default)]
    pub time_limit_minutes: Option<i64>,
    /// Units for all groups together (each member reserves one); absent: no limit.
    #[serde(default)]
    pub stock: Option<i64>,
    /// Opens (RFC 3339 with an offset).
    pub starts_at: String,
    /// Closes: no group is opened or joined from then on (open groups run to their own limit).
    pub ends_at: String,
    /// Groups one customer may be in (1 to 10; 1 unless set); a failed group gives its place back.
    #[serde(default)]
    pub per_customer: Option<i64>,
}

/// A group-buying activity as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGroupBuy {
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
    pub starts_at: jiff::Timestamp,
    /// Closes.
    pub ends_at: jiff::Timestamp,
    /// Groups per customer.
    pub per_customer: i64,
    /// Created.
    pub created_at: jiff::Timestamp,
}

/// Where a group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Filling.
    Open,
    /// Filled in time: every member's order is confirmed.
    Complete,
    /// Not filled in time: every reservation was released.
    Failed,
}

impl GroupStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }

    /// Reads the stored word.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(Self::Open),
            "complete" => Some(Self::Complete),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A group as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredGroup {
    /// Id.
    pub id: i64,
    /// The activity.
    pub group_buy_id: i64,
    /// The customer who opened it.
    pub leader_id: i64,
    /// Where it is.
    pub status: GroupStatus,
    /// Customers in it.
    pub members: i64,
    /// Customers it needs.
    pub size: i64,
    /// Opened.
    pub created_at: jiff::Timestamp,
    /// When it fails unless filled.
    pub expires_at: jiff::Timestamp,
    /// When it completed or failed.
    pub settled_at: Option<jiff::Timestamp>,
}

impl GroupBuyInput {
    /// Checks every field and returns the activity to store.
    pub fn into_group_buy(self, now: jiff::Timestamp) -> Result<StoredGroupBuy, DomainError> {
        let mut errors = Vec::new();
        let name = input::text("name", &self.name, 200, false, &mut errors);
        let sku = input::text("sku", &self.sku, 200, false, &mut errors);
        let title = input::text("title", &self.title, 200, false, &mut errors);
        if !(0..=10_000_000_000).contains(&self.price_fen) {
            errors.push(FieldError::new("price_fen", "must be a price in fen from 0 to 10000000000"));
        }
        if !(2..=MAX_GROUP_SIZE).contains(&self.group_size) {
            errors.push(FieldError::new("group_size", format!("must be 2 to {MAX_GROUP_SIZE}")));
        }
        let time_limit_minutes = self.time_limit_minutes.unwrap_or(1_440);
        if !(5..=MAX_TIME_LIMIT_MINUTES).contains(&time_limit_minutes) {
            errors.push(FieldError::new("time_limit_minutes", format!("must be 5 to {MAX_TIME_LIMIT_MINUTES}")));
        }
        if self.stock.is_some_and(|s| !(1..=MAX_STOCK).contains(&s)) {
            errors.push(FieldError::new("stock", format!("must be 1 to {MAX_STOCK}")));
        }
        let per_customer = self.per_customer.unwrap_or(1);
        if !(1..=MAX_PER_CUSTOMER).contains(&per_customer) {
            errors.push(FieldError::new("per_customer", format!("must be 1 to {MAX_PER_CUSTOMER}")));
        }
        let window = input::window(&self.starts_at, &self.ends_at, now, None, &mut errors);
        let (Some((starts_at, ends_at)), true) = (window, errors.is_empty()) else {
            return Err(DomainError::Invalid(errors));
        };
        Ok(StoredGroupBuy {
            id: 0,
            name,
            sku,
            title,
            price_fen: self.price_fen,
            group_size: self.group_size,
            time_limit_minutes,
            stock: self.stock,
            starts_at,
            ends_at,
            per_customer,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named() {
        let input: GroupBuyInput = serde_json::from_value(serde_json::json!({
            "name": "拼团", "sku": "", "title": "t", "price_fen": -1, "group_size": 1, "time_limit_minutes": 2,
            "stock": 0, "starts_at": "2026-12-01T00:00:00Z", "ends_at": "soon", "per_customer": 11,
        }))
        .unwrap();
        let Err(DomainError::Invalid(errors)) = input.into_group_buy(jiff::Timestamp::UNIX_EPOCH) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["sku", "price_fen", "group_size", "time_limit_minutes", "stock", "per_customer", "ends_at"]
        );
    }
}
