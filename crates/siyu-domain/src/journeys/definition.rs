//! A journey's definition: its trigger, its graph of nodes, its goal and its re-entry policy, read
//! from JSON and checked as a whole when it is published — every problem named by its path
//! (`nodes.welcome.body`, `nodes.check.no`).

use crate::FieldError;
use crate::channels::guardrails::MessageClass;
use crate::channels::messaging::{MessageContent, Translation};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// The most nodes a journey has.
pub const MAX_NODES: usize = 200;
/// The most arms a split has.
pub const MAX_ARMS: usize = 10;
/// The deepest a branch condition nests (`all`, `any`, `not`).
pub const MAX_CONDITION_DEPTH: usize = 8;
/// The longest wait.
pub const MAX_WAIT_DAYS: i64 = 366;

fn marketing() -> MessageClass {
    MessageClass::Marketing
}

fn one_chance() -> i64 {
    1
}

/// What starts a customer on a journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// An event the customer does, with property filters (`{"plan": "pro"}`: equal values).
    Event {
        /// The event's name.
        event: String,
        /// Properties the event must have, with these values.
        #[serde(default, rename = "where")]
        #[schema(value_type = Object)]
        filter: BTreeMap<String, Value>,
    },
    /// The customer enters a segment.
    SegmentEntered {
        /// The segment's key.
        segment: String,
    },
    /// The customer leaves a segment.
    SegmentExited {
        /// The segment's key.
        segment: String,
    },
    /// An API call names the customers (`POST /api/v1/journeys/{id}/entries`).
    Api,
    /// A broadcast: the segment's members enter at a moment (`at`, once) or on a schedule
    /// (`cron`, five fields — minute, hour, day of month, month, day of week — in the workspace's
    /// time zone). Each occurrence enters a customer at most once.
    Broadcast {
        /// The segment's key.
        segment: String,
        /// The one moment (RFC 3339).
        #[serde(default)]
        #[schema(value_type = Option<String>, format = DateTime)]
        at: Option<jiff::Timestamp>,
        /// The recurring schedule (`0 10 * * MON`: Mondays at 10:00).
        #[serde(default)]
        cron: Option<String>,
    },
    /// The anniversary of a date trait (`birthday`, `member_since`: `YYYY-MM-DD` or an RFC 3339
    /// time), at a local time of day in the workspace's time zone: each year's anniversary enters
    /// a customer at most once (29 February's are kept on 28 February in other years).
    Anniversary {
        /// The trait holding the date.
        #[serde(rename = "trait")]
        key: String,
        /// The time of day (`HH:MM`, default `09:00`).
        #[serde(default = "default_anniversary_time")]
        time: String,
    },
}

fn default_anniversary_time() -> String {
    "09:00".into()
}

/// A branch's test of the customer, as they are when the branch runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Every condition holds.
    #[schema(no_recursion)]
    All(Vec<Condition>),
    /// At least one holds.
    #[schema(no_recursion)]
    Any(Vec<Condition>),
    /// The condition does not hold.
    #[schema(no_recursion)]
    Not(Box<Condition>),
    /// The customer is in the segment (any segment: RFM classes, lifecycle stages, churn risk and
    /// event history are segments' business).
    Segment(String),
    /// The customer has the tag.
    Tag(String),
    /// The customer granted marketing consent on the channel (`sms`, `email`, `wecom`, …).
    Consent(String),
    /// A trait compared with a value.
    Trait(TraitTest),
}

/// A trait's test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraitTest {
    /// The trait's key.
    pub key: String,
    /// `eq`, `ne`, `gt`, `gte`, `lt`, `lte` or `exists`.
    pub op: String,
    /// The value compared with (numbers as numbers, text as text).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
}

/// One arm of a random split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Its name (`a`, `b`, `control`), recorded with the assignment.
    pub name: String,
    /// Its share of the customers, in percent; the arms' shares add up to 100.
    pub percent: u32,
    /// Where its customers go (none: they leave the journey — a hold-out control group).
    #[serde(default)]
    pub next: Option<String>,
}

/// A step of a journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// Waits a duration (`30m`, `2h`, `3d`, `1w`).
    Wait {
        /// How long.
        duration: String,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Waits until a local time of day (`HH:MM`), on the given days of the week if any
    /// (`mon` … `sun`), in the workspace's time zone.
    WaitUntil {
        /// Time of day.
        time: String,
        /// Days of the week (none: any day).
        #[serde(default)]
        days: Vec<String>,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Waits until the customer does an event (whose properties hold `where`'s values), at most
    /// `timeout`: goes on to `next` when it happens, to `timeout_next` when time runs out (an
    /// abandoned cart: wait for `Order Completed` up to `2h`, else remind).
    WaitForEvent {
        /// The event's name.
        event: String,
        /// Properties the event must have, with these values.
        #[serde(default, rename = "where")]
        #[schema(value_type = Object)]
        filter: BTreeMap<String, Value>,
        /// The longest wait (`30m`, `2h`, `3d`).
        timeout: String,
        /// Where customers who did the event go.
        #[serde(default)]
        next: Option<String>,
        /// Where the others go once the time ran out.
        #[serde(default)]
        timeout_next: Option<String>,
    },
    /// Goes on to `yes` if the condition holds, else to `no` (both required: a branch that ends
    /// the journey on one side says so with an `exit` node).
    Branch {
        /// The test.
        condition: Condition,
        /// Where customers who pass go.
        yes: String,
        /// Where the others go.
        no: String,
    },
    /// Ends the journey here.
    Exit {},
    /// Sends each customer down one arm, chosen at random but always the same for a customer of
    /// this journey; the assignment is recorded as a `Journey Arm Assigned` event.
    Split {
        /// The arms.
        arms: Vec<Arm>,
    },
    /// Sends a message on a channel: its own text, or a saved template's.
    Send {
        /// The channel's name.
        channel: String,
        /// Marketing (held to consent, quiet hours and the cap; the default) or transactional;
        /// with a saved template, the template's.
        #[serde(default = "marketing")]
        class: MessageClass,
        /// A saved template's name: publishing copies its class and text into the version (the
        /// node then has no text of its own).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        saved_template: Option<String>,
        /// Subject line (e-mail), a template.
        #[serde(default)]
        subject: Option<String>,
        /// Text, a template.
        #[serde(default)]
        body: String,
        /// HTML (e-mail), a template.
        #[serde(default)]
        html: Option<String>,
        /// Structured data for the receiver (a webhook sends it).
        #[serde(default)]
        #[schema(value_type = Object)]
        data: Value,
        /// The provider's registered template (SMS template code, WeChat template id); the
        /// channel's own when left out.
        #[serde(default)]
        template: Option<String>,
        /// The registered template's parameters by name, each a template.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// The English text, for customers whose language is English.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        en: Option<Translation>,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Calls a webhook: POSTs, signed as every webhook is (docs/CHANNELS.md), the customer's id,
    /// the journey's place, `event` as the body, `data` as it is and `params` rendered for the
    /// customer, once per entry (the call's idempotency key is the entry's); held to no guardrail,
    /// as it goes to a system, not to the customer.
    Webhook {
        /// The webhook channel's name.
        channel: String,
        /// What the call is (`coupon.issue`, `crm.lead`), sent as the body.
        event: String,
        /// Data sent as it is.
        #[serde(default)]
        #[schema(value_type = Object)]
        data: Value,
        /// Values for the receiver by name, each a template over the customer.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },

    /// Adds a tag.
    AddTag {
        /// The tag's name (it must exist).
        tag: String,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Removes a tag.
    RemoveTag {
        /// The tag's name.
        tag: String,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Sets a trait.
    SetTrait {
        /// The trait's key.
        key: String,
        /// Its value.
        #[schema(value_type = Object)]
        value: Value,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Gives the customer one coupon of a template (held to the template's stock and dates, not
    /// to its per-customer claim limit), once per entry however often the step runs. A refusal —
    /// the stock gone, the template expired — is counted on the template and at the node
    /// (`refused`), and the customer goes on.
    IssueCoupon {
        /// The coupon template's id.
        coupon_template: i64,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Gives the customer extra draws in a lottery, once per entry however often the step runs.
    GrantLotteryChance {
        /// The lottery's id.
        lottery: i64,
        /// How many draws (1 to 100; default 1).
        #[serde(default = "one_chance")]
        chances: i64,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
    /// Creates a follow-up task for a customer-service agent, with the reason.
    Task {
        /// What the agent is to do, and why.
        reason: String,
        /// Then.
        #[serde(default)]
        next: Option<String>,
    },
}

impl Node {
    /// The nodes it leads to, with the name of the field that says so.
    pub fn outlets(&self) -> Vec<(String, Option<&String>)> {
        match self {
            Node::Wait { next, .. }
            | Node::WaitUntil { next, .. }
            | Node::Send { next, .. }
            | Node::Webhook { next, .. }
            | Node::AddTag { next, .. }
            | Node::RemoveTag { next, .. }
            | Node::SetTrait { next, .. }
            | Node::IssueCoupon { next, .. }
            | Node::GrantLotteryChance { next, .. }
            | Node::Task { next, .. } => vec![("next".into(), next.as_ref())],
            Node::Branch { yes, no, .. } => vec![("yes".into(), Some(yes)), ("no".into(), Some(no))],
            Node::WaitForEvent { next, timeout_next, .. } => {
                vec![("next".into(), next.as_ref()), ("timeout_next".into(), timeout_next.as_ref())]
            }
            Node::Exit {} => Vec::new(),
            Node::Split { arms } => {
                arms.iter().enumerate().map(|(i, arm)| (format!("arms.{i}.next"), arm.next.as_ref())).collect()
            }
        }
    }

    /// What a send node says.
    pub fn content(&self) -> Option<MessageContent> {
        match self {
            Node::Send { subject, body, html, data, template, params, en, .. } => Some(MessageContent {
                subject: subject.clone(),
                body: body.clone(),
                html: html.clone(),
                data: data.clone(),
                template: template.clone(),
                params: params.clone(),
                en: en.clone(),
            }),
            Node::Webhook { event, data, params, .. } => Some(MessageContent {
                body: event.clone(),
                data: data.clone(),
                params: params.clone(),
                ..MessageContent::default()
            }),
            _ => None,
        }
    }

    /// Whether the node makes the customer wait (a cycle needs one).
    pub fn waits(&self) -> bool {
        matches!(self, Node::Wait { .. } | Node::WaitUntil { .. } | Node::WaitForEvent { .. })
    }
}

/// When a customer who finished (or is on) the journey may enter it again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reentry {
    /// Once per customer, ever (per journey, whatever its version).
    #[default]
    Never,
    /// Again once `days` have passed since the last entry, when not on it now.
    AfterDays {
        /// Days.
        days: u32,
    },
    /// Whenever the trigger fires and the customer is not on it now.
    Always,
}

/// The journey's goal: the customer leaves it when the event happens, counted as a conversion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// The event's name (`Order Completed`).
    pub event: String,
}

/// A journey's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// What starts it.
    pub trigger: Trigger,
    /// The first node.
    pub start: String,
    /// The nodes by id.
    #[schema(value_type = Object)]
    pub nodes: BTreeMap<String, Node>,
    /// The goal, if any.
    #[serde(default)]
    pub goal: Option<Goal>,
    /// The re-entry policy (default: never).
    #[serde(default)]
    pub reentry: Reentry,
}

/// A journey's first wait, as [`Definition::first_wait`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstWait {
    /// How long it waits.
    pub wait: SignedDuration,
    /// Node executions of the step that starts the customer (the wait's included).
    pub start_cost: u64,
    /// The most node executions of the step that ends the wait (the wait's included).
    pub end_cost: u64,
}

impl FirstWait {
    /// What a customer costs the second its wait ends in: its start's and its end's executions.
    pub fn cost(&self) -> u64 {
        self.start_cost + self.end_cost
    }
}

/// Reads a duration: a whole number and `m`, `h`, `d` or `w` (`30m`, `3d`), from 1 minute to
/// [`MAX_WAIT_DAYS`].
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let n: i64 = text[..text.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0)?;
    let minutes = match unit {
        'm' => n,
        'h' => n.checked_mul(60)?,
        'd' => n.checked_mul(24 * 60)?,
        'w' => n.checked_mul(7 * 24 * 60)?,
        _ => return None,
    };
    (minutes <= MAX_WAIT_DAYS * 24 * 60).then(|| SignedDuration::from_mins(minutes))
}

/// The days of the week, as written.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// What a definition is checked against: the workspace's channels, tags, segments, and a checker
/// for message templates.
pub struct Known<'a> {
    /// Channel names that may carry a message of the class to customers (`None`: fine; `Some`:
    /// why not), by (channel, class).
    pub channel: &'a dyn Fn(&str, MessageClass) -> Option<String>,
    /// Tag names.
    pub tags: &'a BTreeSet<String>,
    /// Segment keys.
    pub segments: &'a BTreeSet<String>,
    /// Checks a message's content; errors under the prefix given.
    pub content: &'a dyn Fn(&str, &MessageContent) -> Vec<FieldError>,
    /// Channel names that are webhooks (`None`: fine; `Some`: why not).
    pub webhook: &'a dyn Fn(&str) -> Option<String>,
    /// Ids of the workspace's coupon templates (those the definition names, at least).
    pub coupon_templates: &'a BTreeSet<i64>,
    /// Ids of the workspace's lotteries (those the definition names, at least).
    pub lotteries: &'a BTreeSet<i64>,
}

fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_condition(at: &str, condition: &Condition, depth: usize, known: &Known, errors: &mut Vec<FieldError>) {
    if depth > MAX_CONDITION_DEPTH {
        errors.push(FieldError::new(at, format!("nests deeper than {MAX_CONDITION_DEPTH} levels")));
        return;
    }
    match condition {
        Condition::All(items) | Condition::Any(items) => {
            if items.is_empty() {
                errors.push(FieldError::new(at, "needs at least one condition"));
            }
            for (i, item) in items.iter().enumerate() {
                check_condition(&format!("{at}.{i}"), item, depth + 1, known, errors);
            }
        }
        Condition::Not(inner) => check_condition(&format!("{at}.not"), inner, depth + 1, known, errors),
        Condition::Segment(key) if !known.segments.contains(key) => {
            errors.push(FieldError::new(format!("{at}.segment"), format!("no segment \"{key}\"")));
        }
        Condition::Tag(tag) if !known.tags.contains(tag) => {
            errors.push(FieldError::new(format!("{at}.tag"), format!("no tag \"{tag}\"")));
        }
        Condition::Consent(channel) if crate::customers::consent::Channel::parse(channel).is_none() => {
            errors.push(FieldError::new(format!("{at}.consent"), format!("\"{channel}\" is not a consent channel")));
        }
        Condition::Trait(test) => {
            if !["eq", "ne", "gt", "gte", "lt", "lte", "exists"].contains(&test.op.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.trait.op"),
                    format!("\"{}\" is not one of eq, ne, gt, gte, lt, lte, exists", test.op),
                ));
            }
            if test.key.trim().is_empty() {
                errors.push(FieldError::new(format!("{at}.trait.key"), "must not be empty"));
            }
        }
        Condition::Segment(_) | Condition::Tag(_) | Condition::Consent(_) => {}
    }
}

impl Definition {
    /// Checks the whole definition against what the workspace has; every problem named by its path.
    pub fn check(&self, known: &Known) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        match &self.trigger {
            Trigger::Event { event, .. } if event.trim().is_empty() => {
                errors.push(FieldError::new("trigger.event", "must not be empty"));
            }
            Trigger::SegmentEntered { segment } | Trigger::SegmentExited { segment }
                if !known.segments.contains(segment) =>
            {
                errors.push(FieldError::new("trigger.segment", format!("no segment \"{segment}\"")));
            }
            Trigger::Broadcast { segment, at, cron } => {
                if !known.segments.contains(segment) {
                    errors.push(FieldError::new("trigger.segment", format!("no segment \"{segment}\"")));
                }
                match (at, cron) {
                    (Some(_), None) => {}
                    (None, Some(cron)) => {
                        if let Err(reason) = super::schedule::parse_cron(cron) {
                            errors.push(FieldError::new("trigger.cron", reason));
                        }
                    }
                    _ => errors.push(FieldError::new("trigger", "a broadcast needs either at or cron")),
                }
            }
            Trigger::Anniversary { key, time } => {
                if key.trim().is_empty() || key.len() > 64 {
                    errors.push(FieldError::new("trigger.trait", "must be a trait's key (1 to 64 characters)"));
                }
                if crate::channels::guardrails::QuietHours::parse(time, "00:00").is_err() {
                    errors.push(FieldError::new("trigger.time", format!("\"{time}\" is not HH:MM")));
                }
            }
            _ => {}
        }
        if self.goal.as_ref().is_some_and(|g| g.event.trim().is_empty()) {
            errors.push(FieldError::new("goal.event", "must not be empty"));
        }
        if let Reentry::AfterDays { days } = self.reentry
            && !(1..=3650).contains(&days)
        {
            errors.push(FieldError::new("reentry.days", "must be 1 to 3650"));
        }
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODES {
            errors.push(FieldError::new("nodes", format!("must hold 1 to {MAX_NODES} nodes")));
            return Err(errors);
        }
        if !self.nodes.contains_key(&self.start) {
            errors.push(FieldError::new("start", format!("no node \"{}\"", self.start)));
        }
        for (id, node) in &self.nodes {
            let at = format!("nodes.{id}");
            if !id_ok(id) {
                errors.push(FieldError::new(&at, "a node id is 1 to 64 of a-z, A-Z, 0-9, _ and -"));
            }
            for (field, target) in node.outlets() {
                if let Some(target) = target
                    && !self.nodes.contains_key(target)
                {
                    errors.push(FieldError::new(format!("{at}.{field}"), format!("no node \"{target}\"")));
                }
            }
            match node {
                Node::Wait { duration, .. } if parse_duration(duration).is_none() => errors.push(FieldError::new(
                    format!("{at}.duration"),
                    format!("\"{duration}\" is not a duration from 1m to {MAX_WAIT_DAYS}d (30m, 2h, 3d, 1w)"),
                )),
                Node::WaitForEvent { event, timeout, .. } => {
                    if event.trim().is_empty() {
                        errors.push(FieldError::new(format!("{at}.event"), "must not be empty"));
                    }
                    if parse_duration(timeout).is_none() {
                        errors.push(FieldError::new(
                            format!("{at}.timeout"),
                            format!("\"{timeout}\" is not a duration from 1m to {MAX_WAIT_DAYS}d (30m, 2h, 3d, 1w)"),
                        ));
                    }
                }
                Node::WaitUntil { time, days, .. } => {
                    if crate::channels::guardrails::QuietHours::parse(time, "00:00").is_err() {
                        errors.push(FieldError::new(format!("{at}.time"), format!("\"{time}\" is not HH:MM")));
                    }
                    for (i, day) in days.iter().enumerate() {
                        if !WEEKDAYS.contains(&day.as_str()) {
                            errors.push(FieldError::new(
                                format!("{at}.days.{i}"),
                                format!("\"{day}\" is not one of {}", WEEKDAYS.join(", ")),
                            ));
                        }
                    }
                }
                Node::Branch { condition, .. } => {
                    check_condition(&format!("{at}.condition"), condition, 1, known, &mut errors);
                }
                Node::Split { arms } => {
                    if arms.is_empty() || arms.len() > MAX_ARMS {
                        errors.push(FieldError::new(format!("{at}.arms"), format!("must hold 1 to {MAX_ARMS} arms")));
                    }
                    let total: u32 = arms.iter().map(|a| a.percent.min(100)).sum();
                    if total != 100 {
                        errors.push(FieldError::new(
                            format!("{at}.arms"),
                            format!("the shares add up to {total}, not 100"),
                        ));
                    }
                    let mut names = BTreeSet::new();
                    for (i, arm) in arms.iter().enumerate() {
                        if !id_ok(&arm.name) || !names.insert(arm.name.as_str()) {
                            errors.push(FieldError::new(format!("{at}.arms.{i}.name"), "must be a distinct name"));
                        }
                    }
                }
                Node::Send { channel, class, .. } => {
                    if let Some(reason) = (known.channel)(channel, *class) {
                        errors.push(FieldError::new(format!("{at}.channel"), reason));
                    }
                    errors.extend((known.content)(&format!("{at}."), &node.content().unwrap_or_default()));
                }
                Node::Webhook { channel, event, .. } => {
                    if let Some(reason) = (known.webhook)(channel) {
                        errors.push(FieldError::new(format!("{at}.channel"), reason));
                    }
                    if !id_ok(&event.replace('.', "_")) {
                        errors.push(FieldError::new(
                            format!("{at}.event"),
                            "must be 1 to 64 letters, digits, dots, dashes or underscores",
                        ));
                    }
                    errors.extend((known.content)(&format!("{at}."), &node.content().unwrap_or_default()));
                }
                Node::AddTag { tag, .. } | Node::RemoveTag { tag, .. } if !known.tags.contains(tag) => {
                    errors.push(FieldError::new(format!("{at}.tag"), format!("no tag \"{tag}\"")));
                }
                Node::SetTrait { key, value, .. } => {
                    if key.trim().is_empty() || key.len() > 64 {
                        errors.push(FieldError::new(format!("{at}.key"), "must be 1 to 64 characters"));
                    }
                    if value.to_string().len() > 4096 {
                        errors.push(FieldError::new(format!("{at}.value"), "is larger than 4096 bytes of JSON"));
                    }
                }
                Node::Task { reason, .. } if reason.trim().is_empty() || reason.len() > 1000 => {
                    errors.push(FieldError::new(format!("{at}.reason"), "must be 1 to 1000 characters"));
                }
                Node::IssueCoupon { coupon_template, .. } if !known.coupon_templates.contains(coupon_template) => {
                    errors.push(FieldError::new(
                        format!("{at}.coupon_template"),
                        format!("no coupon template {coupon_template}"),
                    ));
                }
                Node::GrantLotteryChance { lottery, chances, .. } => {
                    if !known.lotteries.contains(lottery) {
                        errors.push(FieldError::new(format!("{at}.lottery"), format!("no lottery {lottery}")));
                    }
                    if !(1..=100).contains(chances) {
                        errors.push(FieldError::new(format!("{at}.chances"), "must be 1 to 100"));
                    }
                }
                _ => {}
            }
        }
        // The graph's shape is checked whenever every link leads to a node, so an editor sees an
        // unreachable node or a cycle beside the other problems, not only once they are fixed.
        let linked = self.nodes.contains_key(&self.start)
            && self
                .nodes
                .values()
                .all(|node| node.outlets().iter().all(|(_, t)| t.is_none_or(|t| self.nodes.contains_key(t))));
        if linked {
            self.check_graph(&mut errors);
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The journey's first wait when every customer reaches it the same way: a `wait` of a
    /// duration with no branch, split or other wait before it. Paced starts ([`super::pace`])
    /// use it to foresee when a cohort's waits end and how much work each end brings.
    pub fn first_wait(&self) -> Option<FirstWait> {
        let mut id = self.start.as_str();
        for before in 1..=super::engine::MAX_STEPS as u64 {
            let node = self.nodes.get(id)?;
            match node {
                Node::Wait { duration, next } => {
                    let after = next.as_deref().map_or(0, |next| self.longest_run(next, &mut BTreeMap::new(), 0));
                    return Some(FirstWait {
                        wait: parse_duration(duration)?,
                        start_cost: before,
                        end_cost: 1 + after,
                    });
                }
                Node::Send { next, .. }
                | Node::Webhook { next, .. }
                | Node::AddTag { next, .. }
                | Node::RemoveTag { next, .. }
                | Node::SetTrait { next, .. }
                | Node::IssueCoupon { next, .. }
                | Node::GrantLotteryChance { next, .. }
                | Node::Task { next, .. } => id = next.as_deref()?,
                _ => return None,
            }
        }
        None
    }

    /// The most nodes a step starting at `id` executes: up to and with the next waiting node, or
    /// to the end (each node's answer kept in `memo`; no deeper than a step goes).
    fn longest_run<'a>(&'a self, id: &'a str, memo: &mut BTreeMap<&'a str, u64>, depth: usize) -> u64 {
        if depth >= super::engine::MAX_STEPS {
            return 0;
        }
        if let Some(known) = memo.get(id) {
            return *known;
        }
        let Some(node) = self.nodes.get(id) else { return 0 };
        let longest = if node.waits() {
            1
        } else {
            let mut deepest = 0;
            for (_, target) in node.outlets() {
                if let Some(target) = target {
                    deepest = deepest.max(self.longest_run(target, memo, depth + 1));
                }
            }
            1 + deepest
        };
        memo.insert(id, longest);
        longest
    }

    /// Every node reachable from the start; no cycle without a wait on it. Every link must lead to
    /// a node.
    fn check_graph(&self, errors: &mut Vec<FieldError>) {
        let mut reached = BTreeSet::new();
        let mut stack = vec![self.start.as_str()];
        while let Some(id) = stack.pop() {
            if reached.insert(id) {
                for (_, target) in self.nodes[id].outlets() {
                    if let Some(target) = target {
                        stack.push(target.as_str());
                    }
                }
            }
        }
        for id in self.nodes.keys() {
            if !reached.contains(id.as_str()) {
                errors.push(FieldError::new(format!("nodes.{id}"), "is not reachable from the start"));
            }
        }
        // A cycle among nodes that do not wait would run forever: look for one in the graph
        // without the waiting nodes (iteratively, colouring white/grey/black).
        let mut colour: BTreeMap<&str, u8> = BTreeMap::new();
        for root in self.nodes.keys() {
            if self.nodes[root].waits() || colour.contains_key(root.as_str()) {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
            colour.insert(root.as_str(), 1);
            while let Some((id, i)) = stack.pop() {
                let outlets: Vec<&str> = self.nodes[id]
                    .outlets()
                    .into_iter()
                    .filter_map(|(_, t)| t.map(String::as_str))
                    .filter(|t| !self.nodes[*t].waits())
                    .collect();
                if i < outlets.len() {
                    stack.push((id, i + 1));
                    let next = outlets[i];
                    match colour.get(next) {
                        Some(1) => {
                            errors.push(FieldError::new(
                                format!("nodes.{next}"),
                                "is on a cycle without a wait (it would run forever)",
                            ));
                            return;
                        }
                        Some(_) => {}
                        None => {
                            colour.insert(next, 1);
                            stack.push((next, 0));
                        }
                    }
                } else {
                    colour.insert(id, 2);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_check(definition: &Definition) -> Result<(), Vec<String>> {
        let tags: BTreeSet<String> = ["vip".to_string()].into();
        let segments: BTreeSet<String> = ["dormant".to_string()].into();
        let channel = |name: &str, _: MessageClass| (name != "hooks").then(|| format!("no channel \"{name}\""));
        let content = |at: &str, c: &MessageContent| {
            if c.body.contains("shoe_size") { vec![FieldError::new(format!("{at}body"), "unknown")] } else { vec![] }
        };
        let webhook = |name: &str| (name != "hooks").then(|| format!("\"{name}\" is not a webhook channel"));
        let (coupon_templates, lotteries) = (BTreeSet::from([7]), BTreeSet::from([3]));
        let known = Known {
            channel: &channel,
            tags: &tags,
            segments: &segments,
            content: &content,
            webhook: &webhook,
            coupon_templates: &coupon_templates,
            lotteries: &lotteries,
        };
        definition.check(&known).map_err(|errors| errors.into_iter().map(|e| e.field).collect())
    }

    fn definition(nodes: Value) -> Definition {
        serde_json::from_value(serde_json::json!({
            "trigger": {"type": "segment_entered", "segment": "dormant"},
            "start": "a",
            "nodes": nodes,
        }))
        .unwrap()
    }

    #[test]
    fn a_good_journey_passes() {
        let d = definition(serde_json::json!({
            "a": {"type": "wait", "duration": "1d", "next": "b"},
            "b": {"type": "branch", "condition": {"all": [{"tag": "vip"}, {"consent": "sms"}]}, "yes": "c", "no": "end"},
            "end": {"type": "exit"},
            "c": {"type": "split", "arms": [{"name": "a", "percent": 90, "next": "d"}, {"name": "control", "percent": 10}]},
            "d": {"type": "send", "channel": "hooks", "class": "marketing", "body": "hi", "next": "a"},
        }));
        assert_eq!(known_check(&d), Ok(()));
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let d = definition(serde_json::json!({
            "a": {"type": "wait", "duration": "0d", "next": "missing"},
            "b": {"type": "send", "channel": "sms", "class": "marketing", "body": "{{ customer.traits.shoe_size }}"},
            "c": {"type": "split", "arms": [{"name": "x", "percent": 50}]},
            "d": {"type": "add_tag", "tag": "nope"},
        }));
        assert_eq!(
            known_check(&d).unwrap_err(),
            ["nodes.a.next", "nodes.a.duration", "nodes.b.channel", "nodes.b.body", "nodes.c.arms", "nodes.d.tag"]
        );
    }

    #[test]
    fn campaign_actions_name_what_the_workspace_has() {
        let d = definition(serde_json::json!({
            "a": {"type": "issue_coupon", "coupon_template": 7, "next": "b"},
            "b": {"type": "grant_lottery_chance", "lottery": 3, "chances": 2},
        }));
        assert_eq!(known_check(&d), Ok(()));
        let d = definition(serde_json::json!({
            "a": {"type": "issue_coupon", "coupon_template": 8, "next": "b"},
            "b": {"type": "grant_lottery_chance", "lottery": 4, "chances": 0},
        }));
        assert_eq!(known_check(&d).unwrap_err(), ["nodes.a.coupon_template", "nodes.b.lottery", "nodes.b.chances"]);
    }

    #[test]
    fn unreachable_nodes_and_cycles_without_a_wait_are_refused() {
        let d = definition(serde_json::json!({
            "a": {"type": "add_tag", "tag": "vip", "next": "b"},
            "b": {"type": "wait", "duration": "1h", "next": "a"},
            "lost": {"type": "task", "reason": "call"},
        }));
        assert_eq!(known_check(&d).unwrap_err(), ["nodes.lost"]);
        let d = definition(serde_json::json!({
            "a": {"type": "add_tag", "tag": "vip", "next": "b"},
            "b": {"type": "remove_tag", "tag": "vip", "next": "a"},
        }));
        assert_eq!(known_check(&d).unwrap_err(), ["nodes.a"]);
    }

    #[test]
    fn the_first_wait_is_found_with_what_its_end_runs() {
        let journey = definition(serde_json::json!({
            "tag": {"type": "add_tag", "tag": "vip", "next": "wait"},
            "wait": {"type": "wait", "duration": "2h", "next": "check"},
            "check": {"type": "branch", "condition": {"segment": "dormant"}, "yes": "send", "no": "end"},
            "send": {"type": "send", "channel": "hooks", "body": "hi", "next": "later"},
            "later": {"type": "wait", "duration": "1d", "next": "end"},
            "end": {"type": "exit"},
        }));
        let journey = Definition { start: "tag".into(), ..journey };
        let found = journey.first_wait().expect("a first wait");
        assert_eq!(found.wait, SignedDuration::from_hours(2));
        // tag + wait; then wait, check, send, later (the no side: wait, check, end).
        assert_eq!((found.start_cost, found.end_cost), (2, 4));
        // A branch before the first wait: customers do not all reach it.
        let branching = Definition { start: "check".into(), ..journey.clone() };
        assert_eq!(branching.first_wait(), None);
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_duration("30m"), Some(SignedDuration::from_mins(30)));
        assert_eq!(parse_duration("3d"), Some(SignedDuration::from_hours(72)));
        assert_eq!(parse_duration("1w"), Some(SignedDuration::from_hours(168)));
        for bad in ["", "d", "0h", "-1d", "367d", "5s", "1.5h", "99999999999999w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
