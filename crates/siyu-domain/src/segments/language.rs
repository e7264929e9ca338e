//! The segment language: one definition with two faces, a JSON tree ([`Condition`], for the API and
//! the console builder) and a text form that round-trips with it, e.g.
//!
//! ```text
//! tag("VIP") and trait.city = "上海" and did("Order Completed", count >= 2, within 30d)
//!     and not did("Message Opened", within 14d)
//! ```
//!
//! [`parse`] reads the text and reports the line and column of the first error with what was
//! expected there; [`print`] writes the canonical text of a tree. Grammar (docs/SEGMENTS.md):
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | call | field test
//! call    := tag(S) | segment(S) | consent(S, S) | has_identity(S) | did(S {, clause})
//! clause  := count CMP N | sum(P) CMP N | avg(P) CMP N | within D | between DATE and DATE
//!          | where P FOP V | first TIME | last TIME
//! field   := trait.NAME | rfm.class | rfm.r | rfm.f | rfm.m | lifecycle | tier | health | ltv
//!          | churn_risk | recall
//! test    := CMP V | in [V, …] | not in [V, …] | contains S | not contains S | exists | not exists | TIME
//! TIME    := within D | before (D | DATE) | after (D | DATE)
//! ```

use crate::events::filters::{FilterOp, PropertyFilter};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::cell::Cell;

/// How deep a definition may nest: a condition sits inside at most `MAX_DEPTH - 1` others (`and`,
/// `or`, `not`; in the text, `not`s and parentheses). [`parse`], deserialising a [`Condition`] and
/// [`crate::segments::check()`] (which counts each `segment(…)` it follows as a level) refuse deeper
/// definitions, so that no recursion over a definition grows with its input.
pub const MAX_DEPTH: usize = 64;

// From `parse` or from JSON, a tree is at most `MAX_DEPTH` levels deep (the doc line below is the
// OpenAPI schema's description).
/// A segment definition: a tree of conditions.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Every condition holds.
    #[schema(no_recursion)]
    And(Vec<Condition>),
    /// At least one condition holds.
    #[schema(no_recursion)]
    Or(Vec<Condition>),
    /// The condition does not hold.
    #[schema(no_recursion)]
    Not(Box<Condition>),
    /// The customer carries the tag (by name).
    Tag(String),
    /// The customer is a member of another segment (by key).
    Segment(String),
    /// The customer's latest consent for the purpose on the channel is a grant.
    Consent {
        /// `marketing`, `analytics`, `profiling` or `third_party_sharing`.
        purpose: String,
        /// `wecom`, `sms`, `email`, `wechat_mp` or `phone`.
        channel: String,
    },
    /// The customer has an identity of this kind (e.g. `wecom_external_userid`).
    HasIdentity(String),
    /// A test on a trait.
    Trait {
        /// The trait key.
        name: String,
        /// The comparison.
        op: Op,
        /// What to compare with (a list for `in`/`not_in`; a duration like `30d` or a date for
        /// `within`/`before`/`after`; none for `exists`/`not_exists`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Value>)]
        value: Option<Value>,
    },
    /// A test on a model output.
    Model {
        /// The model output.
        field: ModelField,
        /// The comparison.
        op: Op,
        /// What to compare with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Value>)]
        value: Option<Value>,
    },
    /// The customer did an event (with thresholds, a window and property filters).
    Did(Box<EventCondition>),
}

/// The JSON shape of [`Condition`], read one level at a time: its children are `Condition`s again,
/// so each level passes through `Condition`'s `Deserialize`, which counts the levels.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ConditionLevel {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Tag(String),
    Segment(String),
    Consent {
        purpose: String,
        channel: String,
    },
    HasIdentity(String),
    Trait {
        name: String,
        op: Op,
        #[serde(default)]
        value: Option<Value>,
    },
    Model {
        field: ModelField,
        op: Op,
        #[serde(default)]
        value: Option<Value>,
    },
    Did(Box<EventCondition>),
}

thread_local! {
    /// The levels of `Condition` being deserialised on this thread (a deserialiser never moves
    /// between threads while it runs).
    static DESERIALIZING: Cell<usize> = const { Cell::new(0) };
    /// How many levels a `Condition` deserialised on this thread may have: [`MAX_DEPTH`], except
    /// while [`read_saved`] reads.
    static DESERIALIZING_LIMIT: Cell<usize> = const { Cell::new(MAX_DEPTH) };
}

/// Reads a definition as it was saved (JSON). Definitions saved before [`MAX_DEPTH`] existed may
/// nest deeper (up to serde_json's own limit of 128 JSON levels); they are read, so that their
/// segment can still be listed, fixed or deleted, and [`crate::segments::check()`] refuses to
/// evaluate them.
pub fn read_saved(json: &str) -> serde_json::Result<Condition> {
    struct Lifted(usize);
    impl Drop for Lifted {
        fn drop(&mut self) {
            DESERIALIZING_LIMIT.with(|limit| limit.set(self.0));
        }
    }
    let _lifted = Lifted(DESERIALIZING_LIMIT.with(|limit| limit.replace(usize::MAX)));
    serde_json::from_str(json)
}

/// One level of a `Condition` being deserialised; leaving it (also by an error) gives the level back.
struct DeserializingLevel;

impl DeserializingLevel {
    fn enter() -> Option<Self> {
        let limit = DESERIALIZING_LIMIT.with(Cell::get);
        DESERIALIZING.with(|depth| {
            (depth.get() < limit).then(|| {
                depth.set(depth.get() + 1);
                DeserializingLevel
            })
        })
    }
}

impl Drop for DeserializingLevel {
    fn drop(&mut self) {
        DESERIALIZING.with(|depth| depth.set(depth.get() - 1));
    }
}

impl<'de> Deserialize<'de> for Condition {
    /// Reads the JSON tree, refusing one that nests deeper than [`MAX_DEPTH`] levels before going
    /// any deeper (serde_json's own limit counts JSON levels, and recursion over the tree comes later).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Some(_level) = DeserializingLevel::enter() else {
            return Err(serde::de::Error::custom(format!(
                "the definition nests deeper than {MAX_DEPTH} levels (and, or, not)"
            )));
        };
        Ok(match ConditionLevel::deserialize(deserializer)? {
            ConditionLevel::And(items) => Condition::And(items),
            ConditionLevel::Or(items) => Condition::Or(items),
            ConditionLevel::Not(inner) => Condition::Not(inner),
            ConditionLevel::Tag(name) => Condition::Tag(name),
            ConditionLevel::Segment(key) => Condition::Segment(key),
            ConditionLevel::Consent { purpose, channel } => Condition::Consent { purpose, channel },
            ConditionLevel::HasIdentity(kind) => Condition::HasIdentity(kind),
            ConditionLevel::Trait { name, op, value } => Condition::Trait { name, op, value },
            ConditionLevel::Model { field, op, value } => Condition::Model { field, op, value },
            ConditionLevel::Did(event) => Condition::Did(event),
        })
    }
}

impl Condition {
    /// Returns how many levels the tree has (a single test is one level; `segment(…)` is not
    /// followed). Walks without recursion, so it is safe on a tree of any depth.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(self, 1)];
        while let Some((condition, depth)) = pending.pop() {
            deepest = deepest.max(depth);
            match condition {
                Condition::And(items) | Condition::Or(items) => pending.extend(items.iter().map(|c| (c, depth + 1))),
                Condition::Not(inner) => pending.push((inner, depth + 1)),
                _ => {}
            }
        }
        deepest
    }
}

/// Comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Op {
    /// Equal.
    #[serde(rename = "=")]
    Eq,
    /// Not equal (or absent).
    #[serde(rename = "!=")]
    Ne,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Gte,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Lte,
    /// One of a list.
    #[serde(rename = "in")]
    In,
    /// None of a list (or absent).
    #[serde(rename = "not_in")]
    NotIn,
    /// Text contains, ignoring case.
    #[serde(rename = "contains")]
    Contains,
    /// Text does not contain (or absent).
    #[serde(rename = "not_contains")]
    NotContains,
    /// Present.
    #[serde(rename = "exists")]
    Exists,
    /// Absent.
    #[serde(rename = "not_exists")]
    NotExists,
    /// A date or instant within the last duration (`30d`).
    #[serde(rename = "within")]
    Within,
    /// A date or instant before a date, or before the duration ago.
    #[serde(rename = "before")]
    Before,
    /// A date or instant after a date, or after the duration ago.
    #[serde(rename = "after")]
    After,
}

impl Op {
    const CMP: [(&'static str, Op); 6] =
        [("=", Op::Eq), ("!=", Op::Ne), (">=", Op::Gte), ("<=", Op::Lte), (">", Op::Gt), ("<", Op::Lt)];

    fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::In => "in",
            Self::NotIn => "not in",
            Self::Contains => "contains",
            Self::NotContains => "not contains",
            Self::Exists => "exists",
            Self::NotExists => "not exists",
            Self::Within => "within",
            Self::Before => "before",
            Self::After => "after",
        }
    }

    /// Whether the value is written bare (a duration or a date).
    fn is_time(self) -> bool {
        matches!(self, Self::Within | Self::Before | Self::After)
    }
}

/// Model outputs a segment may test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ModelField {
    /// RFM class key (`important_value`, …).
    #[serde(rename = "rfm.class")]
    RfmClass,
    /// Recency score 1..5.
    #[serde(rename = "rfm.r")]
    RfmR,
    /// Frequency score 1..5.
    #[serde(rename = "rfm.f")]
    RfmF,
    /// Monetary score 1..5.
    #[serde(rename = "rfm.m")]
    RfmM,
    /// Lifecycle stage key (`new`, `growth`, `mature`, `dormant`, `churned`).
    #[serde(rename = "lifecycle")]
    Lifecycle,
    /// Value tier key (`vip`, `regular`, `potential`).
    #[serde(rename = "tier")]
    Tier,
    /// Health score 0..100.
    #[serde(rename = "health")]
    Health,
    /// Predicted LTV over the horizon, in the workspace currency.
    #[serde(rename = "ltv")]
    Ltv,
    /// Churn risk 0..1 (1 − probability alive).
    #[serde(rename = "churn_risk")]
    ChurnRisk,
    /// On the recall list (true/false).
    #[serde(rename = "recall")]
    Recall,
}

impl ModelField {
    /// Every field, with its text name.
    pub const ALL: [(&'static str, ModelField); 10] = [
        ("rfm.class", Self::RfmClass),
        ("rfm.r", Self::RfmR),
        ("rfm.f", Self::RfmF),
        ("rfm.m", Self::RfmM),
        ("lifecycle", Self::Lifecycle),
        ("tier", Self::Tier),
        ("health", Self::Health),
        ("ltv", Self::Ltv),
        ("churn_risk", Self::ChurnRisk),
        ("recall", Self::Recall),
    ];

    /// The text name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map_or("", |(n, _)| n)
    }
}

/// An event condition: customers with at least one matching event (or meeting the thresholds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventCondition {
    /// The event name.
    pub event: String,
    /// Only events whose properties pass every filter count.
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<PropertyFilter>,
    /// A relative window: events in the last duration (`30d`, `12h`, `2w`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
    /// An absolute window: [from, to) as dates (`2026-01-01`) or RFC 3339 instants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[String; 2]>,
    /// A threshold on the number of matching events (default: at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Threshold>,
    /// A threshold on the sum of a numeric property over the matching events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Threshold>,
    /// A threshold on the average of a numeric property over the matching events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg: Option<Threshold>,
    /// A test on the first matching event ever (`within`, `before`, `after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<TimeTest>,
    /// A test on the last matching event ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<TimeTest>,
}

/// A numeric threshold (`property` for sums and averages).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The numeric property summed or averaged (absent for counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// `=`, `!=`, `>`, `>=`, `<` or `<=`.
    pub op: Op,
    /// The number.
    pub value: f64,
}

/// A time test: `within 30d`, `before 2026-01-01`, `after 7d`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeTest {
    /// `within`, `before` or `after`.
    pub op: Op,
    /// A duration (`30d`) or a date / RFC 3339 instant.
    pub value: String,
}

/// Where the text broke the grammar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What the grammar allowed there.
    pub expected: String,
    /// What was there.
    pub found: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    /// A duration (`30d`) or a date (`2026-01-01`), written bare.
    Bare(String),
    Sym(&'static str),
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Self::Ident(s) => format!("\"{s}\""),
            Self::Str(s) => format!("the string \"{s}\""),
            Self::Num(n) => format!("the number {n}"),
            Self::Bare(s) => format!("\"{s}\""),
            Self::Sym(s) => format!("\"{s}\""),
            Self::End => "the end of the text".into(),
        }
    }
}

struct Lexed {
    tokens: Vec<(Token, usize, usize)>,
}

fn lex(text: &str) -> Result<Lexed, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut column) = (0, 1, 1);
    let mut tokens = Vec::new();
    let advance = |i: &mut usize, line: &mut usize, column: &mut usize, chars: &[char]| {
        if chars[*i] == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut column, &chars);
            continue;
        }
        let (start_line, start_column) = (line, column);
        let error = |expected: &str, found: String| ParseError {
            line: start_line,
            column: start_column,
            expected: expected.into(),
            found,
        };
        if c == '"' {
            advance(&mut i, &mut line, &mut column, &chars);
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(error("a closing \"", "the end of the text".into())),
                    Some('"') => break,
                    Some('\\') => {
                        advance(&mut i, &mut line, &mut column, &chars);
                        match chars.get(i) {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some('n') => s.push('\n'),
                            other => {
                                return Err(error(
                                    "an escape \\\" \\\\ or \\n",
                                    other.map_or("the end of the text".into(), |c| format!("\\{c}")),
                                ));
                            }
                        }
                    }
                    Some(other) => s.push(*other),
                }
                advance(&mut i, &mut line, &mut column, &chars);
            }
            advance(&mut i, &mut line, &mut column, &chars);
            tokens.push((Token::Str(s), start_line, start_column));
            continue;
        }
        if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut word = String::new();
            while let Some(c) = chars.get(i)
                && (c.is_ascii_alphanumeric()
                    || matches!(c, '.' | '-' | ':' | '+') && !word.is_empty()
                    || (*c == '-' && word.is_empty()))
            {
                word.push(*c);
                advance(&mut i, &mut line, &mut column, &chars);
            }
            let token = match word.parse::<f64>() {
                Ok(n) if n.is_finite() => Token::Num(n),
                _ if is_duration(&word) || is_date(&word) => Token::Bare(word),
                _ => {
                    return Err(error(
                        "a number, a duration like 30d or a date like 2026-01-31",
                        format!("\"{word}\""),
                    ));
                }
            };
            tokens.push((token, start_line, start_column));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let mut word = String::new();
            while let Some(c) = chars.get(i)
                && (c.is_alphanumeric() || *c == '_')
            {
                word.push(*c);
                advance(&mut i, &mut line, &mut column, &chars);
            }
            tokens.push((Token::Ident(word), start_line, start_column));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let symbol = [">=", "<=", "!="].into_iter().find(|s| *s == two).or_else(|| {
            ["(", ")", ",", ".", "[", "]", "=", ">", "<"].into_iter().find(|s| s.starts_with(c) && s.len() == 1)
        });
        let Some(symbol) = symbol else {
            return Err(error("a condition, an operator or a value", format!("\"{c}\"")));
        };
        for _ in 0..symbol.len() {
            advance(&mut i, &mut line, &mut column, &chars);
        }
        tokens.push((Token::Sym(symbol), start_line, start_column));
    }
    tokens.push((Token::End, line, column));
    Ok(Lexed { tokens })
}

/// Whether `text` is a duration: a whole number and one of w, d, h, m, s.
pub fn is_duration(text: &str) -> bool {
    let Some(unit) = text.chars().last() else { return false };
    "wdhms".contains(unit) && text.len() > 1 && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is a date (`2026-01-31`) or an RFC 3339 instant.
pub fn is_date(text: &str) -> bool {
    text.parse::<jiff::civil::Date>().is_ok() || text.parse::<jiff::Timestamp>().is_ok()
}

struct Parser {
    tokens: Vec<(Token, usize, usize)>,
    at: usize,
    /// `not`s and open parentheses around the token at `at`.
    nesting: usize,
}

/// A parsed condition with its depth ([`Condition::depth`]).
type Deep = (Condition, usize);

type Parsed<T> = Result<T, ParseError>;

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn fail<T>(&self, expected: &str) -> Parsed<T> {
        let (token, line, column) = &self.tokens[self.at];
        Err(ParseError { line: *line, column: *column, expected: expected.into(), found: token.describe() })
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].0.clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Token::Ident(w) if w == word) {
            self.next();
            true
        } else {
            false
        }
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Token::Sym(s) if *s == symbol) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: &str) -> Parsed<()> {
        if self.symbol(symbol) { Ok(()) } else { self.fail(&format!("\"{symbol}\"")) }
    }

    fn string(&mut self, what: &str) -> Parsed<String> {
        match self.peek().clone() {
            Token::Str(s) => {
                self.next();
                Ok(s)
            }
            _ => self.fail(what),
        }
    }

    fn name(&mut self, what: &str) -> Parsed<String> {
        match self.peek().clone() {
            Token::Str(s) | Token::Ident(s) => {
                self.next();
                Ok(s)
            }
            _ => self.fail(what),
        }
    }

    fn number(&mut self) -> Parsed<f64> {
        match self.peek().clone() {
            Token::Num(n) => {
                self.next();
                Ok(n)
            }
            _ => self.fail("a number"),
        }
    }

    /// Fails when a condition that starts at token `start` is `depth` levels deep, more than allowed.
    fn limit_depth(&self, start: usize, depth: usize) -> Parsed<()> {
        if depth <= MAX_DEPTH {
            return Ok(());
        }
        let (token, line, column) = &self.tokens[start];
        Err(ParseError {
            line: *line,
            column: *column,
            expected: format!("at most {MAX_DEPTH} levels of nesting (and, or, not, parentheses)"),
            found: format!("{} starting a condition {depth} levels deep", token.describe()),
        })
    }

    /// Parses `items` joined by `joiner` (`or` of ands, `and` of unaries) into one condition.
    fn group(&mut self, joiner: &str, item: fn(&mut Self) -> Parsed<Deep>) -> Parsed<Deep> {
        let start = self.at;
        let (first, mut depth) = item(self)?;
        let mut items = vec![first];
        while self.keyword(joiner) {
            let (next, next_depth) = item(self)?;
            items.push(next);
            depth = depth.max(next_depth);
        }
        if items.len() == 1 {
            return Ok((items.remove(0), depth));
        }
        self.limit_depth(start, depth + 1)?;
        Ok((if joiner == "or" { Condition::Or(items) } else { Condition::And(items) }, depth + 1))
    }

    fn expr(&mut self) -> Parsed<Deep> {
        self.group("or", Self::and)
    }

    fn and(&mut self) -> Parsed<Deep> {
        self.group("and", Self::unary)
    }

    fn unary(&mut self) -> Parsed<Deep> {
        let start = self.at;
        if matches!(self.peek(), Token::Ident(w) if w == "not") || matches!(self.peek(), Token::Sym("(")) {
            // Checked before going deeper, so that the parser's own recursion stays within the limit:
            // every `not` is a level, and parentheses are nearly always one too.
            if self.nesting + 1 >= MAX_DEPTH {
                let (token, line, column) = &self.tokens[start];
                return Err(ParseError {
                    line: *line,
                    column: *column,
                    expected: format!("at most {MAX_DEPTH} levels of nesting (and, or, not, parentheses)"),
                    found: format!("{} nesting a condition {} levels deep", token.describe(), self.nesting + 2),
                });
            }
            self.nesting += 1;
            let inner = if self.keyword("not") {
                self.unary().and_then(|(inner, depth)| {
                    self.limit_depth(start, depth + 1)?;
                    Ok((Condition::Not(Box::new(inner)), depth + 1))
                })
            } else {
                self.next();
                self.expr().and_then(|inner| self.expect(")").map(|()| inner))
            };
            self.nesting -= 1;
            return inner;
        }
        self.leaf().map(|leaf| (leaf, 1))
    }

    fn leaf(&mut self) -> Parsed<Condition> {
        let Token::Ident(word) = self.peek().clone() else {
            return self.fail("a condition: tag(…), did(…), trait.NAME …, a model field, not or (");
        };
        self.next();
        match word.as_str() {
            "tag" | "segment" | "has_identity" => {
                self.expect("(")?;
                let name = self.string("a quoted name")?;
                self.expect(")")?;
                Ok(match word.as_str() {
                    "tag" => Condition::Tag(name),
                    "segment" => Condition::Segment(name),
                    _ => Condition::HasIdentity(name),
                })
            }
            "consent" => {
                self.expect("(")?;
                let purpose = self.string("a quoted purpose, e.g. \"marketing\"")?;
                self.expect(",")?;
                let channel = self.string("a quoted channel, e.g. \"sms\"")?;
                self.expect(")")?;
                Ok(Condition::Consent { purpose, channel })
            }
            "did" => self.did(),
            "trait" => {
                self.expect(".")?;
                let name = self.name("a trait name (quote it if it has spaces)")?;
                let (op, value) = self.test()?;
                Ok(Condition::Trait { name, op, value })
            }
            "rfm" => {
                self.expect(".")?;
                let part = self.name("class, r, f or m")?;
                let field = ModelField::ALL
                    .iter()
                    .find(|(n, _)| *n == format!("rfm.{part}"))
                    .map(|(_, f)| *f)
                    .ok_or_else(|| self.error_before("class, r, f or m", &part))?;
                let (op, value) = self.test()?;
                Ok(Condition::Model { field, op, value })
            }
            other => match ModelField::ALL.iter().find(|(n, _)| *n == other) {
                Some((_, field)) => {
                    let (op, value) = self.test()?;
                    Ok(Condition::Model { field: *field, op, value })
                }
                None => Err(self.error_before(
                    "a condition: tag, segment, consent, has_identity, did, trait., rfm., lifecycle, tier, health, ltv, churn_risk, recall or not",
                    other,
                )),
            },
        }
    }

    /// An error at the token just consumed.
    fn error_before(&self, expected: &str, found: &str) -> ParseError {
        let (_, line, column) = &self.tokens[self.at.saturating_sub(1)];
        ParseError { line: *line, column: *column, expected: expected.into(), found: format!("\"{found}\"") }
    }

    fn value(&mut self) -> Parsed<Value> {
        match self.peek().clone() {
            Token::Str(s) => {
                self.next();
                Ok(Value::String(s))
            }
            Token::Num(n) => {
                self.next();
                Ok(number(n))
            }
            Token::Ident(w) if w == "true" || w == "false" => {
                self.next();
                Ok(Value::Bool(w == "true"))
            }
            _ => self.fail("a value: a quoted string, a number, true or false"),
        }
    }

    fn list(&mut self) -> Parsed<Value> {
        self.expect("[")?;
        let mut items = vec![self.value()?];
        while self.symbol(",") {
            items.push(self.value()?);
        }
        self.expect("]")?;
        Ok(Value::Array(items))
    }

    fn time(&mut self) -> Parsed<String> {
        match self.peek().clone() {
            Token::Bare(s) => {
                self.next();
                Ok(s)
            }
            _ => self.fail("a duration like 30d or a date like 2026-01-31"),
        }
    }

    fn cmp(&mut self) -> Option<Op> {
        let found = Op::CMP.iter().find(|(s, _)| matches!(self.peek(), Token::Sym(t) if t == s)).map(|(_, op)| *op);
        if found.is_some() {
            self.next();
        }
        found
    }

    fn test(&mut self) -> Parsed<(Op, Option<Value>)> {
        if let Some(op) = self.cmp() {
            return Ok((op, Some(self.value()?)));
        }
        let negated = self.keyword("not");
        let op = if self.keyword("in") {
            return Ok((if negated { Op::NotIn } else { Op::In }, Some(self.list()?)));
        } else if self.keyword("contains") {
            return Ok((
                if negated { Op::NotContains } else { Op::Contains },
                Some(Value::String(self.string("a quoted text")?)),
            ));
        } else if self.keyword("exists") {
            if negated { Op::NotExists } else { Op::Exists }
        } else if negated {
            return self.fail("in, contains or exists after not");
        } else if self.keyword("within") {
            Op::Within
        } else if self.keyword("before") {
            Op::Before
        } else if self.keyword("after") {
            Op::After
        } else {
            return self.fail("a comparison: = != > >= < <= in, not in, contains, exists, within, before or after");
        };
        if op.is_time() {
            return Ok((op, Some(Value::String(self.time()?))));
        }
        Ok((op, None))
    }

    fn did(&mut self) -> Parsed<Condition> {
        self.expect("(")?;
        let mut condition = EventCondition { event: self.string("a quoted event name")?, ..Default::default() };
        while self.symbol(",") {
            let Token::Ident(word) = self.peek().clone() else {
                return self.fail("count, sum(…), avg(…), within, between, where, first or last");
            };
            self.next();
            match word.as_str() {
                "count" => {
                    let op = self.cmp().map_or_else(|| self.fail("a comparison = != > >= < <="), Ok)?;
                    condition.count = Some(Threshold { property: None, op, value: self.number()? });
                }
                "sum" | "avg" => {
                    self.expect("(")?;
                    let property = self.name("a property name")?;
                    self.expect(")")?;
                    let op = self.cmp().map_or_else(|| self.fail("a comparison = != > >= < <="), Ok)?;
                    let threshold = Threshold { property: Some(property), op, value: self.number()? };
                    if word == "sum" { condition.sum = Some(threshold) } else { condition.avg = Some(threshold) }
                }
                "within" => condition.within = Some(self.time()?),
                "between" => {
                    let from = self.time()?;
                    if !self.keyword("and") {
                        return self.fail("and");
                    }
                    condition.between = Some([from, self.time()?]);
                }
                "where" => {
                    let property = self.name("a property name")?;
                    let (op, value) = self.test()?;
                    let op = filter_op(op).ok_or_else(|| self.error_before("a property comparison", op.symbol()))?;
                    condition.filters.push(PropertyFilter { property, op, value });
                }
                "first" | "last" => {
                    let op = if self.keyword("within") {
                        Op::Within
                    } else if self.keyword("before") {
                        Op::Before
                    } else if self.keyword("after") {
                        Op::After
                    } else {
                        return self.fail("within, before or after");
                    };
                    let test = TimeTest { op, value: self.time()? };
                    if word == "first" { condition.first = Some(test) } else { condition.last = Some(test) }
                }
                other => {
                    return Err(
                        self.error_before("count, sum(…), avg(…), within, between, where, first or last", other)
                    );
                }
            }
        }
        self.expect(")")?;
        Ok(Condition::Did(Box::new(condition)))
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9e15 { Value::from(n as i64) } else { Value::from(n) }
}

fn filter_op(op: Op) -> Option<FilterOp> {
    Some(match op {
        Op::Eq => FilterOp::Eq,
        Op::Ne => FilterOp::Ne,
        Op::Gt => FilterOp::Gt,
        Op::Gte => FilterOp::Gte,
        Op::Lt => FilterOp::Lt,
        Op::Lte => FilterOp::Lte,
        Op::In => FilterOp::In,
        Op::NotIn => FilterOp::NotIn,
        Op::Contains => FilterOp::Contains,
        Op::NotContains => FilterOp::NotContains,
        Op::Exists => FilterOp::Exists,
        Op::NotExists => FilterOp::NotExists,
        Op::Within | Op::Before | Op::After => return None,
    })
}

fn op_of_filter(op: FilterOp) -> Op {
    match op {
        FilterOp::Eq => Op::Eq,
        FilterOp::Ne => Op::Ne,
        FilterOp::Gt => Op::Gt,
        FilterOp::Gte => Op::Gte,
        FilterOp::Lt => Op::Lt,
        FilterOp::Lte => Op::Lte,
        FilterOp::In => Op::In,
        FilterOp::NotIn => Op::NotIn,
        FilterOp::Contains => Op::Contains,
        FilterOp::NotContains => Op::NotContains,
        FilterOp::Exists => Op::Exists,
        FilterOp::NotExists => Op::NotExists,
    }
}

/// Parses the text form.
pub fn parse(text: &str) -> Result<Condition, ParseError> {
    let mut parser = Parser { tokens: lex(text)?.tokens, at: 0, nesting: 0 };
    let (condition, _) = parser.expr()?;
    if *parser.peek() != Token::End {
        return parser.fail("and, or, or the end of the definition");
    }
    Ok(condition)
}

/// Writes the canonical text of a definition ([`parse`] reads it back to the same tree).
pub fn print(condition: &Condition) -> String {
    let mut out = String::new();
    write(&mut out, condition);
    out
}

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A name written bare when it is a plain identifier, else quoted.
fn name(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !["and", "or", "not", "in", "contains", "exists", "within", "before", "after", "true", "false"]
            .contains(&text);
    if plain { text.to_string() } else { quote(text) }
}

fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn test(op: Op, value: Option<&Value>) -> String {
    match (op, value) {
        (_, None) => op.symbol().to_string(),
        (op, Some(Value::String(s))) if op.is_time() => format!("{} {s}", op.symbol()),
        (op, Some(v)) => format!("{} {}", op.symbol(), literal(v)),
    }
}

fn write(out: &mut String, condition: &Condition) {
    let group = |out: &mut String, items: &[Condition], joiner: &str, wrap: fn(&Condition) -> bool| {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(joiner);
            }
            if wrap(item) {
                out.push('(');
                write(out, item);
                out.push(')');
            } else {
                write(out, item);
            }
        }
    };
    match condition {
        Condition::And(items) => {
            group(out, items, " and ", |c| matches!(c, Condition::And(_) | Condition::Or(_)) || is_unit(c))
        }
        Condition::Or(items) => group(out, items, " or ", |c| matches!(c, Condition::Or(_)) || is_unit(c)),
        Condition::Not(inner) => {
            out.push_str("not ");
            if matches!(**inner, Condition::And(_) | Condition::Or(_)) || is_unit(inner) {
                out.push('(');
                write(out, inner);
                out.push(')');
            } else {
                write(out, inner);
            }
        }
        Condition::Tag(t) => out.push_str(&format!("tag({})", quote(t))),
        Condition::Segment(s) => out.push_str(&format!("segment({})", quote(s))),
        Condition::HasIdentity(k) => out.push_str(&format!("has_identity({})", quote(k))),
        Condition::Consent { purpose, channel } => {
            out.push_str(&format!("consent({}, {})", quote(purpose), quote(channel)))
        }
        Condition::Trait { name: key, op, value } => {
            out.push_str(&format!("trait.{} {}", name(key), test(*op, value.as_ref())))
        }
        Condition::Model { field, op, value } => {
            out.push_str(&format!("{} {}", field.name(), test(*op, value.as_ref())))
        }
        Condition::Did(e) => {
            out.push_str(&format!("did({}", quote(&e.event)));
            if let Some(t) = &e.count {
                out.push_str(&format!(", count {} {}", t.op.symbol(), number(t.value)));
            }
            for (word, t) in [("sum", &e.sum), ("avg", &e.avg)] {
                if let Some(t) = t {
                    let property = t.property.as_deref().unwrap_or_default();
                    out.push_str(&format!(", {word}({}) {} {}", name(property), t.op.symbol(), number(t.value)));
                }
            }
            if let Some(w) = &e.within {
                out.push_str(&format!(", within {w}"));
            }
            if let Some([from, to]) = &e.between {
                out.push_str(&format!(", between {from} and {to}"));
            }
            for f in &e.filters {
                out.push_str(&format!(", where {} {}", name(&f.property), test(op_of_filter(f.op), f.value.as_ref())));
            }
            for (word, t) in [("first", &e.first), ("last", &e.last)] {
                if let Some(t) = t {
                    out.push_str(&format!(", {word} {} {}", t.op.symbol(), t.value));
                }
            }
            out.push(')');
        }
    }
}

/// An `and`/`or` of one item (or none) has no text of its own; it is written in parentheses so
/// that it reads back as itself only when normalised. [`normalize`] removes them.
fn is_unit(condition: &Condition) -> bool {
    matches!(condition, Condition::And(items) | Condition::Or(items) if items.len() < 2)
}

/// Returns the tree with single-item groups replaced by their item (what [`parse`] produces).
pub fn normalize(condition: Condition) -> Condition {
    match condition {
        Condition::And(items) | Condition::Or(items) if items.len() == 1 => {
            normalize(items.into_iter().next().expect("one item"))
        }
        Condition::And(items) => Condition::And(items.into_iter().map(normalize).collect()),
        Condition::Or(items) => Condition::Or(items.into_iter().map(normalize).collect()),
        Condition::Not(inner) => Condition::Not(Box::new(normalize(*inner))),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "tag(\"VIP\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d) and not did(\"Message Opened\", within 14d)";

    #[test]
    fn the_issue_example_round_trips_through_json() {
        let tree = parse(EXAMPLE).unwrap();
        let Condition::And(items) = &tree else { panic!("an and") };
        assert_eq!(items.len(), 4);
        assert_eq!(print(&tree), EXAMPLE);
        let json = serde_json::to_value(&tree).unwrap();
        assert_eq!(json["and"][1], serde_json::json!({"trait": {"name": "city", "op": "=", "value": "上海"}}));
        assert_eq!(
            json["and"][2],
            serde_json::json!({"did": {"event": "Order Completed", "within": "30d", "count": {"op": ">=", "value": 2.0}}})
        );
        let back: Condition = serde_json::from_value(json).unwrap();
        assert_eq!(back, tree);
    }

    #[test]
    fn a_long_number_survives_text_json_and_back_exactly() {
        // Found by the fuzzer: JSON read back this number one unit in the last place off, until
        // serde_json parsed floats exactly (`float_roundtrip`); a saved definition changed on reload.
        let text = format!("trait.age >= 18{}.5", "7".repeat(80));
        let tree = parse(&text).unwrap();
        let json = serde_json::to_string(&tree).unwrap();
        assert_eq!(serde_json::from_str::<Condition>(&json).unwrap(), tree, "{json}");
        assert_eq!(parse(&print(&tree)).unwrap(), tree);
    }

    #[test]
    fn every_construct_round_trips() {
        for text in [
            "(tag(\"a\") or tag(\"b\")) and not (segment(\"vip-sh\") or has_identity(\"wecom_external_userid\"))",
            "consent(\"marketing\", \"sms\") and trait.\"会员 等级\" in [\"gold\", \"silver\"] and trait.age >= 18.5",
            "trait.email_verified = true and trait.note not contains \"test\" and trait.vip not exists",
            "trait.signup_date within 30d or trait.signup_date before 2025-01-01 or trait.last_login after 7d",
            "rfm.class = \"important_win_back\" and rfm.r >= 4 and lifecycle in [\"dormant\", \"churned\"]",
            "tier = \"vip\" and health < 40 and ltv > 500 and churn_risk >= 0.7 and recall = true",
            "did(\"Order Completed\", sum(revenue) >= 500, avg(revenue) > 100, between 2026-01-01 and 2026-02-01, where category = \"tea\", where coupon exists)",
            "did(\"Signed Up\", first within 7d) and did(\"Page Viewed\", count = 0, last before 2026-03-01T00:00:00Z)",
            "not not tag(\"x\")",
            "(tag(\"a\") and tag(\"b\")) and tag(\"c\")",
        ] {
            let tree = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(print(&tree), text);
            let json = serde_json::to_string(&tree).unwrap();
            assert_eq!(serde_json::from_str::<Condition>(&json).unwrap(), tree, "{json}");
        }
    }

    #[test]
    fn errors_give_line_column_and_what_was_expected() {
        let cases = [
            ("tag(\"VIP\") and", 1, 15, "a condition"),
            ("tag(VIP)", 1, 5, "a quoted name"),
            ("tag(\"VIP\")\n  and trait.city == \"上海\"", 2, 19, "a value"),
            ("did(\"Order Completed\", count >= 2, within thirty)", 1, 43, "a duration"),
            ("did(\"A\", colour = 2)", 1, 10, "count, sum"),
            ("trait.city = \"上海", 1, 14, "a closing"),
            ("tag(\"a\") tag(\"b\")", 1, 10, "and, or"),
            ("health ~ 3", 1, 8, "a condition, an operator"),
            ("lifecycle not 3", 1, 15, "in, contains or exists"),
            ("planet = \"mars\"", 1, 1, "a condition: tag"),
        ];
        for (text, line, column, expected) in cases {
            let error = parse(text).expect_err(text);
            assert_eq!((error.line, error.column), (line, column), "{text}: {error}");
            assert!(error.expected.starts_with(expected), "{text}: {error}");
        }
    }

    fn nots(n: usize) -> String {
        format!("{}tag(\"x\")", "not ".repeat(n))
    }

    fn parens(n: usize) -> String {
        format!("{}tag(\"x\"){}", "(".repeat(n), ")".repeat(n))
    }

    /// `{"not": … {"tag": "x"} …}` with `n` nots, written as text (a `Value` that deep would
    /// recurse to build and to drop).
    fn json_nots(n: usize) -> String {
        format!("{}{{\"tag\": \"x\"}}{}", "{\"not\": ".repeat(n), "}".repeat(n))
    }

    #[test]
    fn parse_refuses_ten_thousand_nots_at_the_first_level_past_the_limit() {
        let error = parse(&nots(10_000)).expect_err("too deep");
        // The 64th `not` would put the tag 65 levels deep; it starts at column 4 × 63 + 1.
        assert_eq!((error.line, error.column), (1, 253), "{error}");
        assert!(error.expected.starts_with("at most 64 levels of nesting"), "{error}");
        assert_eq!(error.found, "\"not\" nesting a condition 65 levels deep");
    }

    #[test]
    fn parse_refuses_twenty_thousand_parentheses_with_line_and_column() {
        let text = format!("tag(\"a\") and\n{}", parens(20_000));
        let error = parse(&text).expect_err("too deep");
        assert_eq!((error.line, error.column), (2, 64), "{error}");
        assert!(error.expected.starts_with("at most 64 levels of nesting"), "{error}");
    }

    #[test]
    fn parse_accepts_exactly_sixty_four_levels() {
        let tree = parse(&nots(MAX_DEPTH - 1)).expect("63 nots and a tag are 64 levels");
        assert_eq!(tree.depth(), MAX_DEPTH);
        assert_eq!(parse(&parens(MAX_DEPTH - 1)).expect("63 parentheses"), Condition::Tag("x".into()));
        assert!(parse(&nots(MAX_DEPTH)).is_err());
        assert!(parse(&parens(MAX_DEPTH)).is_err());
    }

    #[test]
    fn parse_counts_the_levels_groups_add_inside_parentheses() {
        // Each pair of parentheses sits in an `and` in an `or`: two levels per pair, so 32 pairs
        // nest 65 levels although the text opens only 32 parentheses.
        let mut text = "tag(\"x\")".to_string();
        for _ in 0..32 {
            text = format!("tag(\"a\") and ({text}) or tag(\"b\")");
        }
        let error = parse(&text).expect_err("too deep");
        assert_eq!((error.line, error.column), (1, 1), "{error}");
        assert!(error.found.contains("levels deep"), "{error}");
        let mut text = "tag(\"x\")".to_string();
        for _ in 0..31 {
            text = format!("tag(\"a\") and ({text}) or tag(\"b\")");
        }
        let tree = parse(&format!("not ({text})")).expect("31 pairs and a not are 64 levels");
        assert_eq!(tree.depth(), MAX_DEPTH);
        assert_eq!(parse(&print(&tree)).unwrap(), tree);
    }

    #[test]
    fn json_definitions_deeper_than_the_limit_are_refused() {
        let error = serde_json::from_str::<Condition>(&json_nots(MAX_DEPTH)).expect_err("65 levels");
        assert!(error.to_string().contains("nests deeper than 64 levels"), "{error}");
        let tree: Condition = serde_json::from_str(&json_nots(MAX_DEPTH - 1)).expect("64 levels");
        assert_eq!(tree.depth(), MAX_DEPTH);
        // What the printer writes of the deepest tree reads back.
        assert_eq!(parse(&print(&tree)).unwrap(), tree);
        // An and of an and of … is refused too (by serde_json's own limit first: each level is two
        // JSON levels), and the next definition on the thread is read afresh.
        let groups = format!("{}{{\"tag\": \"x\"}}{}", "{\"and\": [".repeat(70), "]}".repeat(70));
        assert!(serde_json::from_str::<Condition>(&groups).is_err());
        assert!(serde_json::from_str::<Condition>(&json_nots(MAX_DEPTH - 1)).is_ok());
        let value: Value = serde_json::from_str(&json_nots(100)).unwrap();
        assert!(serde_json::from_value::<Condition>(value).is_err());
    }

    #[test]
    fn definitions_saved_deeper_before_the_limit_still_read() {
        // A definition saved before the limit existed: 100 levels, within serde_json's own limit.
        let saved = read_saved(&json_nots(99)).expect("saved definitions read");
        assert_eq!(saved.depth(), 100);
        assert!(print(&saved).starts_with("not not"));
        // Only while reading saved definitions.
        assert!(serde_json::from_str::<Condition>(&json_nots(99)).is_err());
        assert!(read_saved(&json_nots(200)).is_err());
    }

    #[test]
    fn single_item_groups_normalise() {
        let tree = Condition::And(vec![Condition::Or(vec![Condition::Tag("a".into())])]);
        assert_eq!(normalize(tree), Condition::Tag("a".into()));
    }
}
