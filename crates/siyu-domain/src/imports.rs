//! The CSV layout of customer imports and its row parser.
//!
//! Header names choose what a column is: an identity type (`phone`, `email`, `user_id`, …), `tags`
//! (names separated by `|`), or a trait; a trait column may name its type as `name:number`,
//! `name:boolean`, `name:date` or `name:string` (the default). Empty cells are skipped.

use crate::error::FieldError;
use crate::profiles::{CustomerInput, IdentityInput, IdentityKind};
use serde_json::Value;

/// What one CSV column holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// An identity of this kind.
    Identity(IdentityKind),
    /// Tag names separated by `|`.
    Tags,
    /// A typed trait.
    Trait { key: String, kind: TraitType },
}

/// Declared type of a trait column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraitType {
    /// Kept as text.
    String,
    /// Parsed as a JSON number.
    Number,
    /// `true`/`false`/`1`/`0`/`yes`/`no`.
    Boolean,
    /// `YYYY-MM-DD`, stored as text.
    Date,
}

/// Parses the header row; errors name the column.
pub fn parse_header(headers: &[String]) -> Result<Vec<Column>, FieldError> {
    let mut columns = Vec::with_capacity(headers.len());
    for header in headers {
        let name = header.trim().trim_start_matches('\u{feff}');
        let column = if let Some(kind) = IdentityKind::parse(name) {
            Column::Identity(kind)
        } else if name == "tags" {
            Column::Tags
        } else {
            let (key, kind) = match name.split_once(':') {
                None => (name, TraitType::String),
                Some((key, "string")) => (key, TraitType::String),
                Some((key, "number")) => (key, TraitType::Number),
                Some((key, "boolean")) => (key, TraitType::Boolean),
                Some((key, "date")) => (key, TraitType::Date),
                Some((_, other)) => {
                    return Err(FieldError::new(
                        name,
                        format!("unknown column type \"{other}\"; expected string, number, boolean or date"),
                    ));
                }
            };
            crate::profiles::check_trait_key(key).map_err(|reason| FieldError::new(name, reason))?;
            Column::Trait { key: key.to_string(), kind }
        };
        if columns.contains(&column) {
            return Err(FieldError::new(name, "duplicate column"));
        }
        columns.push(column);
    }
    if !columns.iter().any(|c| matches!(c, Column::Identity(_))) {
        return Err(FieldError::new(
            "header",
            "no identity column; add at least one of phone, email, user_id, member_no, …",
        ));
    }
    Ok(columns)
}

/// Turns one record into an upsert input; errors name the column.
pub fn parse_row(
    headers: &[String],
    columns: &[Column],
    record: &csv::StringRecord,
) -> Result<(CustomerInput, Vec<String>), Vec<FieldError>> {
    let mut input = CustomerInput { source: Some("import".into()), ..Default::default() };
    let mut identity_columns = Vec::new();
    let mut errors = Vec::new();
    if record.len() != columns.len() {
        return Err(vec![FieldError::new(
            "row",
            format!("has {} fields but the header has {}", record.len(), columns.len()),
        )]);
    }
    for ((column, header), cell) in columns.iter().zip(headers).zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Identity(kind) => {
                identity_columns.push(header.clone());
                input.identities.push(IdentityInput { kind: kind.as_str().into(), value: cell.into() });
            }
            Column::Tags => {
                input.tags.extend(cell.split('|').map(str::trim).filter(|t| !t.is_empty()).map(String::from))
            }
            Column::Trait { key, kind } => {
                let value = match kind {
                    TraitType::String => Ok(Value::String(cell.into())),
                    TraitType::Number => serde_json::from_str::<serde_json::Number>(cell)
                        .map(Value::Number)
                        .map_err(|_| format!("\"{cell}\" is not a number")),
                    TraitType::Boolean => match cell.to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => Ok(Value::Bool(true)),
                        "false" | "0" | "no" => Ok(Value::Bool(false)),
                        _ => Err(format!("\"{cell}\" is not a boolean (true/false)")),
                    },
                    TraitType::Date => cell
                        .parse::<jiff::civil::Date>()
                        .map(|d| Value::String(d.to_string()))
                        .map_err(|_| format!("\"{cell}\" is not a date like 2024-05-01")),
                };
                match value {
                    Ok(value) => {
                        input.traits.insert(key.clone(), value);
                    }
                    Err(reason) => errors.push(FieldError::new(header.clone(), reason)),
                }
            }
        }
    }
    if errors.is_empty() { Ok((input, identity_columns)) } else { Err(errors) }
}

/// Renames draft field paths (`identities[1].value`, `traits.age`, `tags[0]`) to CSV column names.
pub fn column_of(field: &str, headers: &[String], identity_columns: &[String]) -> String {
    if let Some(rest) = field.strip_prefix("identities[") {
        let index: usize = rest.split(']').next().and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
        return identity_columns.get(index).cloned().unwrap_or_else(|| "identities".into());
    }
    if field.starts_with("tags") {
        return "tags".into();
    }
    if let Some(key) = field.strip_prefix("traits.") {
        return headers.iter().find(|h| h.split(':').next() == Some(key)).cloned().unwrap_or_else(|| key.to_string());
    }
    field.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn header_types_and_identities_are_recognised() {
        let h = headers(&["phone", "tags", "orders:number", "city"]);
        let columns = parse_header(&h).unwrap();
        assert_eq!(columns[0], Column::Identity(IdentityKind::Phone));
        assert_eq!(columns[2], Column::Trait { key: "orders".into(), kind: TraitType::Number });
        assert!(parse_header(&headers(&["city"])).is_err());
        assert!(parse_header(&headers(&["phone", "x:money"])).is_err());
    }

    #[test]
    fn bad_cells_name_their_column() {
        let h = headers(&["phone", "orders:number", "vip:boolean"]);
        let columns = parse_header(&h).unwrap();
        let record = csv::StringRecord::from(vec!["13800000000", "many", "maybe"]);
        let errors = parse_row(&h, &columns, &record).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["orders:number", "vip:boolean"]);
        assert_eq!(column_of("traits.orders", &h, &[]), "orders:number");
        assert_eq!(column_of("identities[0].value", &h, &["phone".into()]), "phone");
    }
}
