//! Event properties in the index: each event points (one `u32`) at an interned *property set* —
//! its top-level scalar properties as sorted (key id, value id) pairs. Events of one kind mostly
//! repeat a few sets (the same product, category, channel), so a query evaluates its filters,
//! breakdown and measures once per distinct set and then reads one table entry per event.
//!
//! Kept: strings up to [`MAX_TEXT`] bytes, numbers and booleans. Nested objects, arrays, nulls and
//! longer strings are left out of the index (they stay in the log).

use std::collections::HashMap;

/// Longest string value the index keeps, in bytes.
pub const MAX_TEXT: usize = 256;

/// The set of an event without indexed properties.
pub const EMPTY_SET: u32 = 0;

/// A property value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A string.
    Text(String),
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// Returns the value as a number: numbers as they are, strings that parse as one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Num(v) => Some(*v),
            Scalar::Text(t) => t.trim().parse().ok().filter(|v: &f64| v.is_finite()),
            Scalar::Bool(_) => None,
        }
    }

    /// Returns the value as text (numbers in their shortest form).
    pub fn to_text(&self) -> String {
        match self {
            Scalar::Text(t) => t.clone(),
            Scalar::Num(v) => v.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }

    /// Returns a hashable key: the kind and the bits.
    fn key(&self) -> ScalarKey {
        match self {
            Scalar::Text(t) => ScalarKey::Text(t.clone()),
            // -0.0 and 0.0 are one value.
            Scalar::Num(v) => ScalarKey::Num(if *v == 0.0 { 0 } else { v.to_bits() }),
            Scalar::Bool(b) => ScalarKey::Bool(*b),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ScalarKey {
    Text(String),
    Num(u64),
    Bool(bool),
}

/// A comparison of one property.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Equal (numbers numerically, else as text); any of the values.
    In(Vec<Scalar>),
    /// None of the values, or the property is absent.
    NotIn(Vec<Scalar>),
    /// Numerically greater.
    Gt(f64),
    /// Numerically greater or equal.
    Gte(f64),
    /// Numerically less.
    Lt(f64),
    /// Numerically less or equal.
    Lte(f64),
    /// The text contains this (case-insensitively).
    Contains(String),
    /// The text does not contain this, or the property is absent.
    NotContains(String),
    /// The property is present.
    Exists,
    /// The property is absent.
    NotExists,
}

/// A property filter: `key` compared by `op`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// The property's key id.
    pub key: u16,
    /// The comparison.
    pub op: Op,
}

fn equal(stored: &Scalar, wanted: &Scalar) -> bool {
    match (stored, wanted) {
        (Scalar::Text(a), Scalar::Text(b)) => a == b,
        (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
        _ => match (stored.as_f64(), wanted.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => stored.to_text() == wanted.to_text(),
        },
    }
}

impl Filter {
    /// Whether a value (`None`: the property is absent) passes.
    pub fn accepts(&self, value: Option<&Scalar>) -> bool {
        let number = || value.and_then(Scalar::as_f64);
        let contains =
            |needle: &str| value.is_some_and(|v| v.to_text().to_lowercase().contains(&needle.to_lowercase()));
        match &self.op {
            Op::In(values) => value.is_some_and(|v| values.iter().any(|w| equal(v, w))),
            Op::NotIn(values) => !value.is_some_and(|v| values.iter().any(|w| equal(v, w))),
            Op::Gt(x) => number().is_some_and(|v| v > *x),
            Op::Gte(x) => number().is_some_and(|v| v >= *x),
            Op::Lt(x) => number().is_some_and(|v| v < *x),
            Op::Lte(x) => number().is_some_and(|v| v <= *x),
            Op::Contains(needle) => contains(needle),
            Op::NotContains(needle) => !contains(needle),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
        }
    }
}

/// The workspace's property keys, values and sets, each with a dense id in the order first seen.
/// Append-only: an id, once given, means the same thing for the index's whole life.
#[derive(Clone, Debug)]
pub struct PropTable {
    keys: Vec<String>,
    key_ids: HashMap<String, u16>,
    values: Vec<Scalar>,
    value_ids: HashMap<ScalarKey, u32>,
    /// Set `i` is `pairs[starts[i]..starts[i + 1]]`, sorted by key.
    starts: Vec<u32>,
    pairs: Vec<(u16, u32)>,
    set_ids: HashMap<Box<[(u16, u32)]>, u32>,
}

impl Default for PropTable {
    fn default() -> Self {
        let mut set_ids = HashMap::new();
        set_ids.insert(Box::default(), EMPTY_SET);
        Self {
            keys: Vec::new(),
            key_ids: HashMap::new(),
            values: Vec::new(),
            value_ids: HashMap::new(),
            starts: vec![0, 0],
            pairs: Vec::new(),
            set_ids,
        }
    }
}

impl PropTable {
    /// Returns the id of a property key, if any event has it.
    pub fn key_id(&self, key: &str) -> Option<u16> {
        self.key_ids.get(key).copied()
    }

    /// Returns every key, by id.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Returns a value by id.
    pub fn value(&self, id: u32) -> &Scalar {
        &self.values[id as usize]
    }

    /// Returns the number of distinct sets (the empty one included).
    pub fn set_count(&self) -> usize {
        self.starts.len() - 1
    }

    /// Returns a set's (key id, value id) pairs, sorted by key.
    pub fn set(&self, id: u32) -> &[(u16, u32)] {
        &self.pairs[self.starts[id as usize] as usize..self.starts[id as usize + 1] as usize]
    }

    /// Returns the value id of `key` in set `id`.
    pub fn lookup(&self, id: u32, key: u16) -> Option<u32> {
        let set = self.set(id);
        set.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| set[i].1)
    }

    /// Returns the set id of some (key, value) pairs, interning what is new. Values the index does
    /// not keep should not be passed; `None` once 65,536 keys or 2³² values or sets exist (the
    /// event is then indexed without properties).
    pub fn intern<'a>(&mut self, properties: impl IntoIterator<Item = (&'a str, Scalar)>) -> Option<u32> {
        let mut pairs: Vec<(u16, u32)> = Vec::new();
        for (key, value) in properties {
            let key = match self.key_ids.get(key) {
                Some(id) => *id,
                None => {
                    let id = u16::try_from(self.keys.len()).ok()?;
                    self.keys.push(key.to_string());
                    self.key_ids.insert(key.to_string(), id);
                    id
                }
            };
            let scalar_key = value.key();
            let value = match self.value_ids.get(&scalar_key) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(self.values.len()).ok()?;
                    self.values.push(value);
                    self.value_ids.insert(scalar_key, id);
                    id
                }
            };
            pairs.push((key, value));
        }
        pairs.sort_unstable_by_key(|(k, _)| *k);
        // A key given twice keeps its last value.
        pairs.dedup_by_key(|(k, _)| *k);
        if let Some(id) = self.set_ids.get(pairs.as_slice()) {
            return Some(*id);
        }
        let id = u32::try_from(self.set_count()).ok().filter(|id| *id < u32::MAX)?;
        self.pairs.extend_from_slice(&pairs);
        self.starts.push(self.pairs.len() as u32);
        self.set_ids.insert(pairs.into_boxed_slice(), id);
        Some(id)
    }

    /// Returns, per set, whether every filter passes.
    pub fn matching_sets(&self, filters: &[Filter]) -> Vec<bool> {
        (0..self.set_count() as u32)
            .map(|set| filters.iter().all(|f| f.accepts(self.lookup(set, f.key).map(|v| self.value(v)))))
            .collect()
    }

    /// Returns, per set, the value id of `key` (`u32::MAX` when absent).
    pub fn values_of(&self, key: u16) -> Vec<u32> {
        (0..self.set_count() as u32).map(|set| self.lookup(set, key).unwrap_or(u32::MAX)).collect()
    }

    /// Returns, per set, the number `key` holds (`NaN` when absent or not a number).
    pub fn numbers_of(&self, key: u16) -> Vec<f64> {
        (0..self.set_count() as u32)
            .map(|set| self.lookup(set, key).and_then(|v| self.value(v).as_f64()).unwrap_or(f64::NAN))
            .collect()
    }

    /// Returns the bytes the table holds, roughly (its maps counted at twice their entries).
    pub fn heap_bytes(&self) -> usize {
        let text: usize = self.values.iter().map(|v| if let Scalar::Text(t) = v { 2 * t.len() } else { 0 }).sum();
        self.values.capacity() * 2 * std::mem::size_of::<Scalar>()
            + text
            + self.starts.capacity() * 4
            + self.pairs.capacity() * 8 * 2
            + self.set_ids.capacity() * 32
    }

    /// Appends the table to `out` (see [`PropTable::read`]).
    pub fn write(&self, out: &mut Vec<u8>) {
        let put_u64 = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
        put_u64(out, self.keys.len() as u64);
        for key in &self.keys {
            put_u64(out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        put_u64(out, self.values.len() as u64);
        for value in &self.values {
            match value {
                Scalar::Text(t) => {
                    out.push(0);
                    put_u64(out, t.len() as u64);
                    out.extend_from_slice(t.as_bytes());
                }
                Scalar::Num(v) => {
                    out.push(1);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Scalar::Bool(b) => out.extend_from_slice(&[2, u8::from(*b)]),
            }
        }
        put_u64(out, self.set_count() as u64);
        for set in 1..self.set_count() as u32 {
            let pairs = self.set(set);
            out.extend_from_slice(&(pairs.len() as u16).to_le_bytes());
            for (k, v) in pairs {
                out.extend_from_slice(&k.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Reads what [`PropTable::write`] wrote from `bytes` at `*at`; `None` when damaged.
    pub fn read(bytes: &[u8], at: &mut usize) -> Option<Self> {
        let mut take = |n: usize| -> Option<&[u8]> {
            let slice = bytes.get(*at..at.checked_add(n)?)?;
            *at += n;
            Some(slice)
        };
        let mut table = Self::default();
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let keys = u64_of(take(8)?);
        for _ in 0..keys {
            let len = usize::try_from(u64_of(take(8)?)).ok()?;
            let key = std::str::from_utf8(take(len)?).ok()?.to_string();
            let id = u16::try_from(table.keys.len()).ok()?;
            table.key_ids.insert(key.clone(), id);
            table.keys.push(key);
        }
        let values = u64_of(take(8)?);
        for _ in 0..values {
            let value = match take(1)?[0] {
                0 => {
                    let len = usize::try_from(u64_of(take(8)?)).ok()?;
                    Scalar::Text(std::str::from_utf8(take(len)?).ok()?.to_string())
                }
                1 => Scalar::Num(f64::from_le_bytes(take(8)?.try_into().ok()?)),
                2 => Scalar::Bool(take(1)?[0] != 0),
                _ => return None,
            };
            let id = u32::try_from(table.values.len()).ok()?;
            table.value_ids.insert(value.key(), id);
            table.values.push(value);
        }
        let sets = u64_of(take(8)?);
        for _ in 1..sets {
            let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
            let mut pairs = Vec::with_capacity(len);
            for _ in 0..len {
                let pair = take(6)?;
                let key = u16::from_le_bytes(pair[..2].try_into().ok()?);
                let value = u32::from_le_bytes(pair[2..].try_into().ok()?);
                if usize::from(key) >= table.keys.len() || value as usize >= table.values.len() {
                    return None;
                }
                pairs.push((key, value));
            }
            if !pairs.is_sorted_by_key(|(k, _)| *k) {
                return None;
            }
            let id = table.set_count() as u32;
            table.pairs.extend_from_slice(&pairs);
            table.starts.push(table.pairs.len() as u32);
            table.set_ids.insert(pairs.into_boxed_slice(), id);
        }
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Scalar {
        Scalar::Text(s.into())
    }

    #[test]
    fn sets_are_interned_whatever_the_key_order() {
        let mut table = PropTable::default();
        let a = table.intern([("category", text("shoes")), ("price", Scalar::Num(99.5))]).expect("room");
        let b = table.intern([("price", Scalar::Num(99.5)), ("category", text("shoes"))]).expect("room");
        let c = table.intern([("category", text("hats"))]).expect("room");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(table.intern([]), Some(EMPTY_SET));
        assert_eq!(table.set_count(), 3);
        let category = table.key_id("category").expect("known");
        assert_eq!(table.lookup(c, category).map(|v| table.value(v).clone()), Some(text("hats")));
        assert_eq!(table.lookup(EMPTY_SET, category), None);
    }

    #[test]
    fn filters_compare_numbers_numerically_and_text_as_text() {
        let mut table = PropTable::default();
        let cheap = table.intern([("price", Scalar::Num(5.0)), ("category", text("Shoes"))]).expect("room");
        let dear = table.intern([("price", text("120"))]).expect("room");
        let price = table.key_id("price").expect("known");
        let category = table.key_id("category").expect("known");
        let over = |x| table.matching_sets(&[Filter { key: price, op: Op::Gt(x) }]);
        assert_eq!(over(10.0), vec![false, false, true]);
        let five = table.matching_sets(&[Filter { key: price, op: Op::In(vec![text("5")]) }]);
        assert_eq!(five, vec![false, true, false]);
        let not_shoes = table.matching_sets(&[Filter { key: category, op: Op::NotIn(vec![text("Shoes")]) }]);
        assert_eq!(not_shoes, vec![true, false, true]);
        let contains = table.matching_sets(&[Filter { key: category, op: Op::Contains("shoe".into()) }]);
        assert_eq!(contains, vec![false, true, false]);
        assert_eq!(table.numbers_of(price)[dear as usize], 120.0);
        assert!(table.numbers_of(price)[EMPTY_SET as usize].is_nan());
        assert_eq!(table.values_of(category)[cheap as usize], table.lookup(cheap, category).expect("has it"));
    }

    #[test]
    fn the_table_round_trips_through_bytes() {
        let mut table = PropTable::default();
        table.intern([("a", text("x")), ("b", Scalar::Bool(true))]).expect("room");
        table.intern([("c", Scalar::Num(-1.25))]).expect("room");
        let mut bytes = Vec::new();
        table.write(&mut bytes);
        let mut at = 0;
        let back = PropTable::read(&bytes, &mut at).expect("whole");
        assert_eq!(at, bytes.len());
        assert_eq!(back.set_count(), 3);
        assert_eq!(back.set(2), table.set(2));
        assert_eq!(back.keys(), table.keys());
        assert!(PropTable::read(&bytes[..bytes.len() - 1], &mut 0).is_none());
    }
}
