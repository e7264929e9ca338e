//! Lotteries (抽奖): a pool of prizes with weights and stock, a weight for "no prize", limits per
//! customer per day (the workspace's local day) and in all, extra chances earned elsewhere.
//!
//! Provably fair: when a lottery is created siyu draws a secret 32-byte seed and publishes its
//! SHA-256. A draw's outcome is a documented function of the seed, the lottery, the customer and
//! the customer's draw number ([`roll`], [`pick`]); once the lottery has closed the seed is shown,
//! and anyone can recompute every draw (`siyu lottery verify`, or the few lines of Python in
//! docs/CAMPAIGNS.md) and check that the published hash is the seed's. A prize whose stock is gone
//! when it comes up is recorded as `out_of_stock` (no prize), which the verifier checks too.

use crate::error::{DomainError, FieldError};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The most prizes a lottery may have.
pub const MAX_PRIZES: usize = 50;
/// The largest weight.
pub const MAX_WEIGHT: i64 = 1_000_000_000;
/// The largest stock of one prize.
pub const MAX_PRIZE_STOCK: i64 = 10_000_000;
/// The most draws a customer may be allowed a day or in all.
pub const MAX_DRAWS: i64 = 1_000;

/// A prize to offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prize {
    /// Its key in the lottery: 1 to 32 lower-case letters, digits, `-` or `_`.
    pub key: String,
    /// Its name, shown to customers.
    pub name: String,
    /// Its weight: the chance of a draw is weight over the sum of all weights (with no prize's).
    pub weight: i64,
    /// How many can be won.
    pub stock: i64,
    /// A coupon template a winner is given a coupon of, if any.
    #[serde(default)]
    pub coupon_template: Option<i64>,
}

/// A lottery to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotteryInput {
    /// Its name.
    pub name: String,
    /// Opens (RFC 3339 with an offset).
    pub starts_at: String,
    /// Closes; the seed is shown from then on.
    pub ends_at: String,
    /// The prizes, in the order the draw function walks them.
    pub prizes: Vec<Prize>,
    /// The weight of drawing nothing.
    #[serde(default)]
    pub no_prize_weight: i64,
    /// Draws a customer may make a day (the workspace's local day; 1 unless set).
    #[serde(default)]
    pub per_day: Option<i64>,
    /// Draws a customer may make in all, before extra chances (absent: only the daily limit).
    #[serde(default)]
    pub total: Option<i64>,
    /// The rules as shown to customers (plain text).
    #[serde(default)]
    pub rules: Option<String>,
}

/// A lottery as stored (its seed sealed apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLottery {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Opens.
    pub starts_at: jiff::Timestamp,
    /// Closes.
    pub ends_at: jiff::Timestamp,
    /// Prizes.
    pub prizes: Vec<Prize>,
    /// No prize's weight.
    pub no_prize_weight: i64,
    /// Draws a day.
    pub per_day: i64,
    /// Draws in all (before extra chances), if limited.
    pub total: Option<i64>,
    /// Rules text.
    pub rules: String,
    /// The seed, sealed under the workspace's data key.
    pub sealed_seed: Vec<u8>,
    /// SHA-256 of the seed, hex: published before the lottery opens.
    pub seed_hash: String,
    /// Created.
    pub created_at: jiff::Timestamp,
}

impl LotteryInput {
    /// Checks every field; returns the lottery to store (seed fields empty: the service fills them).
    pub fn into_lottery(self, now: jiff::Timestamp) -> Result<StoredLottery, DomainError> {
        let mut errors = Vec::new();
        let name = super::input::text("name", &self.name, 200, false, &mut errors);
        let window = super::input::window(&self.starts_at, &self.ends_at, now, None, &mut errors);
        if self.prizes.is_empty() || self.prizes.len() > MAX_PRIZES {
            errors.push(FieldError::new("prizes", format!("must hold 1 to {MAX_PRIZES} prizes")));
        }
        let mut keys = std::collections::HashSet::new();
        for (i, prize) in self.prizes.iter().enumerate() {
            let key_ok = (1..=32).contains(&prize.key.len())
                && prize.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !key_ok {
                errors.push(FieldError::new(format!("prizes[{i}].key"), "must be 1 to 32 of a-z, 0-9, - and _"));
            } else if !keys.insert(prize.key.as_str()) {
                errors.push(FieldError::new(format!("prizes[{i}].key"), format!("\"{}\" is used twice", prize.key)));
            }
            let name = prize.name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                errors.push(FieldError::new(format!("prizes[{i}].name"), "must be 1 to 200 characters"));
            }
            if !(1..=MAX_WEIGHT).contains(&prize.weight) {
                errors.push(FieldError::new(
                    format!("prizes[{i}].weight"),
                    format!("{} is not from 1 to {MAX_WEIGHT}", prize.weight),
                ));
            }
            if !(0..=MAX_PRIZE_STOCK).contains(&prize.stock) {
                errors.push(FieldError::new(
                    format!("prizes[{i}].stock"),
                    format!("{} is not from 0 to {MAX_PRIZE_STOCK}", prize.stock),
                ));
            }
        }
        if !(0..=MAX_WEIGHT).contains(&self.no_prize_weight) {
            errors.push(FieldError::new(
                "no_prize_weight",
                format!("{} is not from 0 to {MAX_WEIGHT}", self.no_prize_weight),
            ));
        }
        let per_day = self.per_day.unwrap_or(1);
        if !(1..=MAX_DRAWS).contains(&per_day) {
            errors.push(FieldError::new("per_day", format!("{per_day} is not from 1 to {MAX_DRAWS}")));
        }
        if let Some(total) = self.total
            && !(1..=MAX_DRAWS).contains(&total)
        {
            errors.push(FieldError::new("total", format!("{total} is not from 1 to {MAX_DRAWS}")));
        }
        let rules = self.rules.unwrap_or_default();
        if rules.chars().count() > 10_000 {
            errors.push(FieldError::new("rules", "is longer than 10,000 characters"));
        }
        match (errors.is_empty(), window) {
            (true, Some((starts_at, ends_at))) => Ok(StoredLottery {
                id: 0,
                name,
                starts_at,
                ends_at,
                prizes: self.prizes.into_iter().map(|p| Prize { name: p.name.trim().to_string(), ..p }).collect(),
                no_prize_weight: self.no_prize_weight,
                per_day,
                total: self.total,
                rules,
                sealed_seed: Vec::new(),
                seed_hash: String::new(),
                created_at: now,
            }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

/// The published commitment to a seed: its SHA-256, hex.
pub fn seed_hash(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// The roll of draw `n` (1 for a customer's first) by `customer` in `lottery`: the first 8 bytes,
/// big-endian, of HMAC-SHA-256 keyed by the seed over the text `"{lottery}:{customer}:{n}"`.
pub fn roll(seed: &[u8], lottery: i64, customer: i64, n: i64) -> u64 {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(seed).expect("HMAC takes any key length");
    mac.update(format!("{lottery}:{customer}:{n}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// The prize a roll picks: `roll` modulo the sum of the weights (the prizes' and no prize's) is a
/// point; the prizes are walked in their order, each covering as many points as its weight; a point
/// past them all is no prize (`None`).
pub fn pick(roll: u64, prizes: &[Prize], no_prize_weight: i64) -> Option<usize> {
    let total: u64 = prizes.iter().map(|p| p.weight as u64).sum::<u64>() + no_prize_weight as u64;
    if total == 0 {
        return None;
    }
    let mut point = roll % total;
    for (i, prize) in prizes.iter().enumerate() {
        if point < prize.weight as u64 {
            return Some(i);
        }
        point -= prize.weight as u64;
    }
    None
}

/// What a recorded draw says it gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DrawOutcome {
    /// The prize came up and was given.
    Won,
    /// No prize came up.
    None,
    /// A prize came up whose stock was gone: nothing was given.
    OutOfStock,
}

impl DrawOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Won => "won",
            Self::None => "none",
            Self::OutOfStock => "out_of_stock",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Won, Self::None, Self::OutOfStock].into_iter().find(|o| o.as_str() == text)
    }
}

/// One recorded draw, as an export lists it for verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DrawRecord {
    /// The draw's id (draws are verified in this order: stock runs out in it).
    pub id: i64,
    /// The customer.
    pub customer_id: i64,
    /// The customer's draw number (1 for their first).
    pub n: i64,
    /// The prize given or that came up out of stock.
    pub prize: Option<String>,
    /// What happened.
    pub outcome: DrawOutcome,
}

/// A lottery's published facts and draws: what `siyu lottery verify` reads.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LotteryAudit {
    /// The lottery's id.
    pub lottery_id: i64,
    /// The prizes in their order.
    pub prizes: Vec<Prize>,
    /// No prize's weight.
    pub no_prize_weight: i64,
    /// SHA-256 of the seed, published before the start.
    pub seed_hash: String,
    /// The seed, hex, once the lottery has closed.
    pub seed: Option<String>,
    /// Every draw, in order.
    pub draws: Vec<DrawRecord>,
}

/// Checks every draw of an audit against the seed; returns the problems found (none: all verified).
pub fn verify(audit: &LotteryAudit) -> Result<Vec<String>, String> {
    let seed_hex = audit.seed.as_deref().ok_or("the seed is not revealed yet: the lottery has not closed")?;
    let seed = hex::decode(seed_hex).map_err(|e| format!("the seed is not hexadecimal: {e}"))?;
    let mut problems = Vec::new();
    if seed_hash(&seed) != audit.seed_hash {
        problems.push(format!("the seed's SHA-256 is {}, not the published {}", seed_hash(&seed), audit.seed_hash));
    }
    let mut given = vec![0i64; audit.prizes.len()];
    let mut draws = audit.draws.clone();
    draws.sort_by_key(|d| d.id);
    for d in &draws {
        let picked = pick(roll(&seed, audit.lottery_id, d.customer_id, d.n), &audit.prizes, audit.no_prize_weight);
        let expected = match picked {
            None => (None, DrawOutcome::None),
            Some(i) if given[i] < audit.prizes[i].stock => {
                given[i] += 1;
                (Some(audit.prizes[i].key.clone()), DrawOutcome::Won)
            }
            Some(i) => (Some(audit.prizes[i].key.clone()), DrawOutcome::OutOfStock),
        };
        if (d.prize.clone(), d.outcome) != expected {
            problems.push(format!(
                "draw {} (customer {}, number {}): recorded {:?} {:?}, the seed gives {:?} {:?}",
                d.id, d.customer_id, d.n, d.prize, d.outcome, expected.0, expected.1
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prizes() -> Vec<Prize> {
        vec![
            Prize { key: "tea".into(), name: "一盒茶".into(), weight: 1, stock: 2, coupon_template: None },
            Prize { key: "cup".into(), name: "杯子".into(), weight: 9, stock: 100, coupon_template: None },
        ]
    }

    #[test]
    fn the_roll_is_the_documented_hmac() {
        // The same vector docs/CAMPAIGNS.md's Python gives.
        let seed = [7u8; 32];
        assert_eq!(roll(&seed, 1, 42, 1), 11_081_324_452_031_619_509);
        assert_eq!(seed_hash(&seed), "4bb06f8e4e3a7715d201d573d0aa423762e55dabd61a2c02278fa56cc6d294e0");
        assert_ne!(roll(&seed, 1, 42, 1), roll(&seed, 1, 42, 2));
        assert_eq!(pick(0, &prizes(), 90), Some(0));
        assert_eq!(pick(1, &prizes(), 90), Some(1));
        assert_eq!(pick(10, &prizes(), 90), None);
        assert_eq!(pick(100, &prizes(), 90), Some(0), "modulo the total weight");
        assert_eq!(seed_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn weights_give_the_odds() {
        let seed = [3u8; 32];
        let mut counts = [0usize; 3];
        for customer in 0..20_000 {
            counts[pick(roll(&seed, 9, customer, 1), &prizes(), 90).unwrap_or(2)] += 1;
        }
        // 1%, 9%, 90% of 20,000, within a generous margin.
        assert!((100..=300).contains(&counts[0]), "{counts:?}");
        assert!((1_500..=2_100).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn the_verifier_finds_any_altered_draw() {
        let seed = [5u8; 32];
        let mut draws = Vec::new();
        let mut given = [0i64; 2];
        for (id, customer) in (1..400).enumerate() {
            let picked = pick(roll(&seed, 3, customer, 1), &prizes(), 90);
            let (prize, outcome) = match picked {
                None => (None, DrawOutcome::None),
                Some(i) if given[i] < prizes()[i].stock => {
                    given[i] += 1;
                    (Some(prizes()[i].key.clone()), DrawOutcome::Won)
                }
                Some(i) => (Some(prizes()[i].key.clone()), DrawOutcome::OutOfStock),
            };
            draws.push(DrawRecord { id: id as i64 + 1, customer_id: customer, n: 1, prize, outcome });
        }
        let mut audit = LotteryAudit {
            lottery_id: 3,
            prizes: prizes(),
            no_prize_weight: 90,
            seed_hash: seed_hash(&seed),
            seed: Some(hex::encode(seed)),
            draws,
        };
        assert_eq!(verify(&audit), Ok(vec![]));
        let lost = audit.draws.iter().position(|d| d.outcome == DrawOutcome::None).expect("a blank");
        audit.draws[lost].outcome = DrawOutcome::Won;
        audit.draws[lost].prize = Some("tea".into());
        assert_eq!(verify(&audit).expect("revealed").len(), 1);
        audit.seed = Some(hex::encode([6u8; 32]));
        assert!(verify(&audit).expect("revealed")[0].contains("published"));
        audit.seed = None;
        assert!(verify(&audit).is_err());
    }
}
