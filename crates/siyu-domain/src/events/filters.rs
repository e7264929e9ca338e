//! Property filters as people write them — JSON (`{"property": "price", "op": "gt", "value": 100}`)
//! or text (`price > 100`) — checked against the properties the workspace's events have.

use crate::error::{DomainError, DomainResult, FieldError};
use siyu_analytics::props::{Filter, MAX_TEXT, Op, PropTable, Scalar};

/// How a filter compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal to `value` (numbers numerically, else as text).
    Eq,
    /// Not equal to `value`, or absent.
    Ne,
    /// Equal to one of `value` (a list).
    In,
    /// None of `value` (a list), or absent.
    NotIn,
    /// Greater than a number.
    Gt,
    /// Greater than or equal to a number.
    Gte,
    /// Less than a number.
    Lt,
    /// Less than or equal to a number.
    Lte,
    /// The text contains `value`, ignoring case.
    Contains,
    /// The text does not contain `value`, or is absent.
    NotContains,
    /// The property is present.
    Exists,
    /// The property is absent.
    NotExists,
}

/// One condition on an event property.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyFilter {
    /// The property key (top level of `properties`).
    pub property: String,
    /// The comparison.
    pub op: FilterOp,
    /// What to compare with: a string, number or boolean; a list for `in` and `not_in`; none for
    /// `exists` and `not_exists`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
}

/// Parses the text form `KEY OP VALUE`: `category = shoes`, `price >= 100`, `tier != gold`,
/// `channel in wecom,sms`, `title contains 618`, `title !contains test`, `coupon exists`,
/// `coupon !exists`. A value in double quotes is taken as is; otherwise numbers are numbers.
pub fn parse_filter(field: &str, text: &str) -> DomainResult<PropertyFilter> {
    let bad = |reason: String| DomainError::Invalid(vec![FieldError::new(field, reason)]);
    let text = text.trim();
    let key_end = text.find(|c: char| c.is_whitespace() || "=!<>".contains(c)).unwrap_or(text.len());
    let (key, rest) = text.split_at(key_end);
    if key.is_empty() {
        return Err(bad(format!("\"{text}\": expected a property name, e.g. category = shoes")));
    }
    let rest = rest.trim_start();
    const OPS: [(&str, FilterOp); 12] = [
        ("!contains", FilterOp::NotContains),
        ("contains", FilterOp::Contains),
        ("!exists", FilterOp::NotExists),
        ("exists", FilterOp::Exists),
        ("!in ", FilterOp::NotIn),
        ("in ", FilterOp::In),
        ("!=", FilterOp::Ne),
        (">=", FilterOp::Gte),
        ("<=", FilterOp::Lte),
        ("=", FilterOp::Eq),
        (">", FilterOp::Gt),
        ("<", FilterOp::Lt),
    ];
    let Some((op_text, op)) = OPS.iter().find(|(t, _)| rest.starts_with(t)) else {
        return Err(bad(format!(
            "\"{text}\": expected one of = != > >= < <= in !in contains !contains exists !exists after \"{key}\""
        )));
    };
    let value = rest[op_text.len()..].trim();
    let scalar = |v: &str| -> serde_json::Value {
        if let Some(quoted) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            return quoted.into();
        }
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => serde_json::json!(n),
            _ if v == "true" || v == "false" => (v == "true").into(),
            _ => v.into(),
        }
    };
    let value = match op {
        FilterOp::Exists | FilterOp::NotExists => {
            if !value.is_empty() {
                return Err(bad(format!("\"{text}\": {op_text} takes no value")));
            }
            None
        }
        FilterOp::In | FilterOp::NotIn => Some(value.split(',').map(|v| scalar(v.trim())).collect()),
        _ => Some(scalar(value)),
    };
    Ok(PropertyFilter { property: key.to_string(), op: *op, value })
}

/// Parses `N: FILTER` (a filter on funnel step N, from 1) or a plain `FILTER`; the step is `None`
/// without a leading step number.
pub fn parse_step_filter(field: &str, text: &str) -> DomainResult<(Option<usize>, PropertyFilter)> {
    let (step, filter) = match text.split_once(':') {
        Some((n, rest)) => match n.trim().parse::<usize>() {
            Ok(n) if n >= 1 => (Some(n), rest),
            _ => (None, text),
        },
        None => (None, text),
    };
    Ok((step, parse_filter(field, filter)?))
}

fn to_scalar(value: &serde_json::Value) -> Option<Scalar> {
    match value {
        serde_json::Value::String(s) => Some(Scalar::Text(s.clone())),
        serde_json::Value::Number(n) => n.as_f64().map(Scalar::Num),
        serde_json::Value::Bool(b) => Some(Scalar::Bool(*b)),
        _ => None,
    }
}

/// Checks filters against the table and turns them into the engine's; errors name
/// `{field}[i].property`, `.op` or `.value`.
pub fn compile(field: &str, filters: &[PropertyFilter], table: &PropTable) -> DomainResult<Vec<Filter>> {
    let mut errors = Vec::new();
    let mut compiled = Vec::new();
    for (i, filter) in filters.iter().enumerate() {
        let at = |part: &str| format!("{field}[{i}].{part}");
        let Some(key) = table.key_id(&filter.property) else {
            errors.push(FieldError::new(at("property"), format!("unknown property \"{}\"", filter.property)));
            continue;
        };
        let one = || filter.value.as_ref().and_then(to_scalar);
        let number = || one().and_then(|v| v.as_f64());
        let text = || one().map(|v| v.to_text());
        let list = || match &filter.value {
            Some(serde_json::Value::Array(items)) => items.iter().map(to_scalar).collect::<Option<Vec<_>>>(),
            Some(other) => to_scalar(other).map(|v| vec![v]),
            None => None,
        };
        let op = match filter.op {
            FilterOp::Eq => one().map(|v| Op::In(vec![v])),
            FilterOp::Ne => one().map(|v| Op::NotIn(vec![v])),
            FilterOp::In => list().map(Op::In),
            FilterOp::NotIn => list().map(Op::NotIn),
            FilterOp::Gt => number().map(Op::Gt),
            FilterOp::Gte => number().map(Op::Gte),
            FilterOp::Lt => number().map(Op::Lt),
            FilterOp::Lte => number().map(Op::Lte),
            FilterOp::Contains => text().map(Op::Contains),
            FilterOp::NotContains => text().map(Op::NotContains),
            FilterOp::Exists => Some(Op::Exists),
            FilterOp::NotExists => Some(Op::NotExists),
        };
        match op {
            Some(op) => compiled.push(Filter { key, op }),
            None => {
                let expected = match filter.op {
                    FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte => "a number",
                    FilterOp::In | FilterOp::NotIn => "a list of strings, numbers or booleans",
                    _ => "a string, number or boolean",
                };
                errors.push(FieldError::new(at("value"), format!("expected {expected}")));
            }
        }
    }
    if errors.is_empty() { Ok(compiled) } else { Err(DomainError::Invalid(errors)) }
}

/// Returns the top-level scalar properties of a JSON object text the index keeps (see
/// [`siyu_analytics::props`]); empty for `{}` or anything that is not an object.
pub fn indexed_properties(json: &str) -> Vec<(String, Scalar)> {
    if json.len() <= 2 {
        return Vec::new();
    }
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(s) if s.len() <= MAX_TEXT => Some((key, Scalar::Text(s))),
            serde_json::Value::Number(n) => n.as_f64().map(|v| (key, Scalar::Num(v))),
            serde_json::Value::Bool(b) => Some((key, Scalar::Bool(b))),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_form_reads_every_operator() {
        let f = |t: &str| parse_filter("filter", t).expect("valid");
        assert_eq!(f("price >= 100").op, FilterOp::Gte);
        assert_eq!(f("price >= 100").value, Some(json!(100.0)));
        assert_eq!(f("category=shoes").value, Some(json!("shoes")));
        assert_eq!(f("sku = \"007\"").value, Some(json!("007")));
        assert_eq!(f("channel in wecom, sms").value, Some(json!(["wecom", "sms"])));
        assert_eq!(f("channel !in wecom").op, FilterOp::NotIn);
        assert_eq!(f("title !contains test").op, FilterOp::NotContains);
        assert_eq!(f("coupon exists").value, None);
        assert_eq!(f("coupon !exists").op, FilterOp::NotExists);
        assert!(parse_filter("filter", "price ~ 3").is_err());
        let (step, filter) = parse_step_filter("filter", "2: price > 3").expect("valid");
        assert_eq!((step, filter.op), (Some(2), FilterOp::Gt));
        assert_eq!(parse_step_filter("filter", "price > 3").expect("valid").0, None);
        assert!(parse_filter("filter", "= 3").is_err());
    }

    #[test]
    fn unknown_properties_and_wrong_values_are_named() {
        let mut table = PropTable::default();
        table.intern([("price", Scalar::Num(5.0))]).expect("room");
        let filters = vec![
            PropertyFilter { property: "colour".into(), op: FilterOp::Eq, value: Some(json!("red")) },
            PropertyFilter { property: "price".into(), op: FilterOp::Gt, value: Some(json!("cheap")) },
        ];
        let Err(DomainError::Invalid(errors)) = compile("filters", &filters, &table) else { panic!("refused") };
        assert_eq!(errors[0].field, "filters[0].property");
        assert!(errors[0].reason.contains("colour"));
        assert_eq!(errors[1].field, "filters[1].value");
        let ok = compile("filters", &filters[1..1], &table).expect("no filters");
        assert!(ok.is_empty());
    }

    #[test]
    fn only_scalars_are_indexed() {
        let props = indexed_properties(r#"{"a":"x","b":2.5,"c":true,"d":null,"e":[1],"f":{"g":1}}"#);
        assert_eq!(props.len(), 3);
        assert!(indexed_properties("{}").is_empty());
    }
}
