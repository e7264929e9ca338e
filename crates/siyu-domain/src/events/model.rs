//! An event as the log keeps it (Segment's message, resolved to a customer) and the rules that
//! read business meaning out of it.

use siyu_core::CustomerId;

/// Segment's message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An action (`event` names it).
    Track,
    /// Traits of a user.
    Identify,
    /// A web page view.
    Page,
    /// A mobile screen view.
    Screen,
    /// Membership of a group (company, household).
    Group,
    /// Two identities of one user.
    Alias,
}

impl EventKind {
    /// Every kind, by its code in the log.
    pub const ALL: [EventKind; 6] = [Self::Track, Self::Identify, Self::Page, Self::Screen, Self::Group, Self::Alias];

    /// Returns the kind's code in the log.
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).expect("listed in ALL") as u8
    }

    /// Returns the kind of a log code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

/// The `Order Completed` event of Segment's E-commerce spec v2: it builds the customer's orders.
pub const ORDER_COMPLETED: &str = "Order Completed";
/// The `Order Refunded` event: it reverses an order with the same `order_id`, wholly or (with a
/// `revenue`/`total` smaller than the order's) in part.
pub const ORDER_REFUNDED: &str = "Order Refunded";

/// An event ready to be appended: validated and resolved to a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The customer it belongs to (at the time it arrived).
    pub customer: CustomerId,
    /// Message type.
    pub kind: EventKind,
    /// Event name: the track event, or `Page Viewed`, `Screen Viewed`, `Identify`, `Group`, `Alias`.
    pub name: String,
    /// When it happened (skew-corrected), microseconds since the Unix epoch.
    pub ts_us: i64,
    /// When siyu received it, microseconds since the Unix epoch.
    pub received_us: i64,
    /// The sender's id for it, unique per workspace (de-duplication key); may be empty for imports.
    pub message_id: String,
    /// Segment `userId`, empty when absent.
    pub user_id: String,
    /// Segment `anonymousId`, empty when absent.
    pub anonymous_id: String,
    /// `properties` (or `traits` for identify/group) as a JSON object text.
    pub properties: String,
    /// `context` as a JSON object text (`{}` when absent).
    pub context: String,
}

/// A stored event, borrowed from the log while it is scanned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventView<'a> {
    /// The customer it belonged to when it arrived.
    pub customer: CustomerId,
    /// Message type.
    pub kind: EventKind,
    /// Event name.
    pub name: &'a str,
    /// When it happened, microseconds since the Unix epoch.
    pub ts_us: i64,
    /// When it arrived, microseconds since the Unix epoch.
    pub received_us: i64,
    /// De-duplication key.
    pub message_id: &'a str,
    /// Segment `userId` or empty.
    pub user_id: &'a str,
    /// Segment `anonymousId` or empty.
    pub anonymous_id: &'a str,
    /// Properties JSON text.
    pub properties: &'a str,
    /// Context JSON text.
    pub context: &'a str,
}

impl NewEvent {
    /// An event siyu records itself about a customer (a message sent, a link followed, a journey
    /// step), at `at`, with `properties` (a JSON object's text) and no sender ids.
    pub fn recorded(customer: CustomerId, name: &str, properties: String, at: jiff::Timestamp) -> Self {
        let at = at.as_microsecond();
        Self {
            customer,
            kind: EventKind::Track,
            name: name.to_string(),
            ts_us: at,
            received_us: at,
            message_id: String::new(),
            user_id: String::new(),
            anonymous_id: String::new(),
            properties,
            context: "{}".into(),
        }
    }

    /// Returns a borrowed view of this event.
    pub fn view(&self) -> EventView<'_> {
        EventView {
            customer: self.customer,
            kind: self.kind,
            name: &self.name,
            ts_us: self.ts_us,
            received_us: self.received_us,
            message_id: &self.message_id,
            user_id: &self.user_id,
            anonymous_id: &self.anonymous_id,
            properties: &self.properties,
            context: &self.context,
        }
    }
}

#[derive(serde::Deserialize)]
struct OrderProperties {
    revenue: Option<serde_json::Value>,
    total: Option<serde_json::Value>,
    order_id: Option<serde_json::Value>,
}

/// Returns an order event's `order_id` (a string or a number), if it has one.
pub fn order_id(properties: &str) -> Option<String> {
    let props: OrderProperties = serde_json::from_str(properties).ok()?;
    match props.order_id? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Returns the amount an `Order Refunded` event refunds, in cents (`revenue`, else `total`);
/// `None` when it names none, which refunds the whole order.
pub fn refund_cents(properties: &str) -> Option<i64> {
    order_cents(ORDER_COMPLETED, properties)
}

/// Returns an `Order Completed` event's revenue in cents (`revenue`, else `total`, as E-commerce
/// spec v2 names them), rounded half away from zero; `None` for other events or without a number.
pub fn order_cents(name: &str, properties: &str) -> Option<i64> {
    if name != ORDER_COMPLETED {
        return None;
    }
    let props: OrderProperties = serde_json::from_str(properties).ok()?;
    let value = props.revenue.or(props.total)?;
    let amount = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    amount.is_finite().then(|| (amount * 100.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_read_revenue_then_total() {
        assert_eq!(order_cents(ORDER_COMPLETED, r#"{"revenue": 12.345, "total": 99}"#), Some(1235));
        assert_eq!(order_cents(ORDER_COMPLETED, r#"{"total": "8.5"}"#), Some(850));
        assert_eq!(order_cents(ORDER_COMPLETED, r#"{"products": []}"#), None);
        assert_eq!(order_cents("Product Added", r#"{"revenue": 1}"#), None);
        assert_eq!(EventKind::from_code(EventKind::Alias.code()), Some(EventKind::Alias));
        assert_eq!(order_id(r#"{"order_id": "A-1"}"#).as_deref(), Some("A-1"));
        assert_eq!(order_id(r#"{"order_id": 42}"#).as_deref(), Some("42"));
        assert_eq!(order_id(r#"{"order_id": ""}"#), None);
        assert_eq!(refund_cents(r#"{"order_id": "A-1", "total": 5}"#), Some(500));
    }
}
