//! Cursor pagination shared by every list endpoint.

use serde::Serialize;

/// Asks for one page: at most `limit` items after the opaque `cursor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Maximum number of items (1..=1000).
    pub limit: u32,
    /// The `next_cursor` of the previous page, if any.
    pub after: Option<i64>,
}

impl PageRequest {
    /// Default and maximum page sizes.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page a caller may ask for.
    pub const MAX_LIMIT: u32 = 1000;

    /// Returns the first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None }
    }

    /// Encodes a key as an opaque cursor string.
    pub fn encode_cursor(key: i64) -> String {
        format!("c{key:x}")
    }

    /// Decodes a cursor made by [`PageRequest::encode_cursor`].
    pub fn decode_cursor(cursor: &str) -> Option<i64> {
        cursor.strip_prefix('c').and_then(|hex| i64::from_str_radix(hex, 16).ok())
    }
}

/// One page of results and the cursor of the next page (absent on the last page).
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    /// Items of this page in order.
    pub items: Vec<T>,
    /// Cursor to pass as `after` for the next page.
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only proves a next page exists.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> i64) -> Self {
        let next_after = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(&key)
        } else {
            None
        };
        Self { items, next_after }
    }

    /// Maps every item, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_after: self.next_after }
    }
}
