//! A flash sale (秒杀): an item at a price, a stock, a window, a limit per customer (one unless
//! set) and, optionally, a segment whose members alone may buy (a membership level is a segment
//! on the level trait). What operators send is checked whole, every problem named by its field.

use super::store::{OrderStatus, SaleCounts, StoredFlashSale, StoredOrder};
use crate::error::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most units one sale may offer.
pub const MAX_STOCK: i64 = 10_000_000;
/// The most purchases one customer may be allowed.
pub const MAX_PER_CUSTOMER: i64 = 100;
/// The longest time to pay, in minutes (a day).
pub const MAX_PAY_MINUTES: i64 = 1_440;
/// The time to pay unless set, in minutes.
pub const DEFAULT_PAY_MINUTES: i64 = 15;
/// The longest name, SKU and title, in characters.
const MAX_TEXT: usize = 200;

/// A flash sale to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashSaleInput {
    /// Its name, for operators.
    pub name: String,
    /// The item's SKU.
    pub sku: String,
    /// The item's title, shown to customers.
    pub title: String,
    /// The price in fen (分): 990 is ¥9.90.
    pub price_fen: i64,
    /// Units for sale (1 to 10,000,000).
    pub stock: i64,
    /// When it opens (RFC 3339 with an offset, e.g. `2026-12-12T20:00:00+08:00`).
    pub starts_at: String,
    /// When it closes (after it opens).
    pub ends_at: String,
    /// Purchases one customer may make (1 to 100; 1 unless set).
    #[serde(default)]
    pub per_customer: Option<i64>,
    /// Only members of this segment may buy (its key).
    #[serde(default)]
    pub segment: Option<String>,
    /// Minutes an order may stay unpaid before its unit goes back on sale (1 to 1,440; 15 unless set).
    #[serde(default)]
    pub pay_minutes: Option<i64>,
}

impl FlashSaleInput {
    /// Checks every field and returns the sale to store (segment existence is the service's check).
    pub fn into_sale(self, now: jiff::Timestamp) -> Result<StoredFlashSale, DomainError> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: &str| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    field,
                    format!("must be 1 to {MAX_TEXT} characters without control characters"),
                ));
            }
            value.to_string()
        };
        let name = text("name", &self.name);
        let sku = text("sku", &self.sku);
        let title = text("title", &self.title);
        if !(0..=10_000_000_000).contains(&self.price_fen) {
            errors.push(FieldError::new(
                "price_fen",
                format!("{} is not a price in fen from 0 to 10000000000", self.price_fen),
            ));
        }
        if !(1..=MAX_STOCK).contains(&self.stock) {
            errors.push(FieldError::new("stock", format!("{} is not from 1 to {MAX_STOCK}", self.stock)));
        }
        let instant = |field: &str, value: &str, errors: &mut Vec<FieldError>| match value.parse::<jiff::Timestamp>() {
            Ok(at) => Some(at),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "\"{}\" is not an RFC 3339 instant with an offset",
                        value.chars().take(60).collect::<String>()
                    ),
                ));
                None
            }
        };
        let starts_at = instant("starts_at", &self.starts_at, &mut errors);
        let ends_at = instant("ends_at", &self.ends_at, &mut errors);
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors.push(FieldError::new("ends_at", "must be after starts_at"));
            } else if end <= now {
                errors.push(FieldError::new("ends_at", "is in the past"));
            }
        }
        let per_customer = self.per_customer.unwrap_or(1);
        if !(1..=MAX_PER_CUSTOMER).contains(&per_customer) {
            errors.push(FieldError::new("per_customer", format!("{per_customer} is not from 1 to {MAX_PER_CUSTOMER}")));
        }
        let pay_minutes = self.pay_minutes.unwrap_or(DEFAULT_PAY_MINUTES);
        if !(1..=MAX_PAY_MINUTES).contains(&pay_minutes) {
            errors.push(FieldError::new("pay_minutes", format!("{pay_minutes} is not from 1 to {MAX_PAY_MINUTES}")));
        }
        let segment = self.segment.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if segment.as_ref().is_some_and(|s| s.len() > MAX_TEXT) {
            errors.push(FieldError::new("segment", "is not a segment key"));
        }
        match (errors.is_empty(), starts_at, ends_at) {
            (true, Some(starts_at), Some(ends_at)) => Ok(StoredFlashSale {
                id: 0,
                name,
                sku,
                title,
                price_fen: self.price_fen,
                stock: self.stock,
                sold: 0,
                starts_at,
                ends_at,
                per_customer,
                segment,
                pay_minutes,
                created_at: now,
            }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

/// Attempts and refusals of a sale.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct AttemptsView {
    /// Purchase attempts.
    pub attempts: i64,
    /// Refused: sold out.
    pub sold_out: i64,
    /// Refused: the customer had bought as many as allowed.
    pub limit_reached: i64,
    /// Refused: not in the sale's segment.
    pub not_eligible: i64,
    /// Refused: before the start or after the end.
    pub closed: i64,
    /// Refused: too many attempts from the customer or the address.
    pub rate_limited: i64,
}

/// A flash sale as operators see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FlashSaleView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// SKU.
    pub sku: String,
    /// Title.
    pub title: String,
    /// Price in fen.
    pub price_fen: i64,
    /// Units for sale.
    pub stock: i64,
    /// Units taken by orders not released.
    pub sold: i64,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Purchases one customer may make.
    pub per_customer: i64,
    /// Only members of this segment may buy.
    pub segment: Option<String>,
    /// Minutes to pay.
    pub pay_minutes: i64,
    /// Created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Orders holding a unit until paid.
    pub reserved: i64,
    /// Paid orders.
    pub paid: i64,
    /// Orders released unpaid.
    pub released: i64,
    /// Customers holding a unit.
    pub buyers: i64,
    /// Attempts and refusals (counted in memory, saved each second).
    pub attempts: AttemptsView,
}

impl FlashSaleView {
    /// The sale with its counts.
    pub fn new(sale: StoredFlashSale, counts: SaleCounts) -> Self {
        let a = counts.attempts;
        Self {
            id: sale.id,
            name: sale.name,
            sku: sale.sku,
            title: sale.title,
            price_fen: sale.price_fen,
            stock: sale.stock,
            sold: sale.sold,
            starts_at: sale.starts_at,
            ends_at: sale.ends_at,
            per_customer: sale.per_customer,
            segment: sale.segment,
            pay_minutes: sale.pay_minutes,
            created_at: sale.created_at,
            reserved: counts.reserved,
            paid: counts.paid,
            released: counts.released,
            buyers: counts.buyers,
            attempts: AttemptsView {
                attempts: a.attempts,
                sold_out: a.sold_out,
                limit_reached: a.limit_reached,
                not_eligible: a.not_eligible,
                closed: a.closed,
                rate_limited: a.rate_limited,
            },
        }
    }
}

/// A flash sale as a customer sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PublicSaleView {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Price in fen.
    pub price_fen: i64,
    /// Units for sale.
    pub stock: i64,
    /// Units left (as this server last saw them).
    pub left: i64,
    /// Opens.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: jiff::Timestamp,
    /// Closes.
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: jiff::Timestamp,
    /// Purchases one customer may make.
    pub per_customer: i64,
    /// Purchases this customer holds.
    pub purchased: i64,
    /// Minutes to pay after buying.
    pub pay_minutes: i64,
}

/// An order.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Id.
    pub id: i64,
    /// The sale.
    pub sale_id: i64,
    /// The buyer.
    pub customer_id: i64,
    /// Where it is.
    pub status: OrderStatus,
    /// Placed.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Released unless paid by then.
    #[schema(value_type = String, format = DateTime)]
    pub pay_by: jiff::Timestamp,
    /// When it was paid or released.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub settled_at: Option<jiff::Timestamp>,
    /// The payment's reference.
    pub payment_ref: Option<String>,
}

impl From<StoredOrder> for OrderView {
    fn from(order: StoredOrder) -> Self {
        Self {
            id: order.id,
            sale_id: order.sale_id,
            customer_id: order.customer.0,
            status: order.status,
            created_at: order.created_at,
            pay_by: order.pay_by,
            settled_at: order.settled_at,
            payment_ref: order.payment_ref,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FlashSaleInput {
        FlashSaleInput {
            name: "Double 12".into(),
            sku: "tea-1".into(),
            title: "Oolong, 250 g".into(),
            price_fen: 990,
            stock: 1000,
            starts_at: "2026-12-12T20:00:00+08:00".into(),
            ends_at: "2026-12-12T22:00:00+08:00".into(),
            per_customer: None,
            segment: None,
            pay_minutes: None,
        }
    }

    #[test]
    fn a_sale_takes_its_defaults_and_every_bad_field_is_named() {
        let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().expect("instant");
        let sale = input().into_sale(now).expect("valid");
        assert_eq!((sale.per_customer, sale.pay_minutes, sale.stock), (1, DEFAULT_PAY_MINUTES, 1000));
        let bad = FlashSaleInput {
            name: " ".into(),
            stock: 0,
            price_fen: -1,
            ends_at: "2026-12-12T19:00:00+08:00".into(),
            per_customer: Some(0),
            pay_minutes: Some(100_000),
            ..input()
        };
        let Err(DomainError::Invalid(errors)) = bad.into_sale(now) else { panic!("refused") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "price_fen", "stock", "ends_at", "per_customer", "pay_minutes"]);
        let bad = FlashSaleInput { starts_at: "tomorrow".into(), ..input() };
        let Err(DomainError::Invalid(errors)) = bad.into_sale(now) else { panic!("refused") };
        assert_eq!(errors[0].field, "starts_at");
    }
}
