//! Rules of customer profiles: identity kinds and normalisation, trait validation, masking.

use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds of identity a profile can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// The brand's own user id.
    UserId,
    /// A device or browser id before login.
    AnonymousId,
    /// Phone number (E.164); contact details, masked.
    Phone,
    /// E-mail address (lower-cased); contact details, masked.
    Email,
    /// WeCom external contact id.
    WecomExternalUserid,
    /// WeChat union id.
    WechatUnionid,
    /// WeChat open id.
    WechatOpenid,
    /// Membership number.
    MemberNo,
}

impl IdentityKind {
    /// Every kind.
    pub const ALL: [IdentityKind; 8] = [
        Self::UserId,
        Self::AnonymousId,
        Self::Phone,
        Self::Email,
        Self::WecomExternalUserid,
        Self::WechatUnionid,
        Self::WechatOpenid,
        Self::MemberNo,
    ];

    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserId => "user_id",
            Self::AnonymousId => "anonymous_id",
            Self::Phone => "phone",
            Self::Email => "email",
            Self::WecomExternalUserid => "wecom_external_userid",
            Self::WechatUnionid => "wechat_unionid",
            Self::WechatOpenid => "wechat_openid",
            Self::MemberNo => "member_no",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Returns whether values of this kind are contact details: masked unless the role may read
    /// personal data, and accepted as traits (`traits.phone`). Every kind is sealed at rest and
    /// found through its blind index; ids (user id, openid, …) are shown to whoever reads the profile.
    pub fn is_pii(self) -> bool {
        matches!(self, Self::Phone | Self::Email)
    }

    /// Normalises a raw value of this kind, or says why it is invalid.
    pub fn normalize(self, raw: &str) -> Result<String, String> {
        match self {
            Self::Phone => normalize_phone(raw),
            Self::Email => normalize_email(raw),
            _ => {
                let value = raw.trim();
                if value.is_empty() {
                    Err("must not be empty".into())
                } else if value.len() > 256 {
                    Err("must be at most 256 bytes".into())
                } else if value.chars().any(char::is_control) {
                    Err(format!("\"{}\" contains control characters", value.escape_debug()))
                } else {
                    Ok(value.to_string())
                }
            }
        }
    }
}

/// A normalised identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// Kind.
    pub kind: IdentityKind,
    /// Normalised value.
    pub value: String,
}

impl Identity {
    /// Parses and normalises an identity; errors name `field`.
    pub fn parse(kind: &str, value: &str, field: &str) -> Result<Self, FieldError> {
        let kind = IdentityKind::parse(kind).ok_or_else(|| {
            FieldError::new(
                format!("{field}.type"),
                format!(
                    "unknown identity type \"{kind}\"; expected one of {}",
                    IdentityKind::ALL.map(IdentityKind::as_str).join(", ")
                ),
            )
        })?;
        let value = kind.normalize(value).map_err(|reason| FieldError::new(format!("{field}.value"), reason))?;
        Ok(Self { kind, value })
    }
}

/// Normalises a phone number to E.164; mainland mobile numbers may be given as 11 digits.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return Err(format!("\"{trimmed}\" is not a phone number")),
        }
    }
    let international = trimmed.starts_with('+') || digits.starts_with("00");
    let digits = if !trimmed.starts_with('+') { digits.strip_prefix("00").unwrap_or(&digits) } else { &digits };
    let e164 = if international {
        digits.to_string()
    } else if digits.len() == 11 && digits.starts_with('1') {
        format!("86{digits}")
    } else if digits.len() == 13 && digits.starts_with("861") {
        digits.to_string()
    } else {
        return Err(format!(
            "\"{trimmed}\" is not a mainland mobile number (11 digits starting with 1) or an international number starting with +"
        ));
    };
    if let Some(national) = e164.strip_prefix("86") {
        let valid = national.len() == 11 && national.starts_with('1') && matches!(national.as_bytes()[1], b'3'..=b'9');
        if !valid && national.starts_with('1') {
            return Err(format!("\"{trimmed}\" is not a valid mainland mobile number"));
        }
    }
    if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
        return Err(format!("\"{trimmed}\" is not a valid E.164 number"));
    }
    Ok(format!("+{e164}"))
}

pub use siyu_core::email::normalize_email;

/// Trait keys whose values are personal data: encrypted at rest and masked.
pub const PII_TRAITS: [&str; 3] = ["name", "birthday", "address"];

/// Returns whether a trait key holds personal data.
pub fn is_pii_trait(key: &str) -> bool {
    PII_TRAITS.contains(&key)
}

/// Checks a trait key: 1-64 characters of letters, digits, `_` and `.`, starting with a letter.
pub fn check_trait_key(key: &str) -> Result<(), String> {
    // Letters and digits of any script (会员等级 is as good a name as member_level); no spaces,
    // quotes or other punctuation, so a name is one word in the segment language and in paths.
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(char::is_alphabetic);
    if first_ok && key.chars().count() <= 64 && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
        Ok(())
    } else {
        Err(format!("trait name \"{key}\" must be 1-64 letters, digits, '_' or '.', starting with a letter"))
    }
}

/// Checks a trait value (typed JSON, at most 4 KiB encoded; PII traits have fixed types).
pub fn check_trait_value(key: &str, value: &Value) -> Result<(), String> {
    let encoded_len = serde_json::to_string(value).map(|s| s.len()).unwrap_or(usize::MAX);
    if encoded_len > 4096 {
        return Err("value must be at most 4096 bytes of JSON".into());
    }
    match (key, value) {
        ("name" | "address", Value::String(s)) if !s.trim().is_empty() => Ok(()),
        ("name" | "address", _) => Err(format!("{key} must be a non-empty string")),
        ("birthday", Value::String(s)) => s
            .parse::<jiff::civil::Date>()
            .map(|_| ())
            .map_err(|_| format!("birthday \"{s}\" must be a date like 1990-05-01")),
        ("birthday", _) => Err("birthday must be a date string like 1990-05-01".into()),
        _ => Ok(()),
    }
}

/// Where a write came from.
pub fn check_source(source: &str) -> Result<String, String> {
    let source = source.trim();
    if source.is_empty() || source.len() > 64 {
        Err("source must be 1-64 characters".into())
    } else {
        Ok(source.to_string())
    }
}

/// A validated create-or-update of one customer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerDraft {
    /// Identities to attach (existing owners are merged into one profile).
    pub identities: Vec<Identity>,
    /// Traits to set (`None` removes the trait).
    pub traits: BTreeMap<String, Option<Value>>,
    /// Tag names to assign.
    pub tags: Vec<String>,
    /// Source recorded on traits and identities, e.g. `api`, `import`, `console`.
    pub source: String,
}

/// The raw shape of a customer upsert, as received from the API, CSV or demo generator.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Identities; at least one is required.
    #[serde(default)]
    pub identities: Vec<IdentityInput>,
    /// Traits (typed JSON); `null` removes a trait. `phone` and `email` here are treated as identities.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub traits: serde_json::Map<String, Value>,
    /// Tag names to assign (tags must exist).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Where the data comes from (default `api`).
    #[serde(default)]
    pub source: Option<String>,
}

/// One identity in an input.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityInput {
    /// Kind, e.g. `phone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Value as given; normalised on write.
    pub value: String,
}

/// Most identities, traits and tags in one input.
pub const MAX_ITEMS_PER_INPUT: usize = 100;

impl CustomerInput {
    /// Validates the input; errors are prefixed with `field` (e.g. `customers[3]`).
    pub fn into_draft(
        self,
        field: &str,
        default_source: &str,
        require_identity: bool,
    ) -> Result<CustomerDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let prefix = |name: &str| if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
        let source = match self.source.as_deref().map(check_source).transpose() {
            Ok(source) => source.unwrap_or_else(|| default_source.to_string()),
            Err(reason) => {
                errors.push(FieldError::new(prefix("source"), reason));
                String::new()
            }
        };
        let mut identities: Vec<Identity> = Vec::new();
        for (i, input) in self.identities.iter().enumerate() {
            // Field paths are only formatted when there is an error to report (this is the bulk path).
            let field = || prefix(&format!("identities[{i}]"));
            match IdentityKind::parse(&input.kind).map(|kind| (kind, kind.normalize(&input.value))) {
                Some((kind, Ok(value))) => {
                    match identities.iter().position(|seen| seen.kind == kind && seen.value == value) {
                        Some(first) => errors.push(FieldError::new(
                            format!("{}.value", field()),
                            format!("duplicate of identities[{first}] (\"{value}\" once normalised)"),
                        )),
                        None => identities.push(Identity { kind, value }),
                    }
                }
                Some((_, Err(reason))) => errors.push(FieldError::new(format!("{}.value", field()), reason)),
                None => {
                    errors.push(Identity::parse(&input.kind, &input.value, &field()).expect_err("the kind is unknown"))
                }
            }
        }
        let mut traits = BTreeMap::new();
        for (key, value) in self.traits {
            let trait_field = || prefix(&format!("traits.{key}"));
            if let Some(kind) = IdentityKind::parse(&key).filter(|k| k.is_pii()) {
                match &value {
                    Value::String(raw) => match kind.normalize(raw) {
                        Ok(value) => identities.push(Identity { kind, value }),
                        Err(reason) => errors.push(FieldError::new(trait_field(), reason)),
                    },
                    Value::Null => {}
                    _ => errors.push(FieldError::new(trait_field(), format!("{key} must be a string"))),
                }
                continue;
            }
            if let Err(reason) = check_trait_key(&key) {
                errors.push(FieldError::new(trait_field(), reason));
                continue;
            }
            if value.is_null() {
                traits.insert(key, None);
            } else if let Err(reason) = check_trait_value(&key, &value) {
                errors.push(FieldError::new(trait_field(), reason));
            } else {
                traits.insert(key, Some(value));
            }
        }
        identities.sort();
        identities.dedup();
        let mut tags = Vec::new();
        for (i, tag) in self.tags.iter().enumerate() {
            let tag = tag.trim();
            if tag.is_empty() {
                errors.push(FieldError::new(prefix(&format!("tags[{i}]")), "tag name must not be empty"));
            } else if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
        if require_identity && identities.is_empty() && errors.is_empty() {
            errors.push(FieldError::new(prefix("identities"), "at least one identity is required"));
        }
        if identities.len() > MAX_ITEMS_PER_INPUT
            || traits.len() > MAX_ITEMS_PER_INPUT
            || tags.len() > MAX_ITEMS_PER_INPUT
        {
            errors.push(FieldError::new(
                field.to_string(),
                format!("at most {MAX_ITEMS_PER_INPUT} identities, traits and tags each"),
            ));
        }
        if errors.is_empty() { Ok(CustomerDraft { identities, traits, tags, source }) } else { Err(errors) }
    }
}

/// Masks a personal value for roles without `pii:read`, e.g. `138****0000`, `l***@example.com`.
pub fn mask(kind: &str, value: &str) -> String {
    match kind {
        "phone" => {
            let national = value.strip_prefix("+86").unwrap_or(value);
            let chars: Vec<char> = national.chars().collect();
            if chars.len() <= 7 {
                return "*".repeat(chars.len());
            }
            let head: String = chars[..3].iter().collect();
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
        }
        "email" => match value.split_once('@') {
            Some((local, domain)) => {
                format!("{}***@{domain}", local.chars().next().map(String::from).unwrap_or_default())
            }
            None => "***".into(),
        },
        "birthday" => "****-**-**".into(),
        "address" => {
            let head: String = value.chars().take(6).collect();
            format!("{head}****")
        }
        _ => {
            let mut chars = value.chars();
            match chars.next() {
                Some(first) => format!("{first}{}", "*".repeat(chars.count().clamp(1, 8))),
                None => String::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mainland_mobiles_become_e164() {
        for raw in ["13800000000", "138 0000 0000", "+86 138-0000-0000", "0086 13800000000", "8613800000000"] {
            assert_eq!(normalize_phone(raw).unwrap(), "+8613800000000", "{raw}");
        }
        assert_eq!(normalize_phone("+1 (415) 555-2671").unwrap(), "+14155552671");
        for bad in ["12345", "1380000000", "12800000000", "abc", "138000000001", "+86 12800000000", ""] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(normalize_email(" Li.Wei@Example.COM ").unwrap(), "li.wei@example.com");
        for bad in ["no-at", "a@b", "a b@c.com", "@x.com", "a@-x.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_match_the_documented_shapes() {
        assert_eq!(mask("phone", "+8613800000000"), "138****0000");
        assert_eq!(mask("email", "li@example.com"), "l***@example.com");
        assert_eq!(mask("name", "张三丰"), "张**");
        assert_eq!(mask("birthday", "1990-05-01"), "****-**-**");
        assert_eq!(mask("address", "上海市徐汇区漕溪北路88号"), "上海市徐汇区****");
    }

    #[test]
    fn drafts_collect_every_field_error() {
        let input: CustomerInput = serde_json::from_value(json!({
            "identities": [{"type": "phone", "value": "123"}, {"type": "fax", "value": "1"}],
            "traits": {"birthday": "not a date", "9bad": 1, "email": "x@y.com"},
            "tags": [" "]
        }))
        .unwrap();
        let errors = input.into_draft("customers[2]", "api", true).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "customers[2].identities[0].value",
                "customers[2].identities[1].type",
                "customers[2].traits.9bad",
                "customers[2].traits.birthday",
                "customers[2].tags[0]"
            ]
        );
    }

    #[test]
    fn email_and_phone_traits_become_identities() {
        let input: CustomerInput =
            serde_json::from_value(json!({"traits": {"email": "A@B.com", "city": "上海", "vip": null}})).unwrap();
        let draft = input.into_draft("", "api", true).unwrap();
        assert_eq!(draft.identities, vec![Identity { kind: IdentityKind::Email, value: "a@b.com".into() }]);
        assert_eq!(draft.traits.get("city"), Some(&Some(json!("上海"))));
        assert_eq!(draft.traits.get("vip"), Some(&None));
    }
}
