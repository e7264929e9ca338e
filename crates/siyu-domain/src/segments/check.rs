//! Checking a definition: errors that name their place in the tree, warnings that list unknown
//! names, and the depth and size limits.

use super::ProfileFacts;
use super::language::{Condition, MAX_DEPTH, ModelField, Op, Threshold, is_date, is_duration};
use crate::customers::IdentityKind;
use crate::customers::consent::{Channel, Purpose};
use crate::error::FieldError;
use crate::events::EventIndex;
use crate::models::Named;
use serde_json::Value;
use siyu_analytics::cohort::Cmp;
use siyu_analytics::models::{RfmClass, Stage, Tier};
use std::collections::{BTreeSet, HashMap};

/// Traits sealed at rest: segments cannot test them (their values are never in memory in clear).
pub const SEALED_TRAITS: [&str; 3] = ["name", "birthday", "address"];

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

pub(super) fn instant(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_microsecond());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_microsecond())
}

pub(super) fn duration_us(text: &str) -> Option<i64> {
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

pub(super) fn cmp(t: &Threshold) -> Option<Cmp> {
    number_cmp(t.op, t.value)
}

pub(super) fn number_cmp(op: Op, v: f64) -> Option<Cmp> {
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
