//! A journey's graph as SVG, drawn on the server: the trigger, then each node in the column of its
//! distance from the start (nodes no path reaches in a last column), with its kind, what it does
//! and its counts; arrows labelled by outlet (yes / no, an arm and its share, happened / timed
//! out). Nodes with a problem are drawn red. At most [`siyu_domain::journeys::definition::MAX_NODES`] nodes, so
//! the drawing is bounded.

use super::i18n::Text;
use siyu_domain::journeys::definition::{MAX_ARMS, MAX_NODES};
use siyu_domain::journeys::{Condition, Definition, Node};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write;

const BOX_W: i64 = 200;
const BOX_H: i64 = 96;
const COL_W: i64 = 270;
const ROW_H: i64 = 124;
const PAD: i64 = 24;
/// The longest line a box shows, in characters.
const LINE: usize = 26;

/// Escapes text for SVG/HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn clip(text: &str) -> String {
    clip_to(text, LINE)
}

fn clip_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The words for a node's kind.
pub(crate) fn kind_words(t: &Text, node: &Node) -> &'static str {
    match node {
        Node::Wait { .. } => t.node_wait,
        Node::WaitUntil { .. } => t.node_wait_until,
        Node::WaitForEvent { .. } => t.node_wait_for_event,
        Node::Branch { .. } => t.node_branch,
        Node::Split { .. } => t.node_split,
        Node::Send { .. } => t.node_send,
        Node::Webhook { .. } => t.node_webhook,
        Node::AddTag { .. } => t.node_add_tag,
        Node::RemoveTag { .. } => t.node_remove_tag,
        Node::SetTrait { .. } => t.node_set_trait,
        Node::Task { .. } => t.node_task,
        Node::IssueCoupon { .. } => t.node_issue_coupon,
        Node::GrantLotteryChance { .. } => t.node_grant_lottery_chance,
        Node::Exit {} => t.node_exit,
    }
}

fn kind_class(node: &Node) -> &'static str {
    match node {
        Node::Wait { .. } | Node::WaitUntil { .. } | Node::WaitForEvent { .. } => "wait",
        Node::Branch { .. } | Node::Split { .. } => "branch",
        Node::Exit {} => "exit",
        _ => "action",
    }
}

fn condition_words(t: &Text, condition: &Condition) -> String {
    let join = |items: &[Condition], with: &str| {
        let parts: Vec<String> = items.iter().map(|c| condition_words(t, c)).collect();
        format!("({})", parts.join(with))
    };
    match condition {
        Condition::All(items) => join(items, " & "),
        Condition::Any(items) => join(items, " | "),
        Condition::Not(inner) => format!("¬{}", condition_words(t, inner)),
        Condition::Segment(key) => format!("{} {key}", t.field_segment),
        Condition::Tag(tag) => format!("{} {tag}", t.field_tag),
        Condition::Consent(channel) => format!("{} {channel}", t.cond_consent),
        Condition::Trait(test) => {
            let op = match test.op.as_str() {
                "eq" => "=",
                "ne" => "≠",
                "gt" => ">",
                "gte" => "≥",
                "lt" => "<",
                "lte" => "≤",
                other => other,
            };
            if test.op == "exists" { format!("∃ {}", test.key) } else { format!("{} {op} {}", test.key, test.value) }
        }
    }
}

/// One line saying what a node does.
pub(crate) fn summary(t: &Text, node: &Node) -> String {
    match node {
        Node::Wait { duration, .. } => duration.clone(),
        Node::WaitUntil { time, days, .. } if days.is_empty() => time.clone(),
        Node::WaitUntil { time, days, .. } => format!("{time} · {}", days.join(" ")),
        Node::WaitForEvent { event, timeout, .. } => format!("{event} ≤ {timeout}"),
        Node::Branch { condition, .. } => condition_words(t, condition),
        Node::Split { arms } => {
            arms.iter().map(|a| format!("{} {}%", a.name, a.percent)).collect::<Vec<_>>().join(" · ")
        }
        // The text quoted (and clipped inside its quotes): the operator's words, not the console's.
        // A saved template by its name.
        Node::Send { channel, saved_template: Some(name), .. } => {
            format!("{channel} · “{}”", clip_to(name, LINE.saturating_sub(channel.chars().count() + 5)))
        }
        Node::Send { channel, body, .. } => {
            format!("{channel} · “{}”", clip_to(body, LINE.saturating_sub(channel.chars().count() + 5)))
        }
        Node::Webhook { channel, event, .. } => format!("{channel} · {event}"),
        Node::AddTag { tag, .. } | Node::RemoveTag { tag, .. } => tag.clone(),
        Node::SetTrait { key, value, .. } => format!("{key} = {value}"),
        Node::Task { reason, .. } => reason.clone(),
        Node::IssueCoupon { coupon_template, .. } => format!("#{coupon_template}"),
        Node::GrantLotteryChance { lottery, chances, .. } => format!("#{lottery} × {chances}"),
        Node::Exit {} => String::new(),
    }
}

/// The label of an outlet's arrow.
fn outlet_words(t: &Text, node: &Node, field: &str) -> String {
    match (node, field) {
        (Node::Branch { .. }, "yes") => t.outlet_yes.into(),
        (Node::Branch { .. }, "no") => t.outlet_no.into(),
        (Node::WaitForEvent { .. }, "next") => t.outlet_happened.into(),
        (Node::WaitForEvent { .. }, _) => t.outlet_timeout.into(),
        (Node::Split { arms }, field) => field
            .strip_prefix("arms.")
            .and_then(|rest| rest.split('.').next())
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| arms.get(i))
            .map(|arm| format!("{} {}%", arm.name, arm.percent))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The counts a box shows, in order, with their words.
fn count_lines(t: &Text, counts: Option<&BTreeMap<String, i64>>) -> Vec<String> {
    let Some(counts) = counts else { return vec![format!("{} 0", t.count_entered)] };
    let words = [
        ("entered", t.count_entered),
        ("waiting", t.count_waiting),
        ("passed", t.count_passed),
        ("sent", t.count_sent),
        ("delivered", t.count_delivered),
        ("undelivered", t.count_undelivered),
        ("failed", t.count_failed),
        ("blocked", t.count_blocked),
        ("timed_out", t.count_timed_out),
        ("refused", t.count_refused),
        ("dry_run", t.count_dry_run),
    ];
    let shown: Vec<String> = words
        .iter()
        .filter(|(key, _)| *key == "entered" || counts.get(*key).is_some_and(|n| *n > 0))
        .map(|(key, word)| format!("{word} {}", counts.get(*key).copied().unwrap_or(0)))
        .collect();
    shown.chunks(3).map(|chunk| chunk.join(" · ")).collect()
}

/// Places each node: its column (distance from the start; unreachable nodes after the farthest)
/// and row.
fn layout(definition: &Definition) -> (Vec<(String, i64, i64)>, BTreeSet<String>) {
    let mut depth: HashMap<&str, i64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut queue = VecDeque::new();
    if definition.nodes.contains_key(&definition.start) {
        depth.insert(&definition.start, 0);
        queue.push_back(definition.start.as_str());
    }
    while let Some(id) = queue.pop_front() {
        order.push(id);
        let here = depth[id];
        for (_, target) in definition.nodes[id].outlets() {
            if let Some(target) = target
                && let Some((key, _)) = definition.nodes.get_key_value(target)
                && !depth.contains_key(key.as_str())
            {
                depth.insert(key, here + 1);
                queue.push_back(key);
            }
        }
    }
    let last = depth.values().copied().max().map_or(0, |d| d + 1);
    let mut lost = BTreeSet::new();
    for id in definition.nodes.keys() {
        if !depth.contains_key(id.as_str()) {
            depth.insert(id, last);
            order.push(id);
            lost.insert(id.clone());
        }
    }
    let mut rows: HashMap<i64, i64> = HashMap::new();
    let placed = order
        .into_iter()
        .map(|id| {
            let column = depth[id] + 1;
            let row = rows.entry(column).or_default();
            let place = (id.to_string(), column, *row);
            *row += 1;
            place
        })
        .collect();
    (placed, lost)
}

/// Draws the graph: `counts` by node (as the journey's stats give them), `problems` the ids of
/// nodes with a problem, `trigger` the trigger in words.
pub(crate) fn draw(
    t: &Text,
    definition: &Definition,
    trigger: &str,
    counts: &BTreeMap<String, BTreeMap<String, i64>>,
    problems: &BTreeSet<String>,
) -> String {
    // A graph past the limits is refused by the check; drawing it would only cost memory.
    let too_big = definition.nodes.len() > MAX_NODES
        || definition.nodes.values().any(|node| matches!(node, Node::Split { arms } if arms.len() > MAX_ARMS));
    if too_big {
        return String::new();
    }
    let (placed, lost) = layout(definition);
    let columns = placed.iter().map(|(_, c, _)| *c).max().unwrap_or(0) + 1;
    let rows = placed.iter().map(|(_, _, r)| *r).max().map_or(1, |r| r + 1);
    let (width, height) = (PAD * 2 + (columns - 1) * COL_W + BOX_W, PAD * 2 + (rows - 1) * ROW_H + BOX_H + 20);
    let at: HashMap<&str, (i64, i64)> =
        placed.iter().map(|(id, c, r)| (id.as_str(), (PAD + c * COL_W, PAD + r * ROW_H))).collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{}">"#,
        escape(t.journey_graph)
    );
    svg.push_str(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>"#,
    );
    // The trigger, and its arrow to the start.
    let _ = write!(
        svg,
        r#"<g class="jtrigger"><rect x="{PAD}" y="{PAD}" width="{BOX_W}" height="{BOX_H}" rx="10"/><text x="{}" y="{}" class="kind">{}</text><text x="{}" y="{}">{}</text></g>"#,
        PAD + 12,
        PAD + 26,
        escape(t.journey_trigger),
        PAD + 12,
        PAD + 50,
        escape(&clip(trigger))
    );
    if let Some((x, y)) = at.get(definition.start.as_str()) {
        edge(&mut svg, (PAD + BOX_W, PAD + BOX_H / 2), (*x, y + BOX_H / 2), "", false);
    }
    // Arrows under the boxes.
    for (id, node) in &definition.nodes {
        let Some(&(x, y)) = at.get(id.as_str()) else { continue };
        let outlets = node.outlets();
        let spread = outlets.len() as i64;
        for (i, (field, target)) in outlets.iter().enumerate() {
            let Some(&(tx, ty)) = target.and_then(|target| at.get(target.as_str())) else { continue };
            // Outlets leave the box's right side spread out, top to bottom.
            let from_y = y + BOX_H * (i as i64 + 1) / (spread + 1);
            let back = tx <= x;
            edge(&mut svg, (x + BOX_W, from_y), (tx, ty + BOX_H / 2), &outlet_words(t, node, field), back);
        }
    }
    for (id, node) in &definition.nodes {
        let Some(&(x, y)) = at.get(id.as_str()) else { continue };
        let mut class = format!("jnode {}", kind_class(node));
        if problems.contains(id) {
            class.push_str(" problem");
        }
        if lost.contains(id) {
            class.push_str(" lost");
        }
        let _ = write!(
            svg,
            r#"<g class="{class}" data-node="{}" tabindex="0"><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>"#,
            escape(id)
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="id">{}</text><text x="{}" y="{}" class="kind">{}</text>"#,
            x + 10,
            y + 20,
            escape(&clip_to(id, 14)),
            x + BOX_W - 10,
            y + 20,
            escape(kind_words(t, node))
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="what">{}</text>"#,
            x + 10,
            y + 42,
            escape(&clip(&summary(t, node)))
        );
        for (i, line) in count_lines(t, counts.get(id)).iter().enumerate() {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" class="counts">{}</text>"#,
                x + 10,
                y + 64 + 18 * i as i64,
                escape(line)
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// An arrow from `from` to `to` with its label; an arrow back to an earlier column loops under the
/// boxes.
fn edge(svg: &mut String, from: (i64, i64), to: (i64, i64), label: &str, back: bool) {
    let ((x1, y1), (x2, y2)) = (from, to);
    let (path, (lx, ly)) = if back {
        let below = y1.max(y2) + BOX_H / 2 + 20;
        (
            format!(
                "M{x1},{y1} C{},{y1} {},{below} {},{below} S{},{y2} {x2},{y2}",
                x1 + 40,
                x1 + 40,
                (x1 + x2) / 2,
                x2 - 60
            ),
            ((x1 + x2) / 2, below),
        )
    } else {
        let mid = (x1 + x2) / 2;
        (format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"), (mid, (y1 + y2) / 2))
    };
    let _ = write!(svg, r#"<path class="edge" d="{path}" marker-end="url(#arrow)"/>"#);
    if !label.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="edge-label" x="{lx}" y="{}" text-anchor="middle">{}</text>"#,
            ly - 4,
            escape(label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    fn definition(value: serde_json::Value) -> Definition {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn nodes_are_placed_by_distance_and_the_unreachable_last() {
        let d = definition(serde_json::json!({
            "trigger": {"type": "api"}, "start": "a",
            "nodes": {
                "a": {"type": "wait", "duration": "1d", "next": "b"},
                "b": {"type": "branch", "condition": {"tag": "vip"}, "yes": "c", "no": "d"},
                "c": {"type": "exit"}, "d": {"type": "wait", "duration": "1d", "next": "a"},
                "lost": {"type": "exit"},
            },
        }));
        let (placed, lost) = layout(&d);
        let column = |id: &str| placed.iter().find(|(n, _, _)| n == id).unwrap().1;
        assert_eq!([column("a"), column("b"), column("c"), column("d"), column("lost")], [1, 2, 3, 3, 4]);
        assert_eq!(lost.into_iter().collect::<Vec<_>>(), ["lost"]);
        let t = Lang::Zh.text();
        let svg = draw(t, &d, "API", &BTreeMap::new(), &["b".to_string()].into());
        assert!(svg.contains(r#"class="jnode branch problem" data-node="b""#), "{svg}");
        assert!(svg.contains(r#"class="jnode exit lost" data-node="lost""#));
        assert!(svg.contains(">是<") && svg.contains(">否<"), "outlets are labelled");
    }

    #[test]
    fn a_graph_past_the_limits_is_not_drawn() {
        let nodes: serde_json::Map<String, serde_json::Value> =
            (0..=MAX_NODES).map(|i| (format!("n{i}"), serde_json::json!({"type": "exit"}))).collect();
        let d = definition(serde_json::json!({"trigger": {"type": "api"}, "start": "n0", "nodes": nodes}));
        assert_eq!(draw(Lang::En.text(), &d, "API", &BTreeMap::new(), &BTreeSet::new()), "");
    }

    #[test]
    fn text_is_escaped_and_clipped() {
        let d = definition(serde_json::json!({
            "trigger": {"type": "api"}, "start": "a",
            "nodes": {"a": {"type": "task", "reason": "<script>alert(1)</script> and a very long reason indeed"}},
        }));
        let svg = draw(Lang::En.text(), &d, "<b>", &BTreeMap::new(), &BTreeSet::new());
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains('…'));
    }
}
