//! What segments test about profiles ([`ProfileFacts`]): read from the store in one scan, then
//! kept current by replacing the facts of the customers whose profiles changed. Bitmaps are
//! rebuilt by set operations; trait columns are chunked so that a change copies one chunk, not the
//! column ([`TraitColumn`]).

use crate::customers::IdentityKind;
use crate::customers::consent::{Channel, Purpose};
use roaring::RoaringTreemap;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What segments test about profiles, for every live customer of a workspace: tags, identity kinds,
/// current consent grants and plain traits.
#[derive(Clone, Debug, Default)]
pub struct ProfileFacts {
    /// Every live customer.
    pub all: RoaringTreemap,
    /// Customers per tag name.
    pub tags: HashMap<String, RoaringTreemap>,
    /// Customers per identity kind.
    pub identities: HashMap<IdentityKind, RoaringTreemap>,
    /// Customers whose latest consent for (purpose, channel) is a grant.
    pub consent: HashMap<(Purpose, Channel), RoaringTreemap>,
    /// Plain trait values per key (sorted by customer once [`ProfileFacts::sort`]ed).
    pub traits: HashMap<String, TraitColumn>,
}

impl ProfileFacts {
    /// Adds a live customer.
    pub fn add_customer(&mut self, customer: i64) {
        self.all.insert(customer as u64);
    }

    /// Adds a plain trait of a customer (in any order; [`ProfileFacts::sort`] before use).
    pub fn add_trait(&mut self, customer: i64, key: &str, value: Value) {
        self.traits.entry(key.to_string()).or_default().push(customer as u64, value);
    }

    /// Adds a tag of a customer.
    pub fn add_tag(&mut self, customer: i64, tag: &str) {
        self.tags.entry(tag.to_string()).or_default().insert(customer as u64);
    }

    /// Adds an identity kind of a customer.
    pub fn add_identity(&mut self, customer: i64, kind: IdentityKind) {
        self.identities.entry(kind).or_default().insert(customer as u64);
    }

    /// Applies a consent record; records must come in the order they were made (the latest wins).
    pub fn apply_consent(&mut self, customer: i64, purpose: Purpose, channel: Channel, granted: bool) {
        let set = self.consent.entry((purpose, channel)).or_default();
        if granted {
            set.insert(customer as u64);
        } else {
            set.remove(customer as u64);
        }
    }

    /// Sorts the trait columns by customer (after the facts were read).
    pub fn sort(&mut self) {
        for column in self.traits.values_mut() {
            column.sort();
        }
    }

    /// The trait column of `key`, if any customer has it.
    pub fn trait_column(&self, key: &str) -> Option<&TraitColumn> {
        self.traits.get(key)
    }

    /// Returns these facts with those of `customers` replaced by `fresh` (their facts read anew:
    /// a customer absent from `fresh` is no longer live). Trait chunks the changes do not reach
    /// are shared with `self`.
    pub fn replaced(&self, customers: &RoaringTreemap, mut fresh: ProfileFacts) -> ProfileFacts {
        fresh.sort();
        let bitmaps = |old: &RoaringTreemap, new: Option<&RoaringTreemap>| match new {
            Some(new) => (old - customers) | new,
            None => old - customers,
        };
        let all = bitmaps(&self.all, Some(&fresh.all));
        let mut tags: HashMap<String, RoaringTreemap> =
            self.tags.iter().map(|(k, v)| (k.clone(), bitmaps(v, fresh.tags.get(k)))).collect();
        let mut identities: HashMap<IdentityKind, RoaringTreemap> =
            self.identities.iter().map(|(k, v)| (*k, bitmaps(v, fresh.identities.get(k)))).collect();
        let mut consent: HashMap<(Purpose, Channel), RoaringTreemap> =
            self.consent.iter().map(|(k, v)| (*k, bitmaps(v, fresh.consent.get(k)))).collect();
        for (k, v) in fresh.tags {
            tags.entry(k).or_insert(v);
        }
        for (k, v) in fresh.identities {
            identities.entry(k).or_insert(v);
        }
        for (k, v) in fresh.consent {
            consent.entry(k).or_insert(v);
        }
        let mut traits = HashMap::with_capacity(self.traits.len());
        for (key, column) in &self.traits {
            let new = fresh.traits.remove(key).unwrap_or_default();
            let replaced = column.replaced(customers, new.entries().cloned().collect());
            if !replaced.is_empty() {
                traits.insert(key.clone(), replaced);
            }
        }
        traits.extend(fresh.traits);
        ProfileFacts { all, tags, identities, consent, traits }
    }
}

/// One trait's values by customer: sorted, in chunks of about [`TraitColumn::CHUNK`] entries, so
/// that replacing a few customers' values copies the chunks they fall in and shares the rest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraitColumn {
    /// Non-empty, each sorted by customer, each chunk's customers after the previous chunk's.
    chunks: Vec<Arc<Vec<(u64, Value)>>>,
    len: usize,
}

impl TraitColumn {
    /// Entries per chunk when a column is (re)built.
    pub const CHUNK: usize = 4096;

    /// Builds a column from entries sorted by customer.
    pub fn from_sorted(entries: Vec<(u64, Value)>) -> Self {
        let len = entries.len();
        let mut chunks = Vec::with_capacity(len.div_ceil(Self::CHUNK));
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            chunks.push(Arc::new(entries.by_ref().take(Self::CHUNK).collect()));
        }
        Self { chunks, len }
    }

    fn push(&mut self, customer: u64, value: Value) {
        match self.chunks.last_mut() {
            Some(last) => Arc::make_mut(last).push((customer, value)),
            None => self.chunks.push(Arc::new(vec![(customer, value)])),
        }
        self.len += 1;
    }

    fn sort(&mut self) {
        let mut entries: Vec<(u64, Value)> = self.chunks.drain(..).flat_map(Arc::unwrap_or_clone).collect();
        if !entries.is_sorted_by_key(|e| e.0) {
            entries.sort_unstable_by_key(|e| e.0);
        }
        *self = Self::from_sorted(entries);
    }

    /// Customers with a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no customer has a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The (customer, value) entries, by customer.
    pub fn entries(&self) -> impl Iterator<Item = &(u64, Value)> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The chunk that holds `customer` if anyone does (or where it would go).
    fn chunk_of(&self, customer: u64) -> usize {
        let i = self.chunks.partition_point(|c| c.last().is_some_and(|e| e.0 < customer));
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// A customer's value.
    pub fn get(&self, customer: u64) -> Option<&Value> {
        let chunk = self.chunks.get(self.chunk_of(customer))?;
        chunk.binary_search_by_key(&customer, |e| e.0).ok().map(|i| &chunk[i].1)
    }

    /// Returns this column with the values of `customers` replaced by `fresh` (sorted; a customer
    /// absent from it has no value now). Chunks whose entries do not change are shared.
    fn replaced(&self, customers: &RoaringTreemap, fresh: Vec<(u64, Value)>) -> TraitColumn {
        if self.chunks.is_empty() {
            return Self::from_sorted(fresh);
        }
        // The chunks a change reaches: where each changed customer is (or would go).
        let mut reached: BTreeMap<usize, Vec<(u64, Value)>> = BTreeMap::new();
        if customers.len() < self.len as u64 {
            for c in customers {
                if self.get(c).is_some() {
                    reached.entry(self.chunk_of(c)).or_default();
                }
            }
        } else {
            for (i, chunk) in self.chunks.iter().enumerate() {
                if chunk.iter().any(|e| customers.contains(e.0)) {
                    reached.entry(i).or_default();
                }
            }
        }
        for entry in fresh {
            reached.entry(self.chunk_of(entry.0)).or_default().push(entry);
        }
        let mut chunks = Vec::with_capacity(self.chunks.len() + 1);
        let mut len = 0;
        for (i, chunk) in self.chunks.iter().enumerate() {
            let Some(new) = reached.remove(&i) else {
                len += chunk.len();
                chunks.push(chunk.clone());
                continue;
            };
            if chunk.iter().filter(|e| customers.contains(e.0)).eq(new.iter()) {
                len += chunk.len();
                chunks.push(chunk.clone());
                continue;
            }
            let mut merged = Vec::with_capacity(chunk.len() + new.len());
            let mut new = new.into_iter().peekable();
            for (c, v) in chunk.iter().filter(|e| !customers.contains(e.0)) {
                while let Some(next) = new.next_if(|n| n.0 < *c) {
                    merged.push(next);
                }
                merged.push((*c, v.clone()));
            }
            merged.extend(new);
            len += merged.len();
            // Grown chunks are split again; emptied ones are dropped.
            for part in merged.chunks(Self::CHUNK) {
                chunks.push(Arc::new(part.to_vec()));
            }
        }
        TraitColumn { chunks, len }
    }

    #[cfg(test)]
    fn shares_chunks_with(&self, other: &TraitColumn) -> usize {
        self.chunks.iter().filter(|c| other.chunks.iter().any(|o| Arc::ptr_eq(c, o))).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(rows: &[(i64, &str, Value, Option<&str>)]) -> ProfileFacts {
        let mut facts = ProfileFacts::default();
        for (customer, key, value, tag) in rows {
            facts.add_customer(*customer);
            facts.add_trait(*customer, key, value.clone());
            if let Some(tag) = tag {
                facts.add_tag(*customer, tag);
            }
        }
        facts.sort();
        facts
    }

    fn entries(column: Option<&TraitColumn>) -> Vec<(u64, Value)> {
        column.map(|c| c.entries().cloned().collect()).unwrap_or_default()
    }

    #[test]
    fn replacing_customers_merges_their_new_facts_and_shares_untouched_columns() {
        let mut kept = facts(&[
            (3, "city", json!("广州"), Some("VIP")),
            (1, "city", json!("上海"), Some("VIP")),
            (2, "city", json!("北京"), None),
        ]);
        kept.add_trait(5, "level", json!(3));
        kept.add_customer(5);
        kept.apply_consent(2, Purpose::Marketing, Channel::Sms, true);
        kept.sort();
        assert_eq!(kept.trait_column("city").unwrap().get(3), Some(&json!("广州")));
        // 2 moves to 深圳; 3 is gone; 4 is new.
        let mut fresh = facts(&[(4, "city", json!("上海"), Some("VIP")), (2, "city", json!("深圳"), None)]);
        fresh.apply_consent(2, Purpose::Marketing, Channel::Sms, true);
        let changed: RoaringTreemap = [2u64, 3, 4].into_iter().collect();
        let now = kept.replaced(&changed, fresh);
        assert_eq!(now.all.iter().collect::<Vec<_>>(), [1, 2, 4, 5]);
        assert_eq!(entries(now.trait_column("city")), [(1, json!("上海")), (2, json!("深圳")), (4, json!("上海"))]);
        assert_eq!(now.trait_column("city").unwrap().len(), 3);
        assert_eq!(now.tags["VIP"].iter().collect::<Vec<_>>(), [1, 4]);
        assert_eq!(now.consent[&(Purpose::Marketing, Channel::Sms)].iter().collect::<Vec<_>>(), [2]);
        // No changed customer has a level: the column is shared, not copied.
        assert_eq!(now.traits["level"].shares_chunks_with(&kept.traits["level"]), 1);
        // A tag change keeps the customer's traits: their chunks are shared too.
        let one: RoaringTreemap = [1u64].into_iter().collect();
        let tagged = now.replaced(&one, facts(&[(1, "city", json!("上海"), Some("新客"))]));
        assert_eq!(tagged.traits["city"].shares_chunks_with(&now.traits["city"]), 1);
        assert_eq!(tagged.tags["新客"].iter().collect::<Vec<_>>(), [1]);
        assert_eq!(tagged.tags["VIP"].iter().collect::<Vec<_>>(), [4]);
        // Removing everyone who had a trait drops its column.
        let gone: RoaringTreemap = [5u64].into_iter().collect();
        assert!(!now.replaced(&gone, ProfileFacts::default()).traits.contains_key("level"));
    }

    #[test]
    fn a_change_in_a_long_column_copies_only_its_chunk() {
        let n = TraitColumn::CHUNK as u64 * 10;
        let column = TraitColumn::from_sorted((0..n).map(|c| (c * 2, json!(c % 7))).collect());
        // Customer 10,001 (odd: new) and 30,000 (changed) fall in two chunks; 40,000 loses its value.
        let changed: RoaringTreemap = [10_001u64, 30_000, 40_000].into_iter().collect();
        let now = column.replaced(&changed, vec![(10_001, json!("new")), (30_000, json!("changed"))]);
        assert_eq!(now.len(), column.len() + 1 - 1);
        assert_eq!(now.get(10_001), Some(&json!("new")));
        assert_eq!(now.get(30_000), Some(&json!("changed")));
        assert_eq!(now.get(40_000), None);
        assert_eq!(now.get(2), Some(&json!(1)));
        assert_eq!(now.shares_chunks_with(&column), 10 - 3);
        let all: Vec<u64> = now.entries().map(|e| e.0).collect();
        assert!(all.is_sorted() && all.len() == now.len());
        // Past the last customer, and before the first.
        let edges: RoaringTreemap = [n * 3, 0].into_iter().collect();
        let now = now.replaced(&edges, vec![(n * 3, json!(1))]);
        assert_eq!((now.get(n * 3), now.get(0)), (Some(&json!(1)), None));
        assert!(now.entries().map(|e| e.0).is_sorted());
    }
}
