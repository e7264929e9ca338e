//! The paths page: what customers did after (or before) an event, step by step, as an ECharts
//! Sankey diagram of the largest flows and a table of every flow.

use super::{Tab, answer, grouped, percent, rejected, tabs, unindexed_note};
use crate::AppState;
use crate::console::i18n::Text;
use crate::console::page::{Choice, Chrome, FieldMessage, render};
use crate::console::session::{Console, FormData};
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use siyu_domain::DomainError;
use siyu_domain::events::analytics::{PathLink, PathsAnswer};
use std::collections::{BTreeMap, HashSet};

/// The most flows the chart draws out of one step: more make a Sankey diagram unreadable.
const CHART_LINKS_PER_STEP: usize = 8;
/// The most flows the table lists for one step.
const TABLE_LINKS_PER_STEP: usize = 100;
/// The depths the form offers (the domain accepts the same).
const DEPTHS: std::ops::RangeInclusive<usize> = 1..=10;
/// How many event names the form suggests.
const SUGGESTED_EVENTS: usize = 500;

/// One flow in the table.
struct PathRow {
    /// The step of `from` (0: the anchor event).
    step: usize,
    /// "Step n", n counting from the anchor to `to`.
    label: String,
    from: String,
    to: String,
    customers: u64,
    share: String,
}

#[derive(Template)]
#[template(path = "analytics_paths.html")]
struct PathsPage {
    t: &'static Text,
    chrome: Chrome,
    tabs: Vec<Tab>,
    event: String,
    directions: Vec<Choice>,
    depths: Vec<Choice>,
    known_events: Vec<String>,
    no_events: bool,
    unindexed: Option<String>,
    errors: Vec<FieldMessage>,
    /// Whether the query was answered (the summary and the table are shown).
    answered: bool,
    summary: String,
    previous: bool,
    rows: Vec<PathRow>,
    table_cut: Option<String>,
    chart: String,
    chart_note: String,
}

/// Returns the flows the chart shows: for each step, the largest [`CHART_LINKS_PER_STEP`] out of
/// the events the chart reached at that step, so every node but the anchor has a flow into it.
fn chart_links(answer: &PathsAnswer) -> Vec<&PathLink> {
    let mut reached: HashSet<&str> = HashSet::from([answer.event.as_str()]);
    let mut kept = Vec::new();
    let mut step = 0;
    while !reached.is_empty() {
        let mut flows: Vec<&PathLink> =
            answer.links.iter().filter(|link| link.step == step && reached.contains(link.from.as_str())).collect();
        // The answer lists flows most frequent first already; a stable sort keeps its tie order.
        flows.sort_by_key(|link| std::cmp::Reverse(link.customers));
        flows.truncate(CHART_LINKS_PER_STEP);
        reached = flows.iter().map(|link| link.to.as_str()).collect();
        kept.extend(flows);
        step += 1;
    }
    kept
}

/// Names a Sankey node after its step and event, so an event met at two steps makes two nodes and
/// the graph has no cycle: `2 · Product Added`, or `-2 · Product Added` two steps before the anchor.
fn node_name(previous: bool, step: usize, event: &str) -> String {
    if previous && step > 0 { format!("-{step} · {event}") } else { format!("{step} · {event}") }
}

/// Returns the `data-chart` JSON of the Sankey diagram; time runs left to right in both directions.
fn sankey_chart(t: &Text, answer: &PathsAnswer) -> String {
    let previous = answer.direction == "previous";
    let flows = chart_links(answer);
    let deepest = flows.iter().map(|link| link.step + 1).max().unwrap_or(0);
    // Columns from the left: the anchor first when looking ahead, last when looking back.
    let column = |step: usize| if previous { deepest - step } else { step };
    let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut links = Vec::with_capacity(flows.len());
    for link in flows {
        let from = (node_name(previous, link.step, &link.from), column(link.step));
        let to = (node_name(previous, link.step + 1, &link.to), column(link.step + 1));
        let (source, target) = if previous { (to, from) } else { (from, to) };
        links.push(json!({"source": source.0, "target": target.0, "value": link.customers}));
        nodes.insert(source.0, source.1);
        nodes.insert(target.0, target.1);
    }
    let nodes: Vec<Value> = nodes.into_iter().map(|(name, depth)| json!({"name": name, "depth": depth})).collect();
    json!({
        "type": "sankey",
        "series": t.col_customers,
        "align": if previous { "right" } else { "left" },
        "nodes": nodes,
        "links": links,
    })
    .to_string()
}

/// Returns the table's rows (at most [`TABLE_LINKS_PER_STEP`] a step) and whether some were left out.
fn table_rows(t: &Text, answer: &PathsAnswer) -> (Vec<PathRow>, bool) {
    let mut per_step: BTreeMap<usize, usize> = BTreeMap::new();
    let mut cut = false;
    let mut rows = Vec::new();
    for link in &answer.links {
        let listed = per_step.entry(link.step).or_default();
        if *listed == TABLE_LINKS_PER_STEP {
            cut = true;
            continue;
        }
        *listed += 1;
        let share = if answer.customers == 0 { 0.0 } else { link.customers as f64 / answer.customers as f64 };
        rows.push(PathRow {
            step: link.step,
            label: Text::fill(t.step_n, link.step + 1),
            from: link.from.clone(),
            to: link.to.clone(),
            customers: link.customers,
            share: percent(share),
        });
    }
    (rows, cut)
}

/// GET /analytics/paths?event=X&direction=next&depth=3: the flows from each customer's anchor event,
/// `depth` steps ahead (or back).
pub(crate) async fn show_paths(State(app): State<AppState>, console: Console, RawQuery(raw): RawQuery) -> Response {
    let index = match app.services.events.event_index(&console.principal).await {
        Ok(index) => index,
        Err(error) => return console.fail(error),
    };
    let t = console.t();
    let params = FormData::query(raw);
    let names = index.names.names();
    // Without an event, the workspace's first one is where paths start.
    let event = params.get_or("event", names.first().map_or("", String::as_str));
    let direction = params.get_or("direction", "next");
    let depth = params.get_or("depth", "3");
    let directions = [("next", t.direction_next), ("previous", t.direction_previous)]
        .into_iter()
        .map(|(value, label)| Choice::new(value, label, &direction))
        .collect();
    let mut depths: Vec<Choice> = DEPTHS.map(|d| Choice::new(d.to_string(), d.to_string(), &depth)).collect();
    if !depths.iter().any(|choice| choice.selected) {
        depths.push(Choice::new(depth.clone(), depth.clone(), &depth));
    }
    let mut page = PathsPage {
        t,
        chrome: Chrome::new(&console, "analytics"),
        tabs: tabs(t, "paths"),
        event: event.clone(),
        directions,
        depths,
        known_events: names.iter().take(SUGGESTED_EVENTS).cloned().collect(),
        no_events: names.is_empty(),
        unindexed: unindexed_note(t, &index),
        errors: Vec::new(),
        answered: false,
        summary: String::new(),
        previous: direction == "previous",
        rows: Vec::new(),
        table_cut: None,
        chart: String::new(),
        chart_note: Text::fill(t.paths_chart_note, CHART_LINKS_PER_STEP),
    };
    if page.no_events {
        return render(StatusCode::OK, &page);
    }
    let result = match depth.parse::<usize>() {
        Ok(depth) => answer(&index, move |index| index.paths(&event, &direction, depth)).await,
        Err(_) => Err(DomainError::invalid("depth", format!("\"{depth}\": expected a whole number from 1 to 10"))),
    };
    match result {
        Ok(found) => {
            let (rows, cut) = table_rows(t, &found);
            page.answered = true;
            page.summary = Text::fill2(t.paths_customers, &found.event, grouped(found.customers));
            page.rows = rows;
            page.table_cut = cut.then(|| Text::fill(t.paths_table_cut, TABLE_LINKS_PER_STEP));
            if !found.links.is_empty() {
                page.chart = sankey_chart(t, &found);
            }
            render(StatusCode::OK, &page)
        }
        Err(error) => rejected(&console, error, |errors| PathsPage { errors, ..page }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::i18n::Lang;

    fn link(step: usize, from: &str, to: &str, customers: u64) -> PathLink {
        PathLink { step, from: from.into(), to: to.into(), customers }
    }

    /// Anchor A; step 0 has ten flows out of A, the smallest two to K and L; step 1 leaves K.
    fn answer(direction: &str) -> PathsAnswer {
        let mut links: Vec<PathLink> =
            "BCDEFGHIKL".chars().enumerate().map(|(i, to)| link(0, "A", &to.to_string(), 100 - i as u64)).collect();
        links.extend([link(1, "B", "A", 50), link(1, "K", "B", 40), link(1, "C", "B", 30), link(2, "A", "B", 20)]);
        PathsAnswer { event: "A".into(), direction: direction.into(), customers: 200, links }
    }

    #[test]
    fn the_chart_keeps_the_largest_flows_out_of_reached_events() {
        let answer = answer("next");
        let kept: Vec<(usize, &str, &str)> =
            chart_links(&answer).iter().map(|l| (l.step, l.from.as_str(), l.to.as_str())).collect();
        assert_eq!(kept.iter().filter(|(step, _, _)| *step == 0).count(), CHART_LINKS_PER_STEP);
        assert!(!kept.contains(&(0, "A", "K")), "K is the ninth flow of step 0");
        assert!(!kept.contains(&(1, "K", "B")), "so nothing leaves K in the chart");
        assert!(kept.contains(&(1, "B", "A")) && kept.contains(&(1, "C", "B")) && kept.contains(&(2, "A", "B")));
    }

    #[test]
    fn sankey_nodes_are_unique_per_step_and_every_link_moves_one_column() {
        for direction in ["next", "previous"] {
            let chart: Value = serde_json::from_str(&sankey_chart(Lang::En.text(), &answer(direction))).unwrap();
            let nodes = chart["nodes"].as_array().unwrap();
            let depth: BTreeMap<&str, u64> =
                nodes.iter().map(|n| (n["name"].as_str().unwrap(), n["depth"].as_u64().unwrap())).collect();
            assert_eq!(depth.len(), nodes.len(), "{direction}: node names are unique");
            assert!(depth.contains_key("0 · A"), "{direction}: the anchor");
            assert!(depth.contains_key(if direction == "next" { "2 · A" } else { "-2 · A" }), "{direction}");
            // Every link goes one column to the right, so the graph has no cycle.
            for link in chart["links"].as_array().unwrap() {
                let (source, target) = (link["source"].as_str().unwrap(), link["target"].as_str().unwrap());
                assert_eq!(depth[target], depth[source] + 1, "{direction}: {source} → {target}");
            }
            assert_eq!(chart["align"], if direction == "next" { "left" } else { "right" });
        }
        let chart: Value = serde_json::from_str(&sankey_chart(Lang::En.text(), &answer("previous"))).unwrap();
        let first = &chart["links"][0];
        assert_eq!((first["source"].as_str(), first["target"].as_str()), (Some("-1 · B"), Some("0 · A")));
    }

    #[test]
    fn the_table_lists_every_flow_with_its_share() {
        let (rows, cut) = table_rows(Lang::En.text(), &answer("next"));
        assert_eq!((rows.len(), cut), (14, false));
        assert_eq!((rows[0].to.as_str(), rows[0].share.as_str(), rows[0].label.as_str()), ("B", "50.0%", "Step 1"));
    }
}
