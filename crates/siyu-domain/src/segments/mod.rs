//! Segments (audiences): the definition language ([`language`]), its checks (errors that name the
//! field, warnings that list unknown names), and its evaluation into a compressed bitmap of
//! customers over the workspace's profile facts ([`ProfileFacts`]), event index and models.

pub mod facts;
pub mod language;

pub use facts::{ProfileFacts, TraitColumn};

use crate::consent::{Channel, Purpose};
use crate::error::FieldError;
use crate::events::EventIndex;
use crate::events::filters::compile;
use crate::models::Named;
use crate::profiles::IdentityKind;
use crate::services::{ComputedModels, CustomerLtv};
use language::{Condition, EventCondition, MAX_DEPTH, ModelField, Op, Threshold, is_date, is_duration};
use roaring::RoaringTreemap;
use serde_json::Value;
use siyu_analytics::cohort::{self, Cmp, EventTest};
use siyu_analytics::models::{CustomerModel, RfmClass, Stage, Tier};
use std::collections::{BTreeSet, HashMap};

/// Traits sealed at rest: segments cannot test them (their values are never in memory in clear).
pub const SEALED_TRAITS: [&str; 3] = ["name", "birthday", "address"];

/// A stored segment.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSegment {
    /// Key, unique in the workspace (lower-case letters, digits, `-` and `_`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// The definition's JSON tree.
    pub definition: String,
    /// Created.
    pub created_at: jiff::Timestamp,
    /// Last changed.
    pub updated_at: jiff::Timestamp,
}

/// Persists segment definitions.
#[async_trait::async_trait]
pub trait SegmentStore: Send + Sync {
    /// Inserts a segment; `Conflict` if the key is taken.
    async fn insert(&self, ws: siyu_core::WorkspaceId, segment: &StoredSegment) -> Result<(), siyu_core::StoreError>;
    /// Replaces a segment's name and definition; `NotFound` if absent.
    async fn update(&self, ws: siyu_core::WorkspaceId, segment: &StoredSegment) -> Result<(), siyu_core::StoreError>;
    /// Returns every segment of the workspace, by key.
    async fn list(&self, ws: siyu_core::WorkspaceId) -> Result<Vec<StoredSegment>, siyu_core::StoreError>;
    /// Deletes a segment (with its saved members and sizes); `NotFound` if absent.
    async fn delete(&self, ws: siyu_core::WorkspaceId, key: &str) -> Result<(), siyu_core::StoreError>;
    /// Returns the workspaces that have at least one segment.
    async fn workspaces(&self) -> Result<Vec<siyu_core::WorkspaceId>, siyu_core::StoreError>;
    /// Saves a segment's members (a serialized bitmap), if the segment still exists.
    async fn save_members(
        &self,
        ws: siyu_core::WorkspaceId,
        key: &str,
        members: &[u8],
        now: jiff::Timestamp,
    ) -> Result<(), siyu_core::StoreError>;
    /// Returns every segment's saved members, by key, with when they were saved.
    async fn members(
        &self,
        ws: siyu_core::WorkspaceId,
    ) -> Result<Vec<(String, Vec<u8>, jiff::Timestamp)>, siyu_core::StoreError>;
    /// Records a segment's size on a day (`YYYY-MM-DD`, replacing that day's earlier record), if
    /// the segment still exists.
    async fn record_size(
        &self,
        ws: siyu_core::WorkspaceId,
        key: &str,
        day: &str,
        size: u64,
    ) -> Result<(), siyu_core::StoreError>;
    /// Returns a segment's daily sizes, oldest first.
    async fn sizes(&self, ws: siyu_core::WorkspaceId, key: &str) -> Result<Vec<(String, u64)>, siyu_core::StoreError>;
}

/// Reads the definitions a segment refers to (by key).
pub trait SegmentLookup: Sync {
    /// Returns the definition of the segment with this key, if it exists.
    fn definition(&self, key: &str) -> Option<Condition>;
}

impl SegmentLookup for HashMap<String, Condition> {
    fn definition(&self, key: &str) -> Option<Condition> {
        self.get(key).cloned()
    }
}

/// The outcome of checking a definition: errors refuse it; warnings do not.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Checked {
    /// Why the definition cannot be evaluated (each names its place in the tree).
    pub errors: Vec<FieldError>,
    /// Unknown names: the definition is evaluated, but these match nobody.
    pub warnings: Vec<String>,
    /// Whether the definition tests models (RFM, lifecycle, …).
    #[serde(skip)]
    pub uses_models: bool,
    /// Whether it tests LTV or churn risk.
    #[serde(skip)]
    pub uses_ltv: bool,
}

/// What a check knows of the workspace.
pub struct Known<'a> {
    /// Event names and properties.
    pub events: &'a EventIndex,
    /// Profile facts (tags and trait keys in use).
    pub facts: &'a ProfileFacts,
    /// Other segments.
    pub segments: &'a dyn SegmentLookup,
}

/// How many conditions a definition may hold with the segments it refers to written out in full
/// (each reference to a segment counts its conditions again): references can multiply a small
/// definition's work, and evaluation visits every one of them.
pub const MAX_CONDITIONS: usize = 100_000;

/// Checks a definition. `key` is the segment's own key (for cycles), if it has one. A definition
/// that, with the segments it refers to followed (each `segment(…)` a level of its own), nests
/// deeper than [`MAX_DEPTH`] or holds more than [`MAX_CONDITIONS`] conditions is refused.
pub fn check(condition: &Condition, key: Option<&str>, known: &Known<'_>) -> Checked {
    let mut checked = Checked::default();
    let mut unknown = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut walked =
        Walk { stack: key.map(str::to_string).into_iter().collect(), depth: 0, conditions: 0, too_deep: false };
    walk(condition, "definition", known, &mut checked, &mut unknown, &mut walked);
    let (events, tags, traits, properties) = unknown;
    for (what, names) in [("events", events), ("tags", tags), ("traits", traits), ("event properties", properties)] {
        if !names.is_empty() {
            let list: Vec<String> = names.into_iter().map(|n| format!("\"{n}\"")).collect();
            checked.warnings.push(format!("unknown {what} (nobody matches them yet): {}", list.join(", ")));
        }
    }
    checked
}

type Unknown = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>, BTreeSet<String>);

/// Where a check's walk is: the segments it followed to get there, its level, and the conditions
/// it has visited so far.
struct Walk {
    stack: Vec<String>,
    depth: usize,
    conditions: usize,
    /// Whether a level past [`MAX_DEPTH`] was reported (once is enough).
    too_deep: bool,
}

fn walk(c: &Condition, at: &str, known: &Known<'_>, out: &mut Checked, unknown: &mut Unknown, walked: &mut Walk) {
    walked.depth += 1;
    walked.conditions += 1;
    if walked.depth > MAX_DEPTH {
        if !walked.too_deep {
            walked.too_deep = true;
            out.errors.push(FieldError::new(
                at,
                format!("the definition nests deeper than {MAX_DEPTH} levels (counting the segments it refers to)"),
            ));
        }
    } else if walked.conditions == MAX_CONDITIONS + 1 {
        out.errors.push(FieldError::new(
            at,
            format!("the definition holds more than {MAX_CONDITIONS} conditions (counting the segments it refers to)"),
        ));
    } else if walked.conditions <= MAX_CONDITIONS {
        walk_level(c, at, known, out, unknown, walked);
    }
    walked.depth -= 1;
}

fn walk_level(c: &Condition, at: &str, known: &Known<'_>, out: &mut Checked, unknown: &mut Unknown, walked: &mut Walk) {
    let mut error = |field: String, reason: String| out.errors.push(FieldError::new(field, reason));
    match c {
        Condition::And(items) | Condition::Or(items) => {
            let word = if matches!(c, Condition::And(_)) { "and" } else { "or" };
            if items.is_empty() {
                error(format!("{at}.{word}"), "needs at least one condition".into());
            }
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{at}.{word}[{i}]"), known, out, unknown, walked);
            }
        }
        Condition::Not(inner) => walk(inner, &format!("{at}.not"), known, out, unknown, walked),
        Condition::Tag(name) => {
            if !known.facts.tags.contains_key(name) {
                unknown.1.insert(name.clone());
            }
        }
        Condition::HasIdentity(kind) => {
            if IdentityKind::parse(kind).is_none() {
                error(format!("{at}.has_identity"), format!("unknown identity type \"{kind}\""));
            }
        }
        Condition::Consent { purpose, channel } => {
            if Purpose::parse(purpose).is_none() {
                error(format!("{at}.consent.purpose"), format!("unknown purpose \"{purpose}\""));
            }
            if Channel::parse(channel).is_none() {
                error(format!("{at}.consent.channel"), format!("unknown channel \"{channel}\""));
            }
        }
        Condition::Segment(key) => {
            if let Some(start) = walked.stack.iter().position(|k| k == key) {
                let mut cycle: Vec<String> = walked.stack[start..].to_vec();
                cycle.push(key.clone());
                error(
                    format!("{at}.segment"),
                    format!("segments refer to each other in a cycle: {}", cycle.join(" → ")),
                );
            } else {
                match known.segments.definition(key) {
                    None => error(format!("{at}.segment"), format!("unknown segment \"{key}\"")),
                    Some(definition) => {
                        walked.stack.push(key.clone());
                        let mut inner = Checked::default();
                        walk(&definition, &format!("{at}.segment({key})"), known, &mut inner, unknown, walked);
                        walked.stack.pop();
                        out.errors.extend(inner.errors);
                        out.uses_models |= inner.uses_models;
                        out.uses_ltv |= inner.uses_ltv;
                    }
                }
            }
        }
        Condition::Trait { name, op, value } => {
            let at = format!("{at}.trait");
            if SEALED_TRAITS.contains(&name.as_str()) {
                error(
                    format!("{at}.name"),
                    format!("\"{name}\" is personal data sealed at rest; segments cannot test it"),
                );
            } else if !known.facts.traits.contains_key(name) {
                unknown.2.insert(name.clone());
            }
            if let Err(reason) = value_fits(*op, value.as_ref()) {
                error(format!("{at}.value"), reason);
            }
        }
        Condition::Model { field, op, value } => {
            out.uses_models = true;
            out.uses_ltv |= matches!(field, ModelField::Ltv | ModelField::ChurnRisk);
            if let Err(reason) = model_value_fits(*field, *op, value.as_ref()) {
                error(format!("{at}.model.value"), reason);
            }
        }
        Condition::Did(e) => {
            let at = format!("{at}.did");
            if known.events.names.id(&e.event).is_none() {
                unknown.0.insert(e.event.clone());
            }
            if let Some(w) = &e.within
                && !is_duration(w)
            {
                error(format!("{at}.within"), format!("\"{w}\" is not a duration like 30d, 12h or 2w"));
            }
            if let Some([from, to]) = &e.between {
                match (instant(from), instant(to)) {
                    (Some(a), Some(b)) if a < b => {}
                    (Some(_), Some(_)) => error(format!("{at}.between"), format!("\"{from}\" is not before \"{to}\"")),
                    _ => {
                        error(format!("{at}.between"), "expects two dates like 2026-01-31 or RFC 3339 instants".into())
                    }
                }
            }
            if e.within.is_some() && e.between.is_some() {
                error(format!("{at}.between"), "give within or between, not both".into());
            }
            for (part, t) in [("count", &e.count), ("sum", &e.sum), ("avg", &e.avg)] {
                if let Some(t) = t {
                    if cmp(t).is_none() {
                        error(format!("{at}.{part}.op"), "must be one of = != > >= < <=".into());
                    }
                    match (&t.property, part) {
                        (None, "sum" | "avg") => error(format!("{at}.{part}.property"), "is required".into()),
                        (Some(_), "count") => error(format!("{at}.count.property"), "a count takes no property".into()),
                        (Some(p), _) => {
                            let table = known.events.props.read().expect("property table lock is never poisoned");
                            if table.key_id(p).is_none() {
                                unknown.3.insert(p.clone());
                            }
                        }
                        _ => {}
                    }
                }
            }
            for (part, t) in [("first", &e.first), ("last", &e.last)] {
                if let Some(t) = t
                    && let Err(reason) = value_fits(t.op, Some(&Value::String(t.value.clone())))
                    && t.op.is_time_op()
                {
                    error(format!("{at}.{part}.value"), reason);
                } else if let Some(t) = t
                    && !t.op.is_time_op()
                {
                    error(format!("{at}.{part}.op"), "must be within, before or after".into());
                }
            }
            let table = known.events.props.read().expect("property table lock is never poisoned");
            for filter in &e.filters {
                if table.key_id(&filter.property).is_none() {
                    unknown.3.insert(filter.property.clone());
                }
            }
        }
    }
}

impl Op {
    fn is_time_op(self) -> bool {
        matches!(self, Op::Within | Op::Before | Op::After)
    }
}

fn instant(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_microsecond());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_microsecond())
}

fn duration_us(text: &str) -> Option<i64> {
    if !is_duration(text) {
        return None;
    }
    let n: i64 = text[..text.len() - 1].parse().ok()?;
    let unit = match text.as_bytes()[text.len() - 1] {
        b'w' => 604_800,
        b'd' => 86_400,
        b'h' => 3_600,
        b'm' => 60,
        _ => 1,
    };
    Some(n.saturating_mul(unit).saturating_mul(1_000_000))
}

fn cmp(t: &Threshold) -> Option<Cmp> {
    number_cmp(t.op, t.value)
}

fn number_cmp(op: Op, v: f64) -> Option<Cmp> {
    Some(match op {
        Op::Eq => Cmp::Eq(v),
        Op::Ne => Cmp::Ne(v),
        Op::Gt => Cmp::Gt(v),
        Op::Gte => Cmp::Gte(v),
        Op::Lt => Cmp::Lt(v),
        Op::Lte => Cmp::Lte(v),
        _ => return None,
    })
}

fn value_fits(op: Op, value: Option<&Value>) -> Result<(), String> {
    match (op, value) {
        (Op::Exists | Op::NotExists, None) => Ok(()),
        (Op::Exists | Op::NotExists, Some(_)) => Err(format!("{op:?} takes no value").to_lowercase()),
        (Op::In | Op::NotIn, Some(Value::Array(items))) if !items.is_empty() && items.iter().all(is_scalar) => Ok(()),
        (Op::In | Op::NotIn, _) => Err("expects a non-empty list of texts, numbers or true/false".into()),
        (Op::Within, Some(Value::String(s))) if is_duration(s) => Ok(()),
        (Op::Within, _) => Err("expects a duration like 30d".into()),
        (Op::Before | Op::After, Some(Value::String(s))) if is_duration(s) || is_date(s) => Ok(()),
        (Op::Before | Op::After, _) => Err("expects a duration like 30d or a date like 2026-01-31".into()),
        (Op::Contains | Op::NotContains, Some(Value::String(_))) => Ok(()),
        (Op::Contains | Op::NotContains, _) => Err("expects a text".into()),
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, Some(Value::Number(_))) => Ok(()),
        (Op::Gt | Op::Gte | Op::Lt | Op::Lte, _) => Err("expects a number".into()),
        (Op::Eq | Op::Ne, Some(Value::String(_) | Value::Number(_) | Value::Bool(_))) => Ok(()),
        (Op::Eq | Op::Ne, _) => Err("expects a text, a number or true/false".into()),
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn model_value_fits(field: ModelField, op: Op, value: Option<&Value>) -> Result<(), String> {
    let keys: Option<Vec<&str>> = match field {
        ModelField::RfmClass => Some(RfmClass::ALL.iter().map(|c| c.key()).collect()),
        ModelField::Lifecycle => Some(Stage::ALL.iter().map(|c| c.key()).collect()),
        ModelField::Tier => Some(Tier::ALL.iter().map(|c| c.key()).collect()),
        _ => None,
    };
    if let Some(keys) = keys {
        let texts: Vec<&Value> = match (op, value) {
            (Op::Eq | Op::Ne, Some(v)) => vec![v],
            (Op::In | Op::NotIn, Some(Value::Array(items))) if !items.is_empty() => items.iter().collect(),
            _ => return Err(format!("{} takes = != in or not in with one of: {}", field.name(), keys.join(", "))),
        };
        for v in texts {
            if !v.as_str().is_some_and(|s| keys.contains(&s)) {
                return Err(format!("{v} is not one of: {}", keys.join(", ")));
            }
        }
        return Ok(());
    }
    if field == ModelField::Recall {
        return match (op, value) {
            (Op::Eq | Op::Ne, Some(Value::Bool(_))) => Ok(()),
            _ => Err("recall takes = true or = false".into()),
        };
    }
    let range = match field {
        ModelField::RfmR | ModelField::RfmF | ModelField::RfmM => 1.0..=5.0,
        ModelField::Health => 0.0..=100.0,
        ModelField::ChurnRisk => 0.0..=1.0,
        _ => 0.0..=f64::MAX,
    };
    match (number_cmp(op, 0.0), value.and_then(Value::as_f64)) {
        (Some(_), Some(v)) if range.contains(&v) => Ok(()),
        _ => Err(format!(
            "{} takes = != > >= < <= with a number from {} to {}",
            field.name(),
            range.start(),
            range.end()
        )),
    }
}

/// What an evaluation reads.
pub struct Evaluation<'a> {
    /// Profile facts.
    pub facts: &'a ProfileFacts,
    /// The event index.
    pub events: &'a EventIndex,
    /// The computed models (needed when the definition tests them).
    pub models: Option<&'a ComputedModels>,
    /// Other segments' definitions.
    pub segments: &'a dyn SegmentLookup,
    /// The instant relative windows end at, µs.
    pub now_us: i64,
}

impl Evaluation<'_> {
    /// Evaluates a checked definition. Members are live customers: a deleted or merged-away
    /// profile's events (kept in the log) never make it a member.
    pub fn members(&self, condition: &Condition) -> RoaringTreemap {
        let universe = &self.facts.all;
        let mut budget = Budget { depth: 0, conditions: 0 };
        self.eval(condition, universe, &mut budget) & universe
    }

    fn eval(&self, c: &Condition, universe: &RoaringTreemap, budget: &mut Budget) -> RoaringTreemap {
        if !budget.enter() {
            budget.depth -= 1;
            return RoaringTreemap::new();
        }
        let set = self.eval_level(c, universe, budget);
        budget.depth -= 1;
        set
    }

    fn eval_level(&self, c: &Condition, universe: &RoaringTreemap, budget: &mut Budget) -> RoaringTreemap {
        match c {
            Condition::And(items) => {
                let mut items = items.iter();
                let Some(first) = items.next() else { return RoaringTreemap::new() };
                let mut set = self.eval(first, universe, budget);
                for item in items {
                    if set.is_empty() {
                        break;
                    }
                    set &= self.eval(item, universe, budget);
                }
                set
            }
            Condition::Or(items) => {
                items.iter().fold(RoaringTreemap::new(), |acc, item| acc | self.eval(item, universe, budget))
            }
            Condition::Not(inner) => universe - self.eval(inner, universe, budget),
            Condition::Tag(name) => self.facts.tags.get(name).cloned().unwrap_or_default(),
            Condition::HasIdentity(kind) => {
                IdentityKind::parse(kind).and_then(|k| self.facts.identities.get(&k).cloned()).unwrap_or_default()
            }
            Condition::Consent { purpose, channel } => match (Purpose::parse(purpose), Channel::parse(channel)) {
                (Some(p), Some(ch)) => self.facts.consent.get(&(p, ch)).cloned().unwrap_or_default(),
                _ => RoaringTreemap::new(),
            },
            Condition::Segment(key) => {
                self.segments.definition(key).map(|d| self.eval(&d, universe, budget)).unwrap_or_default()
            }
            Condition::Trait { name, op, value } => self.eval_trait(name, *op, value.as_ref(), universe),
            Condition::Model { field, op, value } => self.eval_model(*field, *op, value.as_ref()),
            Condition::Did(e) => self.eval_did(e, universe),
        }
    }

    /// Whether one customer passes a leaf test (tag, identity, consent, trait, model).
    pub fn leaf_holds(&self, leaf: &Condition, customer: i64) -> bool {
        let c = customer as u64;
        match leaf {
            Condition::Tag(name) => self.facts.tags.get(name).is_some_and(|s| s.contains(c)),
            Condition::HasIdentity(kind) => {
                IdentityKind::parse(kind).and_then(|k| self.facts.identities.get(&k)).is_some_and(|s| s.contains(c))
            }
            Condition::Consent { purpose, channel } => match (Purpose::parse(purpose), Channel::parse(channel)) {
                (Some(p), Some(ch)) => self.facts.consent.get(&(p, ch)).is_some_and(|s| s.contains(c)),
                _ => false,
            },
            Condition::Trait { name, op, value } => {
                let found = self.facts.trait_column(name).and_then(|column| column.get(c));
                let (positive, negated) = positive(*op);
                let hit = found.is_some_and(|v| trait_test(positive, value.as_ref(), self.now_us)(v));
                hit != negated
            }
            Condition::Model { field, op, value } => {
                let Some(models) = self.models else { return false };
                if matches!(field, ModelField::Ltv | ModelField::ChurnRisk) {
                    let Some(fit) = models.ltv() else { return false };
                    return fit
                        .customers
                        .binary_search_by_key(&customer, |l| l.customer)
                        .is_ok_and(|i| ltv_holds(*field, *op, value.as_ref(), &fit.customers[i]));
                }
                models.customer(customer).is_some_and(|m| model_holds(*field, *op, value.as_ref(), m))
            }
            _ => false,
        }
    }

    fn eval_trait(&self, name: &str, op: Op, value: Option<&Value>, universe: &RoaringTreemap) -> RoaringTreemap {
        let (positive, negated) = positive(op);
        let test = trait_test(positive, value, self.now_us);
        let set: RoaringTreemap = self
            .facts
            .trait_column(name)
            .into_iter()
            .flat_map(|column| column.entries())
            .filter(|(_, v)| test(v))
            .map(|(c, _)| *c)
            .collect();
        if negated { universe - set } else { set }
    }

    fn eval_model(&self, field: ModelField, op: Op, value: Option<&Value>) -> RoaringTreemap {
        let Some(models) = self.models else { return RoaringTreemap::new() };
        if matches!(field, ModelField::Ltv | ModelField::ChurnRisk) {
            let Some(fit) = models.ltv() else { return RoaringTreemap::new() };
            return fit
                .customers
                .iter()
                .filter(|l| ltv_holds(field, op, value, l))
                .map(|l| l.customer as u64)
                .collect();
        }
        models.models.customers.iter().filter(|c| model_holds(field, op, value, c)).map(|c| c.customer as u64).collect()
    }

    fn eval_did(&self, e: &EventCondition, universe: &RoaringTreemap) -> RoaringTreemap {
        let mut did = DidNode::compile(e, self.events);
        did.prepare(self.events, self.now_us);
        let zero = zero_count_holds(e);
        let Some(test) = &did.test else {
            // Nobody did an unknown event: only "count = 0"-like thresholds hold, for everyone.
            return if zero { universe.clone() } else { RoaringTreemap::new() };
        };
        let mut set: RoaringTreemap =
            cohort::customers(&self.events.columns, test).into_iter().map(|c| c as u64).collect();
        if zero {
            // Customers without any event did it zero times too.
            let mut with_events = RoaringTreemap::new();
            for unit in 0..self.events.columns.customer_count() {
                with_events.insert(self.events.columns.customer_id(unit) as u64);
            }
            set |= universe - &with_events;
        }
        set
    }
}

/// Returns why a definition, with the segments it refers to written out, passes [`MAX_DEPTH`] or
/// [`MAX_CONDITIONS`] (what [`check`] refuses), or `None` when it stays within both.
pub fn exceeds_limits(condition: &Condition, segments: &dyn SegmentLookup) -> Option<String> {
    fn visit(c: &Condition, segments: &dyn SegmentLookup, budget: &mut Budget) -> bool {
        let fits = budget.enter()
            && match c {
                Condition::And(items) | Condition::Or(items) => items.iter().all(|item| visit(item, segments, budget)),
                Condition::Not(inner) => visit(inner, segments, budget),
                Condition::Segment(key) => segments.definition(key).is_none_or(|d| visit(&d, segments, budget)),
                _ => true,
            };
        budget.depth -= 1;
        fits
    }
    let mut budget = Budget { depth: 0, conditions: 0 };
    if visit(condition, segments, &mut budget) {
        None
    } else if budget.conditions > MAX_CONDITIONS {
        Some(format!("hold more than {MAX_CONDITIONS} conditions"))
    } else {
        Some(format!("nest deeper than {MAX_DEPTH} levels"))
    }
}

/// What an evaluation or a compilation has spent: its level and the conditions it visited. A checked
/// definition stays within [`MAX_DEPTH`] and [`MAX_CONDITIONS`] with its references followed; an
/// unchecked one (a referenced segment changed since) could go further, and what lies beyond
/// matches nobody.
struct Budget {
    depth: usize,
    conditions: usize,
}

impl Budget {
    /// Goes one level down; whether the limits allow it (either way, leave with `depth -= 1`).
    fn enter(&mut self) -> bool {
        self.depth += 1;
        self.conditions += 1;
        self.depth <= MAX_DEPTH && self.conditions <= MAX_CONDITIONS
    }
}

/// Whether an event condition holds for a customer with no matching event: a count threshold
/// that zero meets, and nothing else asked.
fn zero_count_holds(e: &EventCondition) -> bool {
    e.count.as_ref().and_then(cmp).is_some_and(|c| c.holds(0.0))
        && e.sum.is_none()
        && e.avg.is_none()
        && e.first.is_none()
        && e.last.is_none()
}

/// Whether a customer's model passes a test (LTV and churn risk: see [`ltv_holds`]).
pub fn model_holds(field: ModelField, op: Op, value: Option<&Value>, c: &CustomerModel) -> bool {
    let keys: Vec<&str> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    };
    let key_test = |key: Option<&str>| {
        let hit = key.is_some_and(|k| keys.contains(&k));
        if matches!(op, Op::Eq | Op::In) { hit } else { !hit }
    };
    let number = value.and_then(Value::as_f64).and_then(|v| number_cmp(op, v));
    match field {
        ModelField::RfmClass => key_test(c.class.map(|k| k.key())),
        ModelField::Lifecycle => key_test(Some(c.stage.key())),
        ModelField::Tier => key_test(c.tier.map(|t| t.key())),
        ModelField::RfmR | ModelField::RfmF | ModelField::RfmM => {
            let d = match field {
                ModelField::RfmR => 0,
                ModelField::RfmF => 1,
                _ => 2,
            };
            c.orders > 0 && number.is_some_and(|n| n.holds(f64::from(c.rfm[d])))
        }
        ModelField::Health => number.is_some_and(|n| n.holds(f64::from(c.health))),
        ModelField::Recall => {
            value.and_then(Value::as_bool).is_some_and(|f| (c.recall_since_us.is_some() == f) == (op == Op::Eq))
        }
        ModelField::Ltv | ModelField::ChurnRisk => false,
    }
}

/// Whether a buyer's LTV prediction passes an `ltv` or `churn_risk` test.
pub fn ltv_holds(field: ModelField, op: Op, value: Option<&Value>, l: &CustomerLtv) -> bool {
    let v = if field == ModelField::Ltv { l.expected_value } else { 1.0 - l.p_alive };
    value.and_then(Value::as_f64).and_then(|t| number_cmp(op, t)).is_some_and(|c| c.holds(v))
}

/// A definition compiled for evaluating one customer at a time (the incremental upkeep): segments
/// it refers to are inlined, and its event tests resolved against an index's names and properties.
#[derive(Clone, Debug)]
pub enum Node {
    /// All hold.
    And(Vec<Node>),
    /// One holds.
    Or(Vec<Node>),
    /// Does not hold.
    Not(Box<Node>),
    /// A test on profile facts or models.
    Leaf(Condition),
    /// An event test.
    Did(Box<DidNode>),
}

/// A compiled event condition.
#[derive(Clone, Debug)]
pub struct DidNode {
    condition: EventCondition,
    /// `None`: the index has never seen the event.
    test: Option<EventTest>,
    /// `None`: a filter names a property no event has (it matches nothing).
    filters: Option<Vec<siyu_analytics::props::Filter>>,
    sum_key: Option<u16>,
    avg_key: Option<u16>,
}

impl Node {
    /// Compiles a checked definition (a checked one never nests deeper than [`MAX_DEPTH`] levels
    /// with its references followed; should an unchecked one, what lies deeper matches nobody).
    pub fn compile(condition: &Condition, segments: &dyn SegmentLookup, events: &EventIndex) -> Node {
        Node::compile_within(condition, segments, events, &mut Budget { depth: 0, conditions: 0 })
    }

    fn compile_within(
        condition: &Condition,
        segments: &dyn SegmentLookup,
        events: &EventIndex,
        budget: &mut Budget,
    ) -> Node {
        if !budget.enter() {
            budget.depth -= 1;
            return Node::Or(Vec::new());
        }
        let mut compile = |c: &Condition| Node::compile_within(c, segments, events, budget);
        let node = match condition {
            Condition::And(items) => Node::And(items.iter().map(compile).collect()),
            Condition::Or(items) => Node::Or(items.iter().map(compile).collect()),
            Condition::Not(inner) => Node::Not(Box::new(compile(inner))),
            Condition::Segment(key) => match segments.definition(key) {
                Some(definition) => compile(&definition),
                None => Node::Or(Vec::new()),
            },
            Condition::Did(e) => Node::Did(Box::new(DidNode::compile(e, events))),
            other => Node::Leaf(other.clone()),
        };
        budget.depth -= 1;
        node
    }

    /// Whether the definition tests events (so that new events can change its members).
    pub fn uses_events(&self) -> bool {
        match self {
            Node::And(items) | Node::Or(items) => items.iter().any(Node::uses_events),
            Node::Not(inner) => inner.uses_events(),
            Node::Leaf(_) => false,
            Node::Did(_) => true,
        }
    }

    /// Brings the event tests up to date: property sets added since, and relative windows as of `now_us`.
    pub fn prepare(&mut self, events: &EventIndex, now_us: i64) {
        match self {
            Node::And(items) | Node::Or(items) => items.iter_mut().for_each(|n| n.prepare(events, now_us)),
            Node::Not(inner) => inner.prepare(events, now_us),
            Node::Leaf(_) => {}
            Node::Did(did) => did.prepare(events, now_us),
        }
    }

    /// Whether `customer` (with these events, in time order) passes.
    pub fn holds(&self, customer: i64, events: &[(i64, u16, u32)], e: &Evaluation<'_>) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.holds(customer, events, e)),
            Node::Or(items) => items.iter().any(|n| n.holds(customer, events, e)),
            Node::Not(inner) => !inner.holds(customer, events, e),
            Node::Did(did) => match &did.test {
                Some(test) => cohort::passes(events.iter().copied(), test),
                None => zero_count_holds(&did.condition),
            },
            Node::Leaf(leaf) => e.leaf_holds(leaf, customer),
        }
    }
}

impl DidNode {
    fn compile(condition: &EventCondition, events: &EventIndex) -> DidNode {
        let table = events.props.read().expect("property table lock is never poisoned");
        let filters = compile("where", &condition.filters, &table).ok();
        let key = |t: &Option<Threshold>| t.as_ref().and_then(|t| t.property.as_deref()).and_then(|p| table.key_id(p));
        let test = events.names.id(&condition.event).map(|event| EventTest {
            event,
            sets: (!condition.filters.is_empty()).then(Vec::new),
            count: condition.count.as_ref().and_then(cmp),
            sum: condition.sum.as_ref().and_then(cmp).map(|c| (Vec::new(), c)),
            avg: condition.avg.as_ref().and_then(cmp).map(|c| (Vec::new(), c)),
            ..Default::default()
        });
        DidNode {
            condition: condition.clone(),
            test,
            filters,
            sum_key: key(&condition.sum),
            avg_key: key(&condition.avg),
        }
    }

    /// Whether names this node could not resolve have appeared since it was compiled.
    fn outdated(&self, events: &EventIndex) -> bool {
        let table = events.props.read().expect("property table lock is never poisoned");
        let known = |t: &Option<Threshold>, key: Option<u16>| {
            key.is_none() && t.as_ref().and_then(|t| t.property.as_deref()).is_some_and(|p| table.key_id(p).is_some())
        };
        (self.test.is_none() && events.names.id(&self.condition.event).is_some())
            || (self.filters.is_none() && self.condition.filters.iter().all(|f| table.key_id(&f.property).is_some()))
            || known(&self.condition.sum, self.sum_key)
            || known(&self.condition.avg, self.avg_key)
    }

    /// Brings the test up to date with the index (names and property sets added since) and its
    /// windows to `now_us`.
    fn prepare(&mut self, events: &EventIndex, now_us: i64) {
        if self.outdated(events) {
            *self = DidNode::compile(&self.condition, events);
        }
        let Some(test) = &mut self.test else { return };
        let table = events.props.read().expect("property table lock is never poisoned");
        let total = table.set_count();
        if let Some(sets) = &mut test.sets {
            for set in sets.len()..total {
                let set = set as u32;
                sets.push(self.filters.as_ref().is_some_and(|filters| {
                    filters.iter().all(|f| f.accepts(table.lookup(set, f.key).map(|v| table.value(v))))
                }));
            }
        }
        for (measure, key) in [(&mut test.sum, self.sum_key), (&mut test.avg, self.avg_key)] {
            if let Some((values, _)) = measure {
                for set in values.len()..total {
                    let v = key.and_then(|k| table.lookup(set as u32, k)).and_then(|v| table.value(v).as_f64());
                    values.push(v.unwrap_or(f64::NAN));
                }
            }
        }
        let (from, to) = window(&self.condition, now_us);
        test.from_us = from;
        test.to_us = to;
        let bounds =
            |t: &Option<language::TimeTest>| t.as_ref().map(|t| time_bounds(t.op, &t.value, now_us).unwrap_or((0, 0)));
        test.first = bounds(&self.condition.first);
        test.last = bounds(&self.condition.last);
    }
}

fn window(e: &EventCondition, now_us: i64) -> (i64, i64) {
    match (&e.within, &e.between) {
        (Some(w), _) => (now_us - duration_us(w).unwrap_or(0), i64::MAX),
        (None, Some([from, to])) => (instant(from).unwrap_or(i64::MIN), instant(to).unwrap_or(i64::MAX)),
        (None, None) => (i64::MIN, i64::MAX),
    }
}

/// `[lo, hi)` in µs for a time test as of `now_us`.
fn time_bounds(op: Op, value: &str, now_us: i64) -> Option<(i64, i64)> {
    let at = duration_us(value).map(|d| now_us - d).or_else(|| instant(value))?;
    Some(match op {
        Op::Within => (at, i64::MAX),
        Op::Before => (i64::MIN, at),
        Op::After => (at, i64::MAX),
        _ => return None,
    })
}

/// Returns the positive form of an op and whether it was negated (`!=` is not `=`, …).
fn positive(op: Op) -> (Op, bool) {
    match op {
        Op::Ne => (Op::Eq, true),
        Op::NotIn => (Op::In, true),
        Op::NotContains => (Op::Contains, true),
        Op::NotExists => (Op::Exists, true),
        other => (other, false),
    }
}

/// Returns the test a trait value must pass for a positive op.
fn trait_test<'a>(op: Op, value: Option<&'a Value>, now_us: i64) -> Box<dyn Fn(&Value) -> bool + 'a> {
    let number = value.and_then(Value::as_f64);
    match op {
        Op::Exists => Box::new(|v| !v.is_null()),
        Op::Eq => Box::new(move |v| match (v, value) {
            (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
            (a, Some(b)) => a == b,
            _ => false,
        }),
        Op::In => {
            let items: Vec<&Value> = match value {
                Some(Value::Array(items)) => items.iter().collect(),
                _ => Vec::new(),
            };
            Box::new(move |v| items.iter().any(|i| *i == v || (i.as_f64().is_some() && i.as_f64() == v.as_f64())))
        }
        Op::Contains => {
            let needle = value.and_then(Value::as_str).unwrap_or_default().to_lowercase();
            Box::new(move |v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&needle)))
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            let cmp = number.and_then(|n| number_cmp(op, n));
            Box::new(move |v| v.as_f64().is_some_and(|x| cmp.is_some_and(|c| c.holds(x))))
        }
        Op::Within | Op::Before | Op::After => {
            let bounds = value.and_then(Value::as_str).and_then(|s| time_bounds(op, s, now_us));
            Box::new(move |v| {
                let at = v.as_str().and_then(instant);
                match (at, bounds) {
                    (Some(t), Some((lo, hi))) => t >= lo && t < hi && (op != Op::Within || t <= now_us),
                    _ => false,
                }
            })
        }
        Op::Ne | Op::NotIn | Op::NotContains | Op::NotExists => Box::new(|_| false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use language::parse;
    use siyu_analytics::props::PropTable;
    use std::sync::{Arc, RwLock};

    fn empty_index() -> EventIndex {
        EventIndex {
            names: Default::default(),
            props: Arc::new(RwLock::new(PropTable::default())),
            columns: Default::default(),
            unindexed_events: 0,
        }
    }

    /// Segments `s0` … `s{n-1}`, each `body` with `{next}` standing for the next one's reference
    /// (the last refers to nothing: `tag("x")`).
    fn chain(n: usize, body: &str) -> HashMap<String, Condition> {
        (0..n)
            .map(|i| {
                let next = if i + 1 < n { format!("segment(\"s{}\")", i + 1) } else { "tag(\"x\")".into() };
                (format!("s{i}"), parse(&body.replace("{next}", &next)).unwrap())
            })
            .collect()
    }

    fn facts() -> ProfileFacts {
        let mut facts = ProfileFacts::default();
        for customer in 1..=3 {
            facts.add_customer(customer);
            facts.add_tag(customer, "x");
        }
        facts
    }

    #[test]
    fn check_refuses_references_that_nest_deeper_than_the_limit() {
        let (index, facts) = (empty_index(), facts());
        // Each segment adds a not and a reference: two levels.
        let segments = chain(40, "not {next}");
        let known = Known { events: &index, facts: &facts, segments: &segments };
        let checked = check(&segments["s0"], Some("s0"), &known);
        assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
        assert!(checked.errors[0].reason.contains("nests deeper than 64 levels"), "{:?}", checked.errors);
        let fine = check(&segments["s20"], Some("s20"), &known);
        assert!(fine.errors.is_empty(), "{:?}", fine.errors);
        // Evaluated anyway (a referenced segment changed after the check), it stops at the limit
        // instead of following the references down.
        let evaluation = Evaluation { facts: &facts, events: &index, models: None, segments: &segments, now_us: 0 };
        evaluation.members(&segments["s0"]);
        Node::compile(&segments["s0"], &segments, &index).holds(1, &[], &evaluation);
        assert_eq!(evaluation.members(&segments["s20"]).len(), 3);
        assert!(Node::compile(&segments["s20"], &segments, &index).holds(1, &[], &evaluation));
    }

    #[test]
    fn check_refuses_references_that_multiply_past_the_condition_limit() {
        let (index, facts) = (empty_index(), facts());
        // Each segment refers to the next four times: 4^20 conditions written out.
        let segments = chain(20, "{next} and {next} or {next} and {next}");
        let known = Known { events: &index, facts: &facts, segments: &segments };
        let checked = check(&segments["s0"], Some("s0"), &known);
        assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
        assert!(checked.errors[0].reason.contains("more than 100000 conditions"), "{:?}", checked.errors);
        let evaluation = Evaluation { facts: &facts, events: &index, models: None, segments: &segments, now_us: 0 };
        // Bounded work, whatever the answer.
        evaluation.members(&segments["s0"]);
        Node::compile(&segments["s0"], &segments, &index);
        assert!(check(&segments["s14"], Some("s14"), &known).errors.is_empty());
    }

    #[test]
    fn check_refuses_a_definition_saved_deeper_before_the_limit() {
        let (index, facts) = (empty_index(), facts());
        let segments = HashMap::new();
        let known = Known { events: &index, facts: &facts, segments: &segments };
        let json = format!("{}{{\"tag\": \"x\"}}{}", "{\"not\": ".repeat(99), "}".repeat(99));
        let saved = language::read_saved(&json).unwrap();
        let checked = check(&saved, Some("old"), &known);
        assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
        assert_eq!(checked.errors[0].field, format!("definition{}", ".not".repeat(64)));
    }

    #[test]
    fn check_refuses_nested_lists_as_values() {
        let (index, facts) = (empty_index(), facts());
        let segments = HashMap::new();
        let known = Known { events: &index, facts: &facts, segments: &segments };
        let tree: Condition =
            serde_json::from_str(r#"{"trait": {"name": "city", "op": "in", "value": [["上海"]]}}"#).unwrap();
        let checked = check(&tree, None, &known);
        assert_eq!(checked.errors[0].field, "definition.trait.value");
    }
}
