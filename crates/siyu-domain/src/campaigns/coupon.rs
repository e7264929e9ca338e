//! Coupons (优惠券): a template says what a coupon is worth — a fixed amount, a percentage with a
//! cap, an amount off above a threshold (满减), free shipping, a gift or buy-one-get-one —, how many
//! exist, how many one customer may claim, when they are valid (between two instants, or for N days
//! from the claim), where (channels, stores), and whether customers may claim them themselves.
//! A coupon's code names it without a lookup table: its id and a MAC under the workspace's key,
//! in Crockford's base32, so a code can be checked and found by its id alone and cannot be guessed.

use crate::error::{DomainError, FieldError};
use serde::{Deserialize, Serialize};
use siyu_core::crypto::DataKey;
use utoipa::ToSchema;

/// The most units a template may offer.
pub const MAX_STOCK: i64 = 100_000_000;
/// The most coupons of one template a customer may be allowed to claim.
pub const MAX_PER_CUSTOMER: i64 = 100;
/// The longest validity after a claim, in days.
pub const MAX_VALID_DAYS: i64 = 3_660;
/// The most channels or stores a template may name.
pub const MAX_PLACES: usize = 100;
/// The longest name, SKU, title, channel or store, in characters.
const MAX_TEXT: usize = 200;
/// The largest amount in fen (¥100,000,000).
pub const MAX_FEN: i64 = 10_000_000_000;

/// What a coupon is worth.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Benefit {
    /// A fixed amount off (立减).
    Fixed {
        /// Fen off.
        amount_fen: i64,
    },
    /// A percentage off, at most `cap_fen`.
    Percent {
        /// Percent off, 1 to 99 (20: 8 折).
        percent: i64,
        /// The most fen off (absent: no cap).
        #[serde(default)]
        cap_fen: Option<i64>,
    },
    /// An amount off once the order reaches a threshold (满减): 满 `threshold_fen` 减 `amount_fen`.
    Threshold {
        /// The order amount needed, in fen.
        threshold_fen: i64,
        /// Fen off.
        amount_fen: i64,
    },
    /// Shipping free (the order system waives it).
    FreeShipping,
    /// A gift with the order.
    Gift {
        /// The gift's SKU.
        sku: String,
        /// Its title.
        title: String,
    },
    /// Buy one, get one of the same SKU free.
    Bogo {
        /// The SKU.
        sku: String,
    },
}

impl Benefit {
    /// The least order amount the benefit itself needs (a threshold's), in fen.
    pub fn threshold_fen(&self) -> i64 {
        match self {
            Self::Threshold { threshold_fen, .. } => *threshold_fen,
            _ => 0,
        }
    }

    /// The fen off an order of `amount_fen` (0 for benefits that are not money off).
    pub fn discount_fen(&self, amount_fen: i64) -> i64 {
        match self {
            Self::Fixed { amount_fen: off } | Self::Threshold { amount_fen: off, .. } => (*off).min(amount_fen),
            Self::Percent { percent, cap_fen } => {
                // Rounded down to the fen; i128 so no amount overflows.
                let off = (amount_fen as i128 * *percent as i128 / 100) as i64;
                cap_fen.map_or(off, |cap| off.min(cap))
            }
            Self::FreeShipping | Self::Gift { .. } | Self::Bogo { .. } => 0,
        }
    }

    fn check(&self, errors: &mut Vec<FieldError>) {
        let fen = |field: &str, value: i64, errors: &mut Vec<FieldError>| {
            if !(1..=MAX_FEN).contains(&value) {
                errors.push(FieldError::new(field, format!("{value} is not an amount in fen from 1 to {MAX_FEN}")));
            }
        };
        match self {
            Self::Fixed { amount_fen } => fen("benefit.amount_fen", *amount_fen, errors),
            Self::Percent { percent, cap_fen } => {
                if !(1..=99).contains(percent) {
                    errors.push(FieldError::new("benefit.percent", format!("{percent} is not from 1 to 99")));
                }
                if let Some(cap) = cap_fen {
                    fen("benefit.cap_fen", *cap, errors);
                }
            }
            Self::Threshold { threshold_fen, amount_fen } => {
                fen("benefit.threshold_fen", *threshold_fen, errors);
                fen("benefit.amount_fen", *amount_fen, errors);
                if amount_fen >= threshold_fen {
                    errors.push(FieldError::new("benefit.amount_fen", "must be less than threshold_fen"));
                }
            }
            Self::FreeShipping => {}
            Self::Gift { sku, title } => {
                text_ok("benefit.sku", sku, errors);
                text_ok("benefit.title", title, errors);
            }
            Self::Bogo { sku } => text_ok("benefit.sku", sku, errors),
        }
    }
}

fn text_ok(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
        errors.push(FieldError::new(field, format!("must be 1 to {MAX_TEXT} characters without control characters")));
    }
}

/// When a coupon may be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Validity {
    /// Between two instants (RFC 3339 with an offset).
    Dates {
        /// From.
        starts_at: String,
        /// Until (excluded).
        ends_at: String,
    },
    /// For `days` days from its issue.
    DaysAfterIssue {
        /// Days, 1 to 3,660.
        days: i64,
    },
}

/// A coupon template to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Its name (shown to customers).
    pub name: String,
    /// What a coupon is worth.
    pub benefit: Benefit,
    /// The least order amount, in fen, at which it may be used (besides a threshold's own).
    #[serde(default)]
    pub min_spend_fen: Option<i64>,
    /// Coupons that may exist (absent: no limit).
    #[serde(default)]
    pub stock: Option<i64>,
    /// Coupons one customer may claim (1 to 100; 1 unless set). Bulk issues give one per customer
    /// per issue whatever this says.
    #[serde(default)]
    pub per_customer: Option<i64>,
    /// When coupons may be used.
    pub validity: Validity,
    /// Channels it may be used on (e.g. `mini_program`, `store`); empty: any.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Stores it may be used in (their codes); empty: any.
    #[serde(default)]
    pub stores: Vec<String>,
    /// Whether customers may claim it themselves (`POST /c/v1/coupon-templates/{id}/claim`).
    #[serde(default)]
    pub claimable: bool,
    /// Days before a coupon expires at which a `Coupon Expiring` event is recorded for it (a
    /// journey's trigger can remind the customer); absent: none.
    #[serde(default)]
    pub remind_days_before: Option<i64>,
}

/// A template as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCouponTemplate {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Benefit.
    pub benefit: Benefit,
    /// Least order amount.
    pub min_spend_fen: i64,
    /// Coupons that may exist, if limited.
    pub stock: Option<i64>,
    /// Coupons issued so far.
    pub issued: i64,
    /// Claims per customer.
    pub per_customer: i64,
    /// Valid from (dates validity).
    pub valid_from: Option<jiff::Timestamp>,
    /// Valid until (dates validity).
    pub valid_until: Option<jiff::Timestamp>,
    /// Valid days from issue (days validity).
    pub valid_days: Option<i64>,
    /// Channels.
    pub channels: Vec<String>,
    /// Stores.
    pub stores: Vec<String>,
    /// Claimable by customers.
    pub claimable: bool,
    /// Reminder days.
    pub remind_days: Option<i64>,
    /// Created.
    pub created_at: jiff::Timestamp,
}

impl StoredCouponTemplate {
    /// When a coupon issued at `at` is valid: (from, until).
    pub fn window(&self, at: jiff::Timestamp) -> (jiff::Timestamp, jiff::Timestamp) {
        match (self.valid_from, self.valid_until, self.valid_days) {
            (Some(from), Some(until), _) => (from, until),
            (_, _, Some(days)) => (at, at + jiff::SignedDuration::from_hours(24 * days)),
            _ => (at, at),
        }
    }

    /// When a `Coupon Expiring` event is due for a coupon valid until `until`.
    pub fn remind_at(&self, until: jiff::Timestamp) -> Option<jiff::Timestamp> {
        self.remind_days.map(|days| until - jiff::SignedDuration::from_hours(24 * days))
    }

    /// The least order amount a coupon of this template needs.
    pub fn least_order_fen(&self) -> i64 {
        self.min_spend_fen.max(self.benefit.threshold_fen())
    }
}

impl TemplateInput {
    /// Checks every field and returns the template to store.
    pub fn into_template(self, now: jiff::Timestamp) -> Result<StoredCouponTemplate, DomainError> {
        let mut errors = Vec::new();
        text_ok("name", &self.name, &mut errors);
        self.benefit.check(&mut errors);
        let min_spend_fen = self.min_spend_fen.unwrap_or(0);
        if !(0..=MAX_FEN).contains(&min_spend_fen) {
            errors.push(FieldError::new("min_spend_fen", format!("{min_spend_fen} is not from 0 to {MAX_FEN}")));
        }
        if let Some(stock) = self.stock
            && !(1..=MAX_STOCK).contains(&stock)
        {
            errors.push(FieldError::new("stock", format!("{stock} is not from 1 to {MAX_STOCK}")));
        }
        let per_customer = self.per_customer.unwrap_or(1);
        if !(1..=MAX_PER_CUSTOMER).contains(&per_customer) {
            errors.push(FieldError::new("per_customer", format!("{per_customer} is not from 1 to {MAX_PER_CUSTOMER}")));
        }
        let (mut valid_from, mut valid_until, mut valid_days) = (None, None, None);
        match &self.validity {
            Validity::Dates { starts_at, ends_at } => {
                let parse = |field: &str, value: &str, errors: &mut Vec<FieldError>| {
                    value.parse::<jiff::Timestamp>().map_err(|_| {
                        errors.push(FieldError::new(
                            field,
                            format!(
                                "\"{}\" is not an RFC 3339 instant with an offset",
                                value.chars().take(60).collect::<String>()
                            ),
                        ))
                    })
                };
                let (from, until) = (
                    parse("validity.starts_at", starts_at, &mut errors),
                    parse("validity.ends_at", ends_at, &mut errors),
                );
                if let (Ok(from), Ok(until)) = (from, until) {
                    if until <= from {
                        errors.push(FieldError::new("validity.ends_at", "must be after starts_at"));
                    } else if until <= now {
                        errors.push(FieldError::new("validity.ends_at", "is in the past"));
                    }
                    (valid_from, valid_until) = (Some(from), Some(until));
                }
            }
            Validity::DaysAfterIssue { days } => {
                if !(1..=MAX_VALID_DAYS).contains(days) {
                    errors.push(FieldError::new("validity.days", format!("{days} is not from 1 to {MAX_VALID_DAYS}")));
                }
                valid_days = Some(*days);
            }
        }
        let places = |field: &str, values: &[String], errors: &mut Vec<FieldError>| -> Vec<String> {
            if values.len() > MAX_PLACES {
                errors.push(FieldError::new(field, format!("names {} of at most {MAX_PLACES}", values.len())));
            }
            for (i, value) in values.iter().enumerate() {
                text_ok(&format!("{field}[{i}]"), value, errors);
            }
            let mut values: Vec<String> = values.iter().map(|v| v.trim().to_string()).collect();
            values.sort();
            values.dedup();
            values
        };
        let channels = places("channels", &self.channels, &mut errors);
        let stores = places("stores", &self.stores, &mut errors);
        if let Some(days) = self.remind_days_before
            && !(1..=365).contains(&days)
        {
            errors.push(FieldError::new("remind_days_before", format!("{days} is not from 1 to 365")));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        Ok(StoredCouponTemplate {
            id: 0,
            name: self.name.trim().to_string(),
            benefit: self.benefit,
            min_spend_fen,
            stock: self.stock,
            issued: 0,
            per_customer,
            valid_from,
            valid_until,
            valid_days,
            channels,
            stores,
            claimable: self.claimable,
            remind_days: self.remind_days_before,
            created_at: now,
        })
    }
}

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Bits of a code: a 40-bit id and a 30-bit MAC, 14 characters.
const ID_BITS: u32 = 40;
const MAC_BITS: u32 = 30;
const CODE_CHARS: usize = 14;

/// The code of coupon `id` in the workspace whose key is `key`: the id, permuted under the key so
/// that codes say nothing of how many coupons exist nor of their order, and a MAC.
pub fn code(id: i64, key: &DataKey) -> String {
    let value = ((permute(id as u64 & ((1 << ID_BITS) - 1), key, false) as u128) << MAC_BITS) | mac(id, key) as u128;
    (0..CODE_CHARS).rev().map(|i| ALPHABET[((value >> (5 * i)) & 31) as usize] as char).collect()
}

/// A keyed permutation of 40-bit numbers: four Feistel rounds over 20-bit halves, each round's
/// function a MAC under the workspace's key (`inverse` undoes it).
fn permute(value: u64, key: &DataKey, inverse: bool) -> u64 {
    const HALF: u32 = ID_BITS / 2;
    const MASK: u64 = (1 << HALF) - 1;
    let round = |r: u64, half: u64| -> u64 {
        let hex = key.blind_index("coupon code round", &format!("{r}:{half}"));
        u64::from_str_radix(&hex[..8], 16).unwrap_or(0) & MASK
    };
    let (mut left, mut right) = (value >> HALF, value & MASK);
    if inverse {
        for r in (0..4).rev() {
            (left, right) = (right ^ round(r, left), left);
        }
    } else {
        for r in 0..4 {
            (left, right) = (right, left ^ round(r, right));
        }
    }
    (left << HALF) | right
}

fn mac(id: i64, key: &DataKey) -> u64 {
    let hex = key.blind_index("coupon code", &id.to_string());
    u64::from_str_radix(&hex[..16], 16).unwrap_or(0) & ((1 << MAC_BITS) - 1)
}

/// The coupon id a code names, if the code is one of this workspace's (dashes, spaces and case
/// ignored; O, I and L read as 0, 1 and 1, as Crockford's base32 says).
pub fn id_of(code: &str, key: &DataKey) -> Option<i64> {
    if code.len() > 64 {
        return None;
    }
    let mut value: u128 = 0;
    let mut chars = 0;
    for c in code.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        };
        let digit = ALPHABET.iter().position(|a| *a as char == c)?;
        value = (value << 5) | digit as u128;
        chars += 1;
        if chars > CODE_CHARS {
            return None;
        }
    }
    if chars != CODE_CHARS {
        return None;
    }
    let id = permute((value >> MAC_BITS) as u64 & ((1 << ID_BITS) - 1), key, true) as i64;
    let given = (value & ((1 << MAC_BITS) - 1)) as u64;
    (value >> (ID_BITS + MAC_BITS) == 0 && id > 0 && subtle::ConstantTimeEq::ct_eq(&given, &mac(id, key)).into())
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use siyu_core::crypto::SecretKey;

    fn key(byte: u8) -> DataKey {
        DataKey::new(SecretKey::from_bytes(&[byte; 32]).expect("32 bytes"))
    }

    #[test]
    fn a_code_names_its_coupon_in_its_workspace_only() {
        for id in [1, 42, 1_000_000, (1 << 40) - 1] {
            let text = code(id, &key(1));
            assert_eq!(text.len(), 14, "{text}");
            assert_eq!(id_of(&text, &key(1)), Some(id));
            assert_eq!(id_of(&text.to_lowercase(), &key(1)), Some(id), "case is ignored");
            assert_eq!(id_of(&format!("{}-{}", &text[..7], &text[7..]), &key(1)), Some(id), "dashes are ignored");
            assert_eq!(id_of(&text, &key(2)), None, "another workspace's key");
        }
        let text = code(42, &key(1));
        let mut altered: Vec<char> = text.chars().collect();
        altered[13] = if altered[13] == 'Z' { 'Y' } else { 'Z' };
        assert_eq!(id_of(&altered.into_iter().collect::<String>(), &key(1)), None, "a changed character");
        for bad in ["", "0", "UUUUUUUUUUUUUU", &"0".repeat(15), &"9".repeat(100)] {
            assert_eq!(id_of(bad, &key(1)), None, "{bad}");
        }
    }

    #[test]
    fn codes_of_neighbouring_coupons_look_unrelated() {
        let (a, b) = (code(1, &key(1)), code(2, &key(1)));
        let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        assert!(common < 4, "{a} {b}");
        assert!(!a.starts_with("0000"), "{a}");
    }

    #[test]
    fn each_benefit_takes_off_what_it_says() {
        assert_eq!(Benefit::Fixed { amount_fen: 500 }.discount_fen(300), 300, "never more than the order");
        assert_eq!(Benefit::Percent { percent: 20, cap_fen: Some(1_000) }.discount_fen(3_999), 799);
        assert_eq!(Benefit::Percent { percent: 20, cap_fen: Some(1_000) }.discount_fen(100_000), 1_000);
        assert_eq!(Benefit::Percent { percent: 15, cap_fen: None }.discount_fen(MAX_FEN), MAX_FEN / 100 * 15);
        let threshold = Benefit::Threshold { threshold_fen: 10_000, amount_fen: 2_000 };
        assert_eq!((threshold.discount_fen(12_000), threshold.threshold_fen()), (2_000, 10_000));
        assert_eq!(Benefit::FreeShipping.discount_fen(5_000), 0);
    }

    #[test]
    fn a_template_is_checked_whole() {
        let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().expect("instant");
        let input: TemplateInput = serde_json::from_value(serde_json::json!({
            "name": " ",
            "benefit": {"kind": "threshold", "threshold_fen": 1000, "amount_fen": 1000},
            "stock": 0,
            "validity": {"kind": "dates", "starts_at": "2026-12-12T00:00:00+08:00", "ends_at": "2026-12-11T00:00:00+08:00"},
            "channels": ["store", ""],
            "remind_days_before": 0
        }))
        .expect("shaped");
        let Err(DomainError::Invalid(errors)) = input.into_template(now) else { panic!("refused") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "benefit.amount_fen", "stock", "validity.ends_at", "channels[1]", "remind_days_before"]
        );
        let input: TemplateInput = serde_json::from_value(serde_json::json!({
            "name": "新客 8 折",
            "benefit": {"kind": "percent", "percent": 20, "cap_fen": 3000},
            "validity": {"kind": "days_after_issue", "days": 7},
            "claimable": true
        }))
        .expect("shaped");
        let template = input.into_template(now).expect("valid");
        assert_eq!(template.window(now), (now, now + jiff::SignedDuration::from_hours(168)));
        assert_eq!((template.per_customer, template.stock), (1, None));
    }
}
