//! Fuzzes the segment language: any text is parsed (never deeper than the limit), checked and
//! evaluated over empty facts; what parses prints to text that parses back to the same tree, and
//! to JSON that reads back the same. Any text is also read as the JSON form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use siyu_domain::events::EventIndex;
use siyu_domain::segments::language::{self, Condition, MAX_DEPTH};
use siyu_domain::segments::{Evaluation, Known, Node, ProfileFacts, check};
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(tree) = language::parse(text) {
        assert!(tree.depth() <= MAX_DEPTH, "parsed {} levels", tree.depth());
        let printed = language::print(&tree);
        let again = language::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
        assert_eq!(again, tree, "{printed:?}");
        let json = serde_json::to_string(&tree).expect("a tree serialises");
        let read: Condition = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json} does not read: {e}"));
        assert_eq!(read, tree, "{json}");
        exercise(&tree);
    }
    if let Ok(tree) = serde_json::from_str::<Condition>(text) {
        assert!(tree.depth() <= MAX_DEPTH, "read {} levels", tree.depth());
        let _ = language::print(&tree);
        exercise(&language::normalize(tree));
    }
});

/// Checks and evaluates a tree over an empty workspace that has one segment, `s`, defined as it.
fn exercise(tree: &Condition) {
    let index = EventIndex {
        names: Default::default(),
        props: Default::default(),
        columns: Default::default(),
        unindexed_events: 0,
    };
    let mut facts = ProfileFacts::default();
    facts.add_customer(1);
    let segments: HashMap<String, Condition> = [("s".to_string(), tree.clone())].into();
    let known = Known { events: &index, facts: &facts, segments: &segments };
    let checked = check(tree, None, &known);
    if !checked.errors.is_empty() {
        return;
    }
    let evaluation = Evaluation { facts: &facts, events: &index, models: None, segments: &segments, now_us: 0 };
    let members = evaluation.members(tree);
    let node = Node::compile(tree, &segments, &index);
    assert_eq!(node.holds(1, &[], &evaluation), members.contains(1), "{}", language::print(tree));
}
