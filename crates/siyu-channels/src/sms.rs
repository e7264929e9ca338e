//! SMS through a configurable HTTP provider, as Chinese SMS gateways work: one request per message
//! to the provider's URL, its body built from the channel's request template, and an answer in
//! JSON whose code says what became of it. The defaults follow Yunpian's published single send
//! (`POST https://sms.yunpian.com/v2/sms/single_send.json`, a form with `apikey`, `mobile`,
//! `text` starting with the signature in 【】 and `uid`; answer `{"code": 0, "msg": …, "sid": …}`);
//! a template-based gateway is configured with its own URL, body, auth and answer fields.
//!
//! The request template is an object whose string values may hold placeholders, each `{name}`:
//! `phone`, `text`, `signed_text` (`【sign_name】text`), `sign_name`, `template_code` (the
//! message's registered template, else the channel's), `params` (the template's parameters as an
//! object), `param_values` (their values as a list, in the order of their names, numbers
//! numerically), `key` (the message's idempotency key, for gateways that take a caller's id) and
//! `api_key` (the secret). A value that is only `{params}` or `{param_values}` becomes the object
//! or list itself in a JSON body; in a form (or inside other text) it is their JSON text. Unknown
//! placeholders are refused when the channel is saved.
//!
//! What an answer means: the code at `code_field` (a dotted path, list items by number: e.g.
//! `Response.SendStatusSet.0.Code`) in `ok_codes` is accepted, its id read at `id_field`; in
//! `retry_codes` it is tried again later; any other code is refused with the provider's message
//! (at `message_field`). HTTP statuses mean what [`crate::http`] says: 408, 429 and 5xx are
//! retried, other failures refused.

use crate::http::{Client, ConfigError, redacted_url};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use siyu_domain::channels::{
    CallbackRefusal, ChannelAdapter, ChannelSpec, Delivery, DeliveryReport, OutgoingMessage, Receipt,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Yunpian's single-send URL, the default.
pub const DEFAULT_URL: &str = "https://sms.yunpian.com/v2/sms/single_send.json";
/// The placeholders a request template may hold.
pub const PLACEHOLDERS: [&str; 9] =
    ["phone", "text", "signed_text", "sign_name", "template_code", "params", "param_values", "key", "api_key"];
/// The longest answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// The largest request template, in bytes of JSON.
pub const MAX_TEMPLATE: usize = 4 * 1024;
/// How deep a request template may nest.
pub const MAX_TEMPLATE_DEPTH: usize = 4;

/// How the body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` (flat: each value text).
    Form,
    /// `application/json`.
    Json,
}

/// How the request proves who sends it (besides a key in the body).
#[derive(Clone, Debug)]
pub enum SmsAuth {
    /// Nothing beyond the body.
    None,
    /// `Authorization: Bearer <api_key>`.
    Bearer,
    /// HTTP basic with a user name and the password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// The API key in a header of this name.
    Header(String),
}

/// How a phone number (E.164, as siyu keeps it) is written for the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneFormat {
    /// `+8613812341234` as it is.
    E164,
    /// Mainland numbers without `+86` (`13812341234`), others as they are: what domestic gateways
    /// expect.
    National,
}

/// Where the answer says what became of the message.
#[derive(Clone, Debug)]
pub struct AnswerFields {
    /// The code's path.
    pub code: String,
    /// Codes that mean accepted (compared as text: `0` matches the number 0).
    pub ok: Vec<String>,
    /// Codes that may pass later (rate limits, a busy gateway).
    pub retry: Vec<String>,
    /// The provider's message's path.
    pub message: String,
    /// The provider's id for the message.
    pub id: String,
}

impl Default for AnswerFields {
    fn default() -> Self {
        Self { code: "code".into(), ok: vec!["0".into()], retry: Vec::new(), message: "msg".into(), id: "sid".into() }
    }
}

/// An SMS channel's settings.
pub struct SmsConfig {
    /// The provider's URL.
    pub url: url::Url,
    /// How the body is encoded.
    pub format: BodyFormat,
    /// The request template (see the module's documentation).
    pub template: Map<String, Value>,
    /// The signature (签名) registered with the provider, without 【】.
    pub sign_name: String,
    /// The registered template used when a message names none.
    pub template_code: Option<String>,
    /// The API key (`{api_key}`, bearer or header auth).
    pub api_key: Option<SecretString>,
    /// How the request is authenticated.
    pub auth: SmsAuth,
    /// How numbers are written.
    pub phone_format: PhoneFormat,
    /// What the answer means.
    pub answer: AnswerFields,
    /// The whole attempt's limit.
    pub timeout: Duration,
    /// Whether the URL may lead to a private address (a double or a relay).
    pub allow_private_addresses: bool,
}

/// The default request template: Yunpian's single send.
pub fn default_template() -> Map<String, Value> {
    let mut template = Map::new();
    for (name, value) in [("apikey", "{api_key}"), ("mobile", "{phone}"), ("text", "{signed_text}"), ("uid", "{key}")] {
        template.insert(name.into(), Value::String(value.into()));
    }
    template
}

/// Why a request template was refused: the path of the value at fault and the reason.
pub fn check_template(template: &Map<String, Value>, format: BodyFormat) -> Result<(), (String, String)> {
    if Value::Object(template.clone()).to_string().len() > MAX_TEMPLATE {
        return Err((String::new(), format!("is larger than {MAX_TEMPLATE} bytes of JSON")));
    }
    fn walk(path: &str, value: &Value, depth: usize, format: BodyFormat) -> Result<(), (String, String)> {
        match value {
            Value::String(text) => placeholders(text).try_for_each(|name| match PLACEHOLDERS.contains(&name) {
                true => Ok(()),
                false => Err((
                    path.to_string(),
                    format!("{{{name}}} is not a placeholder (they are: {})", PLACEHOLDERS.join(", ")),
                )),
            }),
            _ if format == BodyFormat::Form => Err((path.to_string(), "a form's values must be text".into())),
            _ if depth >= MAX_TEMPLATE_DEPTH => {
                Err((path.to_string(), format!("nests deeper than {MAX_TEMPLATE_DEPTH}")))
            }
            Value::Object(map) => map.iter().try_for_each(|(k, v)| walk(&format!("{path}.{k}"), v, depth + 1, format)),
            Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, v)| walk(&format!("{path}.{i}"), v, depth + 1, format))
            }
            _ => Ok(()),
        }
    }
    template.iter().try_for_each(|(k, v)| walk(&format!(".{k}"), v, 1, format))
}

/// The `{name}` placeholders in `text` (a name is ASCII letters and `_`).
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let end = rest.find('}')?;
        let name = &rest[..end];
        (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')).then_some(name)
    })
}

/// Whether any text in `template` holds the placeholder `name`.
fn value_names(template: &Value, name: &str) -> bool {
    match template {
        Value::String(text) => placeholders(text).any(|found| found == name),
        Value::Object(map) => map.values().any(|v| value_names(v, name)),
        Value::Array(items) => items.iter().any(|v| value_names(v, name)),
        _ => false,
    }
}

/// Reads the value at a dotted path (`a.b.0.c`).
fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, step| match value {
        Value::Object(map) => map.get(step),
        Value::Array(items) => items.get(step.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A value as the text an answer's code is compared with.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The SMS adapter.
pub struct Sms {
    config: SmsConfig,
    client: Client,
    /// The request template as the value each message fills.
    template: Value,
    /// Whether it holds `{template_code}` (a message then needs a registered template).
    names_template_code: bool,
}

impl std::fmt::Debug for Sms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sms")
            .field("url", &redacted_url(&self.config.url))
            .field("format", &self.config.format)
            .finish()
    }
}

/// What a message fills into the template.
struct Filling<'a> {
    text: BTreeMap<&'static str, String>,
    params: &'a BTreeMap<String, String>,
}

impl Filling<'_> {
    fn structured(&self, name: &str) -> Option<Value> {
        match name {
            "params" => {
                Some(Value::Object(self.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()))
            }
            "param_values" => {
                let mut named: Vec<(&String, &String)> = self.params.iter().collect();
                // `1, 2, …, 10` in their numbers' order (positional templates), names by name.
                named.sort_by_key(|(name, _)| name.parse::<u64>().map_err(|_| name.to_string()));
                Some(Value::Array(named.into_iter().map(|(_, v)| Value::String(v.clone())).collect()))
            }
            _ => None,
        }
    }

    fn fill_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name = after.find('}').map(|end| &after[..end]);
            match name {
                Some(name) if self.text.contains_key(name) || self.structured(name).is_some() => {
                    match self.text.get(name) {
                        Some(value) => out.push_str(value),
                        None => out.push_str(&self.structured(name).map(|v| v.to_string()).unwrap_or_default()),
                    }
                    rest = &after[name.len() + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn fill(&self, value: &Value, format: BodyFormat) -> Value {
        match value {
            Value::String(text) if format == BodyFormat::Json => {
                let whole = text.strip_prefix('{').and_then(|t| t.strip_suffix('}'));
                match whole.and_then(|name| self.structured(name)) {
                    Some(structured) => structured,
                    None => Value::String(self.fill_text(text)),
                }
            }
            Value::String(text) => Value::String(self.fill_text(text)),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.fill(v, format))).collect()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.fill(v, format)).collect()),
            other => other.clone(),
        }
    }
}

impl Sms {
    /// Checks the settings and sets up the client.
    pub fn new(config: SmsConfig) -> Result<Self, ConfigError> {
        if config.sign_name.trim().is_empty() {
            return Err(ConfigError::Client("the signature name is empty".into()));
        }
        check_template(&config.template, config.format)
            .map_err(|(path, reason)| ConfigError::Client(format!("the request template{path} {reason}")))?;
        let template = Value::Object(config.template.clone());
        let names = |name: &str| value_names(&template, name);
        let needs_key = names("api_key") || matches!(config.auth, SmsAuth::Bearer | SmsAuth::Header(_));
        if needs_key && config.api_key.as_ref().is_none_or(|k| k.expose_secret().trim().is_empty()) {
            return Err(ConfigError::Secret("the API key is required".into()));
        }
        let names_template_code = names("template_code");
        let client = Client::new(&config.url, config.timeout, config.allow_private_addresses)?;
        Ok(Self { config, client, template, names_template_code })
    }

    /// The number as the provider takes it.
    fn phone(&self, phone: &str) -> String {
        match self.config.phone_format {
            PhoneFormat::National => phone.strip_prefix("+86").unwrap_or(phone).to_string(),
            PhoneFormat::E164 => phone.to_string(),
        }
    }

    /// The request's body for `message`, or why it cannot be sent.
    pub fn body(&self, message: &OutgoingMessage) -> Result<Value, String> {
        let template_code = message.template.clone().or_else(|| self.config.template_code.clone());
        if template_code.is_none() && self.names_template_code {
            return Err("the message names no registered template and the channel has no template_code".into());
        }
        let mut text = BTreeMap::new();
        text.insert("phone", self.phone(&message.to));
        text.insert("text", message.body.clone());
        text.insert("signed_text", format!("【{}】{}", self.config.sign_name, message.body));
        text.insert("sign_name", self.config.sign_name.clone());
        text.insert("template_code", template_code.unwrap_or_default());
        text.insert("key", message.idempotency_key.clone());
        text.insert("api_key", self.config.api_key.as_ref().map(|k| k.expose_secret().to_string()).unwrap_or_default());
        let filling = Filling { text, params: &message.params };
        Ok(filling.fill(&self.template, self.config.format))
    }

    /// What the provider's answer means.
    fn outcome(&self, answer: &Value) -> Delivery {
        let fields = &self.config.answer;
        let message = at_path(answer, &fields.message).and_then(as_text).unwrap_or_default();
        let message: String = message.chars().take(300).collect();
        let Some(code) = at_path(answer, &fields.code).and_then(as_text) else {
            let shown: String = answer.to_string().chars().take(200).collect();
            return Delivery::Rejected { reason: format!("the SMS provider's answer has no {}: {shown}", fields.code) };
        };
        if fields.ok.contains(&code) {
            Delivery::Accepted { provider_id: at_path(answer, &fields.id).and_then(as_text) }
        } else if fields.retry.contains(&code) {
            Delivery::Retry { reason: format!("SMS provider code {code}: {message}"), after: None }
        } else {
            Delivery::Rejected { reason: format!("SMS provider code {code}: {message}") }
        }
    }
}

#[async_trait]
impl ChannelAdapter for Sms {
    fn name(&self) -> &'static str {
        "sms"
    }

    async fn send(&self, message: &OutgoingMessage) -> Delivery {
        if message.to.is_empty() {
            return Delivery::Rejected { reason: "the message names no phone number".into() };
        }
        if let Err(reason) = siyu_domain::channels::templates::check_length("sms", &message.body) {
            return Delivery::Rejected { reason };
        }
        let body = match self.body(message) {
            Ok(body) => body,
            Err(reason) => return Delivery::Rejected { reason },
        };
        let mut request = self.client.post(self.config.url.clone()).header("accept", "application/json");
        request = match self.config.format {
            BodyFormat::Json => request.json(&body),
            BodyFormat::Form => {
                let pairs: Vec<(String, String)> = body
                    .as_object()
                    .map(|map| map.iter().map(|(k, v)| (k.clone(), as_text(v).unwrap_or_default())).collect())
                    .unwrap_or_default();
                request.form(&pairs)
            }
        };
        let key = self.config.api_key.as_ref().map(|k| k.expose_secret().to_string()).unwrap_or_default();
        request = match &self.config.auth {
            SmsAuth::None => request,
            SmsAuth::Bearer => request.bearer_auth(key),
            SmsAuth::Basic { username, password } => request.basic_auth(username, Some(password.expose_secret())),
            SmsAuth::Header(name) => request.header(name.as_str(), key),
        };
        match self.client.send_json(request, MAX_ANSWER).await {
            Ok(answer) => self.outcome(&answer),
            Err(failed) => failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(params: &[(&str, &str)]) -> OutgoingMessage {
        OutgoingMessage {
            idempotency_key: "journey:1:v1:send:7".into(),
            workspace: siyu_core::WorkspaceId(1),
            customer: Some(siyu_core::CustomerId(7)),
            to: "+8613812341234".into(),
            subject: None,
            body: "您的会员积分即将过期".into(),
            html: None,
            unsubscribe_url: None,
            data: json!({}),
            template: None,
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn sms(template: Value, format: BodyFormat) -> Result<Sms, ConfigError> {
        Sms::new(SmsConfig {
            url: "https://sms.example.com/send".parse().unwrap(),
            format,
            template: template.as_object().unwrap().clone(),
            sign_name: "思语".into(),
            template_code: Some("SMS_100".into()),
            api_key: Some(SecretString::from("key-123")),
            auth: SmsAuth::None,
            phone_format: PhoneFormat::National,
            answer: AnswerFields::default(),
            timeout: Duration::from_secs(5),
            allow_private_addresses: false,
        })
    }

    #[test]
    fn the_template_is_filled_with_structured_values_where_json_takes_them() {
        let template = json!({
            "PhoneNumberSet": ["{phone}"], "SignName": "{sign_name}", "TemplateId": "{template_code}",
            "TemplateParamSet": "{param_values}", "Params": "{params}", "Note": "k={key} {unknown brace",
        });
        let channel = sms(template, BodyFormat::Json).unwrap();
        let params = [("2", "30"), ("10", "末"), ("1", "张三")];
        let body = channel.body(&message(&params)).unwrap();
        assert_eq!(body["PhoneNumberSet"], json!(["13812341234"]));
        assert_eq!(body["TemplateId"], "SMS_100");
        assert_eq!(body["TemplateParamSet"], json!(["张三", "30", "末"]));
        assert_eq!(body["Params"], json!({"1": "张三", "10": "末", "2": "30"}));
        assert_eq!(body["Note"], "k=journey:1:v1:send:7 {unknown brace");

        let form =
            sms(json!({"mobile": "{phone}", "tpl_value": "{params}", "text": "{signed_text}"}), BodyFormat::Form);
        let body = form.unwrap().body(&message(&[("code", "1234")])).unwrap();
        assert_eq!(body["tpl_value"], r#"{"code":"1234"}"#);
        assert_eq!(body["text"], "【思语】您的会员积分即将过期");
    }

    #[test]
    fn a_bad_template_is_refused_naming_the_value() {
        let error = |template: Value, format| match sms(template, format) {
            Err(ConfigError::Client(reason)) => reason,
            other => panic!("{:?}", other.map(|_| ())),
        };
        assert!(error(json!({"to": "{mobile}"}), BodyFormat::Json).contains(".to {mobile} is not a placeholder"));
        assert!(error(json!({"a": {"b": "{phone}"}}), BodyFormat::Form).contains(".a a form's values must be text"));
        let deep = json!({"a": {"b": {"c": {"d": {"e": "x"}}}}});
        assert!(error(deep, BodyFormat::Json).contains("nests deeper"));
        assert!(matches!(
            Sms::new(SmsConfig { api_key: None, ..sms_config(json!({"k": "{api_key}"})) }),
            Err(ConfigError::Secret(_))
        ));
    }

    fn sms_config(template: Value) -> SmsConfig {
        SmsConfig {
            url: "https://sms.example.com/send".parse().unwrap(),
            format: BodyFormat::Json,
            template: template.as_object().unwrap().clone(),
            sign_name: "思语".into(),
            template_code: None,
            api_key: Some(SecretString::from("key-123")),
            auth: SmsAuth::None,
            phone_format: PhoneFormat::E164,
            answer: AnswerFields::default(),
            timeout: Duration::from_secs(5),
            allow_private_addresses: false,
        }
    }

    #[test]
    fn a_message_without_a_registered_template_is_refused_where_one_is_needed() {
        let channel = Sms::new(sms_config(json!({"tpl": "{template_code}"}))).unwrap();
        assert!(channel.body(&message(&[])).unwrap_err().contains("no registered template"));
        let mut named = message(&[]);
        named.template = Some("SMS_7".into());
        assert_eq!(channel.body(&named).unwrap()["tpl"], "SMS_7");
        assert!(!format!("{channel:?}").contains("key-123"));
    }

    #[test]
    fn answers_are_read_at_their_paths() {
        let mut config = sms_config(json!({"m": "{phone}"}));
        config.answer = AnswerFields {
            code: "Response.SendStatusSet.0.Code".into(),
            ok: vec!["Ok".into()],
            retry: vec!["LimitExceeded.PhoneNumberThirtySecondLimit".into()],
            message: "Response.SendStatusSet.0.Message".into(),
            id: "Response.SendStatusSet.0.SerialNo".into(),
        };
        let channel = Sms::new(config).unwrap();
        let answer =
            |code: &str| json!({"Response": {"SendStatusSet": [{"Code": code, "Message": "m", "SerialNo": "s-1"}]}});
        assert_eq!(channel.outcome(&answer("Ok")), Delivery::Accepted { provider_id: Some("s-1".into()) });
        assert!(matches!(
            channel.outcome(&answer("LimitExceeded.PhoneNumberThirtySecondLimit")),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            channel.outcome(&answer("InvalidParameterValue.IncorrectPhoneNumber")),
            Delivery::Rejected { reason: "SMS provider code InvalidParameterValue.IncorrectPhoneNumber: m".into() }
        );
        assert!(
            matches!(channel.outcome(&json!({"Response": {}})), Delivery::Rejected { reason } if reason.contains("has no"))
        );
    }
}

/// The delivery report formats an SMS channel reads (`report_format`): Aliyun's `SmsReport` (a
/// JSON array of `biz_id`, `success`, `err_code`, `err_msg`, …; answered `{"code":0,…}`) and
/// Tencent Cloud's status callback (`sid`, `report_status` `SUCCESS`/`FAIL`, `errmsg`,
/// `description`, …; answered `{"result":0,…}`).
pub const REPORT_FORMATS: [&str; 2] = ["aliyun", "tencent"];
/// The most receipts one report carries.
pub const MAX_REPORT_ITEMS: usize = 1_000;

/// Checks a delivery report's token (the channel's `report_token` secret, compared in constant
/// time, before anything else) and reads its receipts in the channel's `report_format`.
pub fn open_report(spec: &ChannelSpec, token: &str, body: &str) -> Result<DeliveryReport, CallbackRefusal> {
    use subtle::ConstantTimeEq;
    let Some(expected) = spec.secrets.get("report_token") else {
        return Err(CallbackRefusal::NotConfigured(format!("channel \"{}\" has no report_token", spec.name)));
    };
    if !bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
        return Err(CallbackRefusal::Forged("the report token does not match".into()));
    }
    let items = match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(item @ Value::Object(_)) => vec![item],
        Ok(_) => return Err(CallbackRefusal::Unreadable("a report is a JSON array of receipts".into())),
        Err(e) => return Err(CallbackRefusal::Unreadable(format!("the report is not JSON: {e}"))),
    };
    if items.len() > MAX_REPORT_ITEMS {
        return Err(CallbackRefusal::Unreadable(format!("a report holds at most {MAX_REPORT_ITEMS} receipts")));
    }
    let text = |item: &Value, name: &str| match item.get(name) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let words = |parts: [String; 2]| {
        let joined = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
        Some(joined.chars().take(200).collect::<String>()).filter(|w| !w.is_empty())
    };
    let tencent = spec.settings.get("report_format").and_then(Value::as_str) == Some("tencent");
    let receipts = items
        .iter()
        .map(|item| match tencent {
            true => {
                let delivered = text(item, "report_status").eq_ignore_ascii_case("SUCCESS");
                Receipt {
                    provider_id: text(item, "sid"),
                    delivered,
                    reason: words([text(item, "errmsg"), text(item, "description")]),
                }
            }
            false => {
                let delivered = match item.get("success") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => s == "true",
                    _ => false,
                };
                Receipt {
                    provider_id: text(item, "biz_id"),
                    delivered,
                    reason: words([text(item, "err_code"), text(item, "err_msg")]),
                }
            }
        })
        .filter(|receipt| !receipt.provider_id.is_empty())
        .collect();
    let answer = match tencent {
        true => r#"{"result":0,"errmsg":"OK"}"#,
        false => r#"{"code":0,"msg":"接收成功"}"#,
    };
    Ok(DeliveryReport { receipts, answer: answer.into() })
}

#[cfg(test)]
mod report_tests {
    use super::*;

    fn spec(format: &str) -> ChannelSpec {
        let mut settings = Map::new();
        settings.insert("report_format".into(), format.into());
        ChannelSpec {
            name: "sms".into(),
            kind: "sms".into(),
            settings,
            secrets: [("report_token".to_string(), "rt-0123456789abcdef".to_string())].into(),
        }
    }

    #[test]
    fn aliyun_and_tencent_reports_are_read_and_answered_as_each_gateway_expects() {
        let aliyun = r#"[{"phone_number":"13800000000","send_time":"2026-12-03 10:00:00","report_time":"2026-12-03 10:00:05","success":true,"err_code":"DELIVERED","err_msg":"用户接收成功","sms_size":"1","biz_id":"900619746936498440^0","out_id":"m-1"},
            {"phone_number":"13900000000","success":false,"err_code":"MK:0001","err_msg":"空号","biz_id":"900619746936498441^0"}]"#;
        let report = open_report(&spec("aliyun"), "rt-0123456789abcdef", aliyun).unwrap();
        assert_eq!(report.answer, r#"{"code":0,"msg":"接收成功"}"#);
        assert_eq!(report.receipts.len(), 2);
        assert!(report.receipts[0].delivered && report.receipts[0].provider_id == "900619746936498440^0");
        assert_eq!((report.receipts[1].delivered, report.receipts[1].reason.as_deref()), (false, Some("MK:0001 空号")));
        let tencent = r#"[{"user_receive_time":"2026-12-03 08:03:04","nationcode":"86","mobile":"13800000000","report_status":"FAIL","errmsg":"MN:0017","description":"手机号码不存在","sid":"2019:-7247735843328063234"}]"#;
        let report = open_report(&spec("tencent"), "rt-0123456789abcdef", tencent).unwrap();
        assert_eq!(report.answer, r#"{"result":0,"errmsg":"OK"}"#);
        assert_eq!(report.receipts[0].provider_id, "2019:-7247735843328063234");
        assert!(!report.receipts[0].delivered);
    }

    #[test]
    fn a_wrong_token_is_refused_before_the_body_is_read() {
        assert!(matches!(open_report(&spec("aliyun"), "guess", "not json"), Err(CallbackRefusal::Forged(_))));
        assert!(matches!(
            open_report(&spec("aliyun"), "rt-0123456789abcdef", "not json"),
            Err(CallbackRefusal::Unreadable(_))
        ));
        let many = format!("[{}]", vec!["{}"; MAX_REPORT_ITEMS + 1].join(","));
        assert!(matches!(
            open_report(&spec("aliyun"), "rt-0123456789abcdef", &many),
            Err(CallbackRefusal::Unreadable(_))
        ));
    }
}
