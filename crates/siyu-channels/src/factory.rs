//! Builds adapters from configured channels ([`Factory`], the domain's `ChannelFactory`): each
//! kind's settings read and checked, errors naming the setting. The kinds and their settings are
//! documented in docs/CHANNELS.md.

use crate::email::{Email, EmailConfig, SmtpSecurity};
use crate::http::ConfigError;
use crate::robots::{Robot, RobotConfig, RobotKind};
use crate::sms::{AnswerFields, BodyFormat, PhoneFormat, Sms, SmsAuth, SmsConfig};
use crate::tencent_api::{ApiConfig, Platform, TencentApi};
use crate::webhook::{Webhook, WebhookConfig};
use crate::wechat::{Notification, WeChatNotify};
use crate::wecom::{CallbackCrypto, CallbackError, xml_fields};
use crate::wecom_api::{WeComAppMessage, WeComGroupSend};
use secrecy::SecretString;
use serde_json::Value;
use siyu_core::clock::Clock;
use siyu_domain::FieldError;
use siyu_domain::channels::{
    CallbackPayload, CallbackRefusal, ChannelAdapter, ChannelFactory, ChannelKind, ChannelSpec, DeliveryReport,
    OpenedCallback, SignedCallback,
};
use siyu_domain::customers::IdentityKind;
use siyu_domain::customers::consent::Channel as ConsentChannel;
use std::sync::Arc;
use std::time::Duration;

/// A channel's attempt limit unless its `timeout_ms` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const KINDS: &[ChannelKind] = &[
    ChannelKind { name: "webhook", secrets: &["secret"], address: None, consent: None, for_customers: true },
    ChannelKind {
        name: "email",
        secrets: &["password"],
        address: Some(IdentityKind::Email),
        consent: Some(ConsentChannel::Email),
        for_customers: true,
    },
    ChannelKind {
        name: "wecom",
        secrets: &["secret", "callback_token", "encoding_aes_key"],
        address: Some(IdentityKind::WecomExternalUserid),
        consent: Some(ConsentChannel::Wecom),
        for_customers: true,
    },
    ChannelKind {
        name: "wechat_mp",
        secrets: &["secret", "callback_token", "encoding_aes_key"],
        address: Some(IdentityKind::WechatOpenid),
        consent: Some(ConsentChannel::WechatMp),
        for_customers: true,
    },
    ChannelKind {
        name: "wechat_mini",
        secrets: &["secret", "callback_token", "encoding_aes_key"],
        address: Some(IdentityKind::WechatOpenid),
        consent: Some(ConsentChannel::WechatMp),
        for_customers: true,
    },
    ChannelKind {
        name: "sms",
        secrets: &["api_key", "password", "report_token"],
        address: Some(IdentityKind::Phone),
        consent: Some(ConsentChannel::Sms),
        for_customers: true,
    },
    ChannelKind { name: "wecom_app", secrets: &["secret"], address: None, consent: None, for_customers: false },
    ChannelKind { name: "dingtalk", secrets: &["url", "secret"], address: None, consent: None, for_customers: false },
    ChannelKind { name: "feishu", secrets: &["url", "secret"], address: None, consent: None, for_customers: false },
];

/// Builds siyu's adapters.
pub struct Factory {
    clock: Arc<dyn Clock>,
    allow_private_addresses: bool,
}

impl Factory {
    /// A factory whose adapters date their requests with `clock`; `allow_private_addresses` lets
    /// channels reach loopback and private addresses (a server-wide setting, off by default: a
    /// workspace's channel must not reach the server's own network).
    pub fn new(clock: Arc<dyn Clock>, allow_private_addresses: bool) -> Self {
        Self { clock, allow_private_addresses }
    }
}

/// Reads a channel's settings, collecting every problem.
struct Reader<'a> {
    spec: &'a ChannelSpec,
    errors: Vec<FieldError>,
}

impl Reader<'_> {
    fn text(&mut self, name: &str, required: bool) -> Option<String> {
        match self.spec.settings.get(name) {
            Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_string()),
            None if !required => None,
            Some(Value::String(_)) | None => {
                self.errors.push(FieldError::new(format!("settings.{name}"), "is required"));
                None
            }
            Some(_) => {
                self.errors.push(FieldError::new(format!("settings.{name}"), "must be a string"));
                None
            }
        }
    }

    fn secret(&mut self, name: &str, required: bool) -> Option<SecretString> {
        match self.spec.secrets.get(name) {
            Some(text) if !text.trim().is_empty() => Some(SecretString::from(text.trim().to_string())),
            None if !required => None,
            _ => {
                self.errors.push(FieldError::new(format!("secrets.{name}"), "is required"));
                None
            }
        }
    }

    fn url(&mut self, field: &str, text: &str) -> Option<url::Url> {
        match url::Url::parse(text) {
            Ok(url) => Some(url),
            Err(e) => {
                self.errors.push(FieldError::new(field, format!("is not a URL: {e}")));
                None
            }
        }
    }

    fn timeout(&mut self) -> Duration {
        match self.spec.settings.get("timeout_ms") {
            None => DEFAULT_TIMEOUT,
            Some(value) => match value.as_u64().filter(|ms| (1..=60_000).contains(ms)) {
                Some(ms) => Duration::from_millis(ms),
                None => {
                    self.errors.push(FieldError::new("settings.timeout_ms", "must be 1 to 60000"));
                    DEFAULT_TIMEOUT
                }
            },
        }
    }

    /// A setting that is one of `choices` (the first when left out).
    fn choice(&mut self, name: &str, choices: &[&'static str]) -> &'static str {
        match self.text(name, false) {
            None => choices[0],
            Some(text) => choices.iter().find(|c| **c == text).copied().unwrap_or_else(|| {
                self.errors.push(FieldError::new(
                    format!("settings.{name}"),
                    format!("\"{text}\" is not one of {}", choices.join(", ")),
                ));
                choices[0]
            }),
        }
    }

    /// A list of texts (numbers taken as their text), at most 50 of at most 200 bytes each.
    fn texts(&mut self, name: &str) -> Option<Vec<String>> {
        let value = self.spec.settings.get(name)?;
        let items: Option<Vec<String>> = value.as_array().filter(|items| items.len() <= 50).and_then(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) if !text.is_empty() && text.len() <= 200 => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
                .collect()
        });
        if items.is_none() {
            self.errors.push(FieldError::new(
                format!("settings.{name}"),
                "must be a list of at most 50 codes (texts or numbers)",
            ));
        }
        items
    }

    /// Refuses settings the kind does not take (a misspelt one would be silently ignored).
    /// A callback's token and EncodingAESKey (WeCom's, an official account's) go together; the
    /// key is checked as the provider makes it.
    fn callback_secrets(&mut self) {
        let spec = self.spec;
        let token = self.secret("callback_token", spec.secrets.contains_key("encoding_aes_key"));
        let aes_key = self.secret("encoding_aes_key", spec.secrets.contains_key("callback_token"));
        if let (Some(token), Some(aes_key)) = (&token, &aes_key) {
            use secrecy::ExposeSecret as _;
            if let Err(error) = CallbackCrypto::new(token.expose_secret(), aes_key.expose_secret(), "") {
                self.errors.push(FieldError::new("secrets.encoding_aes_key", error.to_string()));
            }
        }
    }

    fn only(&mut self, known: &[&str]) {
        for name in self.spec.settings.keys() {
            if !known.contains(&name.as_str())
                && !["dry_run", "consent_channel", "rate_per_minute"].contains(&name.as_str())
            {
                self.errors.push(FieldError::new(
                    format!("settings.{name}"),
                    format!("is not a setting of a {} channel (its settings: {})", self.spec.kind, known.join(", ")),
                ));
            }
        }
    }

    fn done<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ if !self.errors.is_empty() => Err(self.errors),
            _ => Err(vec![FieldError::new("settings", "are incomplete")]),
        }
    }
}

/// The field a configuration error is about.
fn config_error(url_field: &str, error: ConfigError) -> Vec<FieldError> {
    let field = match error {
        ConfigError::Scheme | ConfigError::NoHost | ConfigError::PrivateAddress(_) => url_field,
        ConfigError::Secret(_) => "secrets.secret",
        ConfigError::Timeout => "settings.timeout_ms",
        ConfigError::Client(_) => "settings",
    };
    vec![FieldError::new(field, error.to_string())]
}

/// Opens a callback to a `wecom` channel: the signature first, then the key and receive id (its
/// `corp_id`), then the message's XML.
/// The crypto of a channel's callbacks: its `callback_token` and `encoding_aes_key`, and the
/// receive id in `receive_id_setting` (a WeCom corp id, an official account's app id).
fn callback_crypto(spec: &ChannelSpec, receive_id_setting: &str) -> Result<CallbackCrypto, CallbackRefusal> {
    let (Some(token), Some(aes_key)) = (spec.secrets.get("callback_token"), spec.secrets.get("encoding_aes_key"))
    else {
        return Err(CallbackRefusal::NotConfigured(format!(
            "channel \"{}\" has no callback_token and encoding_aes_key",
            spec.name
        )));
    };
    let receive_id = spec.settings.get(receive_id_setting).and_then(Value::as_str).unwrap_or_default();
    CallbackCrypto::new(token, aes_key, receive_id)
        .map_err(|e| CallbackRefusal::NotConfigured(format!("channel \"{}\": {e}", spec.name)))
}

fn refusal(error: CallbackError) -> CallbackRefusal {
    match error {
        CallbackError::Signature => CallbackRefusal::Forged(error.to_string()),
        other => CallbackRefusal::Unreadable(other.to_string()),
    }
}

/// Opens an encrypted message: the XML body's `Encrypt`, checked against `msg_signature`.
fn open_encrypted(
    crypto: &CallbackCrypto,
    callback: &SignedCallback,
    body: &str,
) -> Result<OpenedCallback, CallbackRefusal> {
    // Unsigned until its Encrypt is checked: a body that is not the provider's counts as forged.
    let outer = xml_fields(body).map_err(|e| CallbackRefusal::Forged(e.to_string()))?;
    let Some(encrypted) = outer.get("Encrypt") else {
        return Err(CallbackRefusal::Forged("the body holds no Encrypt element".into()));
    };
    let message =
        crypto.decrypt(&callback.msg_signature, &callback.timestamp, &callback.nonce, encrypted).map_err(refusal)?;
    xml_fields(&message).map(OpenedCallback::Message).map_err(refusal)
}

fn open_wecom_callback(spec: &ChannelSpec, callback: &SignedCallback) -> Result<OpenedCallback, CallbackRefusal> {
    let crypto = callback_crypto(spec, "corp_id")?;
    let (timestamp, nonce, signature) = (&callback.timestamp, &callback.nonce, &callback.msg_signature);
    match &callback.payload {
        CallbackPayload::Echo(echo) => {
            crypto.decrypt(signature, timestamp, nonce, echo).map(OpenedCallback::Echo).map_err(refusal)
        }
        CallbackPayload::PlainEcho(_) => Err(CallbackRefusal::Forged("a WeCom URL check is encrypted".into())),
        CallbackPayload::Body(body) => open_encrypted(&crypto, callback, body),
    }
}

/// A WeChat official account's callback (or a mini-program's message push): its URL check (`signature` over token, timestamp and
/// nonce; `echostr` answered as it is) and its messages in safe mode (安全模式: encrypted as
/// WeCom's are, the receive id the account's app id).
fn open_mp_callback(spec: &ChannelSpec, callback: &SignedCallback) -> Result<OpenedCallback, CallbackRefusal> {
    let crypto = callback_crypto(spec, "app_id")?;
    match &callback.payload {
        CallbackPayload::PlainEcho(echo) => crypto
            .verify_plain_signature(&callback.msg_signature, &callback.timestamp, &callback.nonce)
            .map(|()| OpenedCallback::Echo(echo.clone()))
            .map_err(refusal),
        CallbackPayload::Echo(_) => {
            Err(CallbackRefusal::Forged("an official account's URL check is not encrypted".into()))
        }
        CallbackPayload::Body(body) => open_encrypted(&crypto, callback, body),
    }
}

impl Factory {
    /// A Tencent API client from a channel's `base_url`, `timeout_ms` and `secret`, for `app_id`
    /// (problems go to `r`; the client's own refusal is the inner error).
    fn api(
        &self,
        r: &mut Reader<'_>,
        platform: Platform,
        app_id: Option<String>,
    ) -> Option<Result<Arc<TencentApi>, Vec<FieldError>>> {
        let base = r.text("base_url", false).unwrap_or_else(|| platform.default_base_url().to_string());
        let base_url = r.url("settings.base_url", &base);
        let secret = r.secret("secret", true);
        let timeout = r.timeout();
        let ((app_id, base_url), secret) = app_id.zip(base_url).zip(secret)?;
        let config = ApiConfig {
            platform,
            base_url,
            app_id,
            secret,
            timeout,
            allow_private_addresses: self.allow_private_addresses,
        };
        Some(
            TencentApi::new(config, self.clock.clone()).map(Arc::new).map_err(|e| config_error("settings.base_url", e)),
        )
    }
}

impl ChannelFactory for Factory {
    fn kinds(&self) -> &[ChannelKind] {
        KINDS
    }

    fn open_callback(&self, spec: &ChannelSpec, callback: &SignedCallback) -> Result<OpenedCallback, CallbackRefusal> {
        match spec.kind.as_str() {
            "wecom" => open_wecom_callback(spec, callback),
            // A mini-program's message push (消息推送) is checked and encrypted as an account's.
            "wechat_mp" | "wechat_mini" => open_mp_callback(spec, callback),
            other => Err(CallbackRefusal::NotConfigured(format!("a {other} channel takes no callbacks"))),
        }
    }

    fn open_report(&self, spec: &ChannelSpec, token: &str, body: &str) -> Result<DeliveryReport, CallbackRefusal> {
        match spec.kind.as_str() {
            "sms" => crate::sms::open_report(spec, token, body),
            other => Err(CallbackRefusal::NotConfigured(format!("a {other} channel takes no delivery reports"))),
        }
    }

    fn build(&self, spec: &ChannelSpec) -> Result<Arc<dyn ChannelAdapter>, Vec<FieldError>> {
        let mut r = Reader { spec, errors: Vec::new() };
        let private = self.allow_private_addresses;
        match spec.kind.as_str() {
            "webhook" => {
                r.only(&["url", "timeout_ms"]);
                let url = r.text("url", true).and_then(|u| r.url("settings.url", &u));
                let secret = r.secret("secret", true);
                let timeout = r.timeout();
                let config = r.done(url.zip(secret))?;
                let config =
                    WebhookConfig { url: config.0, secret: config.1, timeout, allow_private_addresses: private };
                let hook = Webhook::new(config, self.clock.clone()).map_err(|e| config_error("settings.url", e))?;
                Ok(Arc::new(hook))
            }
            "email" => {
                r.only(&["host", "port", "security", "username", "from", "timeout_ms"]);
                let host = r.text("host", true);
                let from = r.text("from", true);
                let username = r.text("username", false);
                let password = r.secret("password", username.is_some());
                let security = match r.text("security", false).as_deref() {
                    None | Some("starttls") => SmtpSecurity::StartTls,
                    Some("tls") => SmtpSecurity::Tls,
                    Some("plain") => SmtpSecurity::Plain,
                    Some(other) => {
                        r.errors.push(FieldError::new(
                            "settings.security",
                            format!("\"{other}\" is not one of tls, starttls, plain"),
                        ));
                        SmtpSecurity::StartTls
                    }
                };
                let port = match spec.settings.get("port") {
                    None => match security {
                        SmtpSecurity::Tls => 465,
                        SmtpSecurity::StartTls => 587,
                        SmtpSecurity::Plain => 25,
                    },
                    Some(value) => match value.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                        Some(port) => port,
                        None => {
                            r.errors.push(FieldError::new("settings.port", "must be 1 to 65535"));
                            0
                        }
                    },
                };
                let timeout = r.timeout();
                let (host, from) = r.done(host.zip(from))?;
                let config = EmailConfig {
                    host,
                    port,
                    security,
                    credentials: username.zip(password),
                    from,
                    timeout,
                    allow_private_addresses: private,
                };
                let email = Email::new(config).map_err(|e| match e {
                    ConfigError::Client(reason) if reason.contains("sender") => {
                        vec![FieldError::new("settings.from", reason)]
                    }
                    other => config_error("settings.host", other),
                })?;
                Ok(Arc::new(email))
            }
            "wecom" => {
                r.only(&["corp_id", "sender", "base_url", "timeout_ms", "welcome"]);
                let corp_id = r.text("corp_id", true);
                r.callback_secrets();
                if spec.settings.get("welcome").is_some_and(|w| !w.is_string()) {
                    r.errors.push(FieldError::new("settings.welcome", "must be a text (a template)"));
                }
                let sender = r.text("sender", true);
                let api = self.api(&mut r, Platform::WeCom, corp_id);
                let (api, sender) = r.done(api.zip(sender))?;
                Ok(Arc::new(WeComGroupSend::new(api?, sender)))
            }
            "sms" => {
                r.only(&[
                    "url",
                    "format",
                    "body",
                    "sign_name",
                    "template_code",
                    "auth",
                    "auth_header",
                    "username",
                    "phone_format",
                    "code_field",
                    "ok_codes",
                    "retry_codes",
                    "message_field",
                    "id_field",
                    "report_format",
                    "timeout_ms",
                ]);
                // Read when a delivery report arrives; checked now. The token guards a URL without a
                // login, so it is long enough not to be guessed.
                r.choice("report_format", &crate::sms::REPORT_FORMATS);
                let well_formed = |t: &String| {
                    (16..=128).contains(&t.len())
                        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                };
                if spec.secrets.get("report_token").is_some_and(|t| !well_formed(t)) {
                    r.errors.push(FieldError::new("secrets.report_token", "must be 16 to 128 letters, digits, - or _"));
                }
                let url = r.text("url", false).unwrap_or_else(|| crate::sms::DEFAULT_URL.to_string());
                let url = r.url("settings.url", &url);
                let format = match r.choice("format", &["form", "json"]) {
                    "json" => BodyFormat::Json,
                    _ => BodyFormat::Form,
                };
                let template = match spec.settings.get("body") {
                    None => crate::sms::default_template(),
                    Some(Value::Object(template)) => {
                        if let Err((path, reason)) = crate::sms::check_template(template, format) {
                            r.errors.push(FieldError::new(format!("settings.body{path}"), reason));
                        }
                        template.clone()
                    }
                    Some(_) => {
                        r.errors.push(FieldError::new("settings.body", "must be an object (the request template)"));
                        serde_json::Map::new()
                    }
                };
                let sign_name = r.text("sign_name", true);
                let template_code = r.text("template_code", false);
                let api_key = r.secret("api_key", false);
                let auth = match r.choice("auth", &["none", "bearer", "basic", "header"]) {
                    "bearer" => SmsAuth::Bearer,
                    "basic" => {
                        let username = r.text("username", true);
                        let password = r.secret("password", true);
                        match username.zip(password) {
                            Some((username, password)) => SmsAuth::Basic { username, password },
                            None => SmsAuth::None,
                        }
                    }
                    "header" => SmsAuth::Header(r.text("auth_header", true).unwrap_or_default()),
                    _ => SmsAuth::None,
                };
                let phone_format = match r.choice("phone_format", &["national", "e164"]) {
                    "e164" => PhoneFormat::E164,
                    _ => PhoneFormat::National,
                };
                let defaults = AnswerFields::default();
                let answer = AnswerFields {
                    code: r.text("code_field", false).unwrap_or(defaults.code),
                    ok: r.texts("ok_codes").unwrap_or(defaults.ok),
                    retry: r.texts("retry_codes").unwrap_or(defaults.retry),
                    message: r.text("message_field", false).unwrap_or(defaults.message),
                    id: r.text("id_field", false).unwrap_or(defaults.id),
                };
                let timeout = r.timeout();
                let (url, sign_name) = r.done(url.zip(sign_name))?;
                let config = SmsConfig {
                    url,
                    format,
                    template,
                    sign_name,
                    template_code,
                    api_key,
                    auth,
                    phone_format,
                    answer,
                    timeout,
                    allow_private_addresses: private,
                };
                let sms = Sms::new(config).map_err(|e| match e {
                    ConfigError::Secret(reason) => vec![FieldError::new("secrets.api_key", reason)],
                    ConfigError::Client(reason) => vec![FieldError::new("settings", reason)],
                    other => config_error("settings.url", other),
                })?;
                Ok(Arc::new(sms))
            }
            "wecom_app" => {
                r.only(&["corp_id", "agent_id", "to", "base_url", "timeout_ms"]);
                let corp_id = r.text("corp_id", true);
                let agent_id = match spec.settings.get("agent_id") {
                    Some(value) => match value.as_i64().filter(|id| *id > 0) {
                        Some(id) => Some(id),
                        None => {
                            r.errors.push(FieldError::new("settings.agent_id", "must be the app's AgentId (a number)"));
                            None
                        }
                    },
                    None => {
                        r.errors.push(FieldError::new("settings.agent_id", "is required"));
                        None
                    }
                };
                let to = r.text("to", false);
                let api = self.api(&mut r, Platform::WeCom, corp_id);
                let (api, agent_id) = r.done(api.zip(agent_id))?;
                Ok(Arc::new(WeComAppMessage::new(api?, agent_id, to)))
            }
            "wechat_mp" | "wechat_mini" => {
                let official = spec.kind == "wechat_mp";
                r.callback_secrets();
                let settings: &[&str] = match official {
                    true => &[
                        "app_id",
                        "template_id",
                        "url",
                        "miniprogram_app_id",
                        "miniprogram_page",
                        "base_url",
                        "timeout_ms",
                    ],
                    false => &["app_id", "template_id", "page", "state", "base_url", "timeout_ms"],
                };
                r.only(settings);
                let app_id = r.text("app_id", true);
                let template_id = r.text("template_id", false);
                let notification = if official {
                    let url = r.text("url", false);
                    if let Some(url) = &url {
                        r.url("settings.url", url);
                    }
                    let miniprogram = match (r.text("miniprogram_app_id", false), r.text("miniprogram_page", false)) {
                        (Some(app), Some(page)) => Some((app, page)),
                        (None, None) => None,
                        _ => {
                            r.errors.push(FieldError::new(
                                "settings.miniprogram_page",
                                "miniprogram_app_id and miniprogram_page go together",
                            ));
                            None
                        }
                    };
                    Notification::Template { url, miniprogram }
                } else {
                    let page = r.text("page", false);
                    let state = r.choice("state", &["formal", "trial", "developer"]).to_string();
                    Notification::Subscribe { page, state }
                };
                let api = self.api(&mut r, Platform::WeChat, app_id);
                let api = r.done(api)?;
                Ok(Arc::new(WeChatNotify::new(api?, notification, template_id)))
            }
            "dingtalk" | "feishu" => {
                r.only(&["timeout_ms"]);
                let url = r.secret("url", true);
                let url = url.and_then(|u| {
                    use secrecy::ExposeSecret as _;
                    r.url("secrets.url", u.expose_secret())
                });
                let secret = r.secret("secret", false);
                let timeout = r.timeout();
                let url = r.done(url)?;
                let kind = if spec.kind == "dingtalk" { RobotKind::DingTalk } else { RobotKind::Feishu };
                let config = RobotConfig { kind, url, secret, timeout, allow_private_addresses: private };
                let robot = Robot::new(config, self.clock.clone()).map_err(|e| config_error("secrets.url", e))?;
                Ok(Arc::new(robot))
            }
            other => Err(vec![FieldError::new("kind", format!("unknown kind \"{other}\""))]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use siyu_core::SystemClock;

    fn spec(kind: &str, settings: Value, secrets: &[(&str, &str)]) -> ChannelSpec {
        ChannelSpec {
            name: "c".into(),
            kind: kind.into(),
            settings: settings.as_object().unwrap().clone(),
            secrets: secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn fields(result: Result<Arc<dyn ChannelAdapter>, Vec<FieldError>>) -> Vec<String> {
        match result {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[tokio::test]
    async fn each_kind_names_the_setting_it_lacks_or_refuses() {
        let factory = Factory::new(Arc::new(SystemClock), false);
        let public = Factory::new(Arc::new(SystemClock), true);
        assert_eq!(
            fields(factory.build(&spec("webhook", serde_json::json!({}), &[]))),
            ["settings.url", "secrets.secret"]
        );
        let hook = serde_json::json!({"url": "http://127.0.0.1:9/h"});
        assert_eq!(
            fields(factory.build(&spec("webhook", hook.clone(), &[("secret", "0123456789abcdef")]))),
            ["settings.url"]
        );
        assert!(fields(public.build(&spec("webhook", hook.clone(), &[("secret", "0123456789abcdef")]))).is_empty());
        assert_eq!(fields(public.build(&spec("webhook", hook, &[("secret", "short")]))), ["secrets.secret"]);
        let typo = serde_json::json!({"url": "https://example.com/h", "timout_ms": 5, "timeout_ms": 0});
        assert_eq!(
            fields(factory.build(&spec("webhook", typo, &[("secret", "0123456789abcdef")]))),
            ["settings.timout_ms", "settings.timeout_ms"]
        );
        let mail = serde_json::json!({"host": "smtp.example.com", "from": "not an address", "username": "u"});
        assert_eq!(fields(public.build(&spec("email", mail, &[]))), ["secrets.password"]);
        let mail = serde_json::json!({"host": "smtp.example.com", "from": "not an address", "security": "ssl"});
        assert_eq!(fields(public.build(&spec("email", mail, &[]))), ["settings.security"]);
        let mail = serde_json::json!({"host": "smtp.example.com", "from": "not an address"});
        assert_eq!(fields(public.build(&spec("email", mail, &[]))), ["settings.from"]);
        assert_eq!(
            fields(public.build(&spec("wecom", serde_json::json!({"corp_id": "ww1"}), &[("secret", "s")]))),
            ["settings.sender"]
        );
        assert_eq!(fields(public.build(&spec("dingtalk", serde_json::json!({}), &[]))), ["secrets.url"]);
        // WeCom application messages: the AgentId is a number.
        let app = serde_json::json!({"corp_id": "ww1", "agent_id": "1000002"});
        assert_eq!(fields(public.build(&spec("wecom_app", app, &[("secret", "s")]))), ["settings.agent_id"]);
        let app = serde_json::json!({"corp_id": "ww1", "agent_id": 1000002, "to": "@all"});
        assert!(fields(public.build(&spec("wecom_app", app, &[("secret", "s")]))).is_empty());
        // WeChat: the app id and secret; a half-given mini-program link and an unknown state named.
        assert_eq!(
            fields(public.build(&spec("wechat_mp", serde_json::json!({}), &[]))),
            ["settings.app_id", "secrets.secret"]
        );
        let mp = serde_json::json!({"app_id": "wx1", "miniprogram_app_id": "wx2"});
        assert_eq!(fields(public.build(&spec("wechat_mp", mp, &[("secret", "s")]))), ["settings.miniprogram_page"]);
        let mini = serde_json::json!({"app_id": "wx1", "state": "beta", "url": "https://x"});
        assert_eq!(
            fields(public.build(&spec("wechat_mini", mini, &[("secret", "s")]))),
            ["settings.url", "settings.state"]
        );
        assert!(
            fields(public.build(&spec("wechat_mini", serde_json::json!({"app_id": "wx1"}), &[("secret", "s")])))
                .is_empty()
        );
        // SMS: Yunpian's form by default, which needs the API key; a misspelt placeholder is named.
        assert_eq!(
            fields(public.build(&spec("sms", serde_json::json!({"sign_name": "思语"}), &[]))),
            ["secrets.api_key"]
        );
        let sms = serde_json::json!({"body": {"to": "{mobil}"}, "format": "xml", "ok_codes": "0"});
        assert_eq!(
            fields(public.build(&spec("sms", sms, &[]))),
            ["settings.format", "settings.body.to", "settings.sign_name", "settings.ok_codes"]
        );
        let sms = serde_json::json!({"sign_name": "思语", "auth": "basic", "username": "u"});
        assert_eq!(fields(public.build(&spec("sms", sms, &[("api_key", "k")]))), ["secrets.password"]);
        assert!(
            fields(public.build(&spec("sms", serde_json::json!({"sign_name": "思语"}), &[("api_key", "k")])))
                .is_empty()
        );
        let robot = [("url", "https://oapi.dingtalk.com/robot/send?access_token=t")];
        assert!(fields(public.build(&spec("dingtalk", serde_json::json!({}), &robot))).is_empty());
    }
}
