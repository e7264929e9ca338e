//! Tests of checks and evaluation.

use super::*;
use crate::events::EventIndex;
use language::{Condition, parse};
use siyu_analytics::props::PropTable;
use std::collections::HashMap;
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
