//! The CSV layout of customer imports and its row parser.
//!
//! Header names choose what a column is: an identity type (`phone`, `email`, `user_id`, …, or a
//! common Chinese name of one: 手机号, 邮箱, 会员号, …), `tags` (标签; names separated by `|`), or a
//! trait (a name in any script); a trait column may name its type as `name:number`, `name:boolean`,
//! `name:date` or `name:string` (the default), or in Chinese (`:数字`, `:布尔`, `:日期`, `:文本`, with
//! `:` or `：`). Empty cells are skipped. A row's errors are all reported at once.

use crate::customers::{CustomerInput, IdentityInput, IdentityKind};
use crate::error::FieldError;
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

/// Common other names of the identity columns (compared ignoring ASCII case), as Chinese files
/// name them.
const IDENTITY_ALIASES: &[(&str, IdentityKind)] = &[
    ("手机号", IdentityKind::Phone),
    ("手机", IdentityKind::Phone),
    ("手机号码", IdentityKind::Phone),
    ("电话", IdentityKind::Phone),
    ("mobile", IdentityKind::Phone),
    ("邮箱", IdentityKind::Email),
    ("电子邮件", IdentityKind::Email),
    ("电子邮箱", IdentityKind::Email),
    ("邮件", IdentityKind::Email),
    ("e-mail", IdentityKind::Email),
    ("用户id", IdentityKind::UserId),
    ("用户编号", IdentityKind::UserId),
    ("匿名id", IdentityKind::AnonymousId),
    ("企业微信外部联系人", IdentityKind::WecomExternalUserid),
    ("企业微信外部联系人id", IdentityKind::WecomExternalUserid),
    ("企微外部联系人id", IdentityKind::WecomExternalUserid),
    ("unionid", IdentityKind::WechatUnionid),
    ("微信unionid", IdentityKind::WechatUnionid),
    ("openid", IdentityKind::WechatOpenid),
    ("微信openid", IdentityKind::WechatOpenid),
    ("会员号", IdentityKind::MemberNo),
    ("会员卡号", IdentityKind::MemberNo),
    ("会员编号", IdentityKind::MemberNo),
];

/// Chinese names of the personal-data traits, which are sealed at rest only under their own keys.
const TRAIT_ALIASES: &[(&str, &str)] =
    &[("姓名", "name"), ("名字", "name"), ("生日", "birthday"), ("出生日期", "birthday"), ("地址", "address")];

/// Returns the identity kind a header names, by wire name or alias.
fn identity_of(name: &str) -> Option<IdentityKind> {
    IdentityKind::parse(name).or_else(|| {
        let lower = name.to_lowercase();
        IDENTITY_ALIASES.iter().find(|(alias, _)| *alias == lower).map(|(_, kind)| *kind)
    })
}

/// Returns the trait key a header's name part stands for (an alias's key, else the name itself).
fn trait_key(name: &str) -> &str {
    TRAIT_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, key)| key)
}

/// Parses the header row; errors name the column (`header` when the header as a whole is wrong).
pub fn parse_header(headers: &[String]) -> Result<Vec<Column>, FieldError> {
    let mut columns = Vec::with_capacity(headers.len());
    for header in headers {
        let name = header.trim().trim_start_matches('\u{feff}');
        let column = if let Some(kind) = identity_of(name) {
            Column::Identity(kind)
        } else if name == "tags" || name == "标签" {
            Column::Tags
        } else {
            let (key, kind) = match name.split_once([':', '：']) {
                None => (name, TraitType::String),
                Some((key, "string" | "文本")) => (key, TraitType::String),
                Some((key, "number" | "数字")) => (key, TraitType::Number),
                Some((key, "boolean" | "布尔")) => (key, TraitType::Boolean),
                Some((key, "date" | "日期")) => (key, TraitType::Date),
                Some((_, other)) => {
                    return Err(FieldError::new(
                        name,
                        format!("unknown column type \"{other}\"; expected string, number, boolean or date"),
                    ));
                }
            };
            let key = trait_key(key.trim());
            crate::customers::check_trait_key(key).map_err(|reason| FieldError::new(name, reason))?;
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
            "no identity column; add at least one of phone (手机号), email (邮箱), user_id, member_no (会员号), …",
        ));
    }
    Ok(columns)
}

/// One record read against the header: the upsert input of its good cells, the header of each
/// identity it holds (in order), and the errors of its bad cells.
#[derive(Debug)]
pub struct ParsedRow {
    /// The input, without the cells in error.
    pub input: CustomerInput,
    /// The column each of `input.identities` came from.
    pub identity_columns: Vec<String>,
    /// Every bad cell, named by its column.
    pub errors: Vec<FieldError>,
}

/// Turns one record into an upsert input; errors name the column.
pub fn parse_row(
    headers: &[String],
    columns: &[Column],
    record: &csv::StringRecord,
) -> Result<(CustomerInput, Vec<String>), Vec<FieldError>> {
    let parsed = read_row(headers, columns, record);
    if parsed.errors.is_empty() { Ok((parsed.input, parsed.identity_columns)) } else { Err(parsed.errors) }
}

/// Reads one record, keeping what is good beside the errors (so that the rest of the row can still
/// be checked and every error of the row reported at once).
pub fn read_row(headers: &[String], columns: &[Column], record: &csv::StringRecord) -> ParsedRow {
    let mut input = CustomerInput { source: Some("import".into()), ..Default::default() };
    let mut identity_columns = Vec::new();
    let mut errors = Vec::new();
    if record.len() != columns.len() {
        errors
            .push(FieldError::new("row", format!("has {} fields but the header has {}", record.len(), columns.len())));
        return ParsedRow { input, identity_columns, errors };
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
                    TraitType::Boolean => match cell.to_lowercase().as_str() {
                        "true" | "1" | "yes" | "是" => Ok(Value::Bool(true)),
                        "false" | "0" | "no" | "否" => Ok(Value::Bool(false)),
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
    ParsedRow { input, identity_columns, errors }
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
        return headers
            .iter()
            .find(|h| h.split([':', '：']).next().map(|name| trait_key(name.trim())) == Some(key))
            .cloned()
            .unwrap_or_else(|| key.to_string());
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
    fn chinese_headers_name_identities_tags_sealed_traits_and_types() {
        let h = headers(&["手机号", "邮箱", "会员号", "标签", "姓名", "会员等级", "消费次数：数字", "UnionID"]);
        let columns = parse_header(&h).unwrap();
        assert_eq!(columns[0], Column::Identity(IdentityKind::Phone));
        assert_eq!(columns[1], Column::Identity(IdentityKind::Email));
        assert_eq!(columns[2], Column::Identity(IdentityKind::MemberNo));
        assert_eq!(columns[3], Column::Tags);
        assert_eq!(columns[4], Column::Trait { key: "name".into(), kind: TraitType::String });
        assert_eq!(columns[5], Column::Trait { key: "会员等级".into(), kind: TraitType::String });
        assert_eq!(columns[6], Column::Trait { key: "消费次数".into(), kind: TraitType::Number });
        assert_eq!(columns[7], Column::Identity(IdentityKind::WechatUnionid));
        assert_eq!(column_of("traits.name", &h, &[]), "姓名");
        assert_eq!(column_of("traits.消费次数", &h, &[]), "消费次数：数字");
    }

    #[test]
    fn a_header_without_identity_is_named_header_once() {
        let error = parse_header(&headers(&["城市"])).unwrap_err();
        assert_eq!(error.field, "header");
        assert!(error.reason.contains("手机号"), "{}", error.reason);
    }

    #[test]
    fn a_row_keeps_its_good_cells_beside_every_bad_one() {
        let h = headers(&["phone", "orders:number", "vip:boolean", "city"]);
        let columns = parse_header(&h).unwrap();
        let record = csv::StringRecord::from(vec!["13800000000", "many", "maybe", "上海"]);
        let parsed = read_row(&h, &columns, &record);
        assert_eq!(parsed.errors.len(), 2);
        assert_eq!(parsed.input.identities.len(), 1);
        assert_eq!(parsed.input.traits["city"], "上海");
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
