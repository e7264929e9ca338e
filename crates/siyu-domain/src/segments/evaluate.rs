//! Evaluating a checked definition into a bitmap of customers over the profile facts, the event
//! index and the models.

use super::ProfileFacts;
use super::check::*;
use super::language::{self, Condition, EventCondition, MAX_DEPTH, ModelField, Op, Threshold};
use crate::customers::IdentityKind;
use crate::customers::consent::{Channel, Purpose};
use crate::events::EventIndex;
use crate::events::filters::compile;
use crate::models::Named;
use crate::models::{ComputedModels, CustomerLtv};
use roaring::RoaringTreemap;
use serde_json::Value;
use siyu_analytics::cohort::{self, EventTest};
use siyu_analytics::models::CustomerModel;

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
