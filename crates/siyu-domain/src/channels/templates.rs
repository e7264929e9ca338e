//! Message templates: minijinja text that operators write, checked when it is saved and rendered
//! per customer when a message is sent.
//!
//! A template names only what siyu gives it ([`VARIABLES`]): the customer's id, traits (by key —
//! a key no customer of the workspace has is an error at save time, not at send time), tags and
//! model scores, the coupon code of the action that sends it, and the unsubscribe link. Rendering is
//! strict (an undefined value is an error, never an empty string), bounded ([`FUEL`] steps,
//! [`MAX_OUTPUT`] bytes), and never escapes HTML unless the template is e-mail HTML.
//! [`check_length`] applies each channel's length rule: SMS segments (70 characters, 67 per part
//! once split, when any character is outside GSM 7-bit — as for Chinese; 160 and 153 otherwise),
//! WeCom's 2,048 bytes of text.

use crate::{DomainError, FieldError};
use std::collections::BTreeSet;

/// The variables a template may use, as dotted paths; `customer.traits.<key>` takes the
/// workspace's trait keys.
pub const VARIABLES: &[&str] = &[
    "customer.id",
    "customer.traits",
    "customer.tags",
    "customer.rfm",
    "customer.lifecycle",
    "customer.churn_risk",
    "coupon.code",
    "unsubscribe_url",
];

/// The most a template may run (minijinja fuel: about one unit per instruction).
pub const FUEL: u64 = 100_000;
/// The longest rendered text, in bytes.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The longest template source, in bytes.
pub const MAX_SOURCE: usize = 32 * 1024;

/// What a template may name beyond [`VARIABLES`]: the workspace's trait keys.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    /// Trait keys some customer of the workspace has.
    pub trait_keys: BTreeSet<String>,
}

fn environment(html: bool) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(move |_| if html { minijinja::AutoEscape::Html } else { minijinja::AutoEscape::None });
    env
}

/// Where in the template an error lies, for its message.
fn at_line(error: &minijinja::Error) -> String {
    let detail = error.detail().map_or_else(|| error.kind().to_string(), str::to_string);
    match error.line() {
        Some(line) => format!("line {line}: {detail}"),
        None => detail,
    }
}

/// Checks a template's source: it parses, and every variable it reads is one of [`VARIABLES`]
/// (a trait by a key of `vocabulary`). Errors name `field`, with the line and the variable.
pub fn check(field: &str, source: &str, vocabulary: &Vocabulary) -> Result<(), Vec<FieldError>> {
    if source.len() > MAX_SOURCE {
        return Err(vec![FieldError::new(field, format!("is longer than {MAX_SOURCE} bytes"))]);
    }
    let env = environment(false);
    let template = env.template_from_str(source).map_err(|e| vec![FieldError::new(field, at_line(&e))])?;
    // The engine's own globals (`range`, `namespace`, …) are functions, not data.
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut errors = Vec::new();
    for variable in template.undeclared_variables(true) {
        if globals.contains(variable.split('.').next().unwrap_or_default()) {
            continue;
        }
        if let Some(problem) = unknown_variable(&variable, vocabulary) {
            errors.push(FieldError::new(field, problem));
        }
    }
    if errors.is_empty() {
        // A trial run over placeholder values catches a filter, test or function the engine does
        // not have, on the paths the placeholders take (other failures depend on real values).
        let mut trial = environment(false);
        trial.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        if let Err(error) = trial.render_str(source, placeholders(vocabulary))
            && matches!(
                error.kind(),
                minijinja::ErrorKind::UnknownFilter
                    | minijinja::ErrorKind::UnknownTest
                    | minijinja::ErrorKind::UnknownFunction
                    | minijinja::ErrorKind::UnknownMethod
            )
        {
            errors.push(FieldError::new(field, at_line(&error)));
        }
    }
    errors.sort_by(|a, b| a.reason.cmp(&b.reason));
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Every variable a template may use, with a placeholder value.
fn placeholders(vocabulary: &Vocabulary) -> minijinja::Value {
    let traits: serde_json::Map<String, serde_json::Value> =
        vocabulary.trait_keys.iter().map(|key| (key.clone(), serde_json::Value::from("x"))).collect();
    let context = serde_json::json!({
        "customer": {"id": 1, "traits": traits, "tags": ["x"], "rfm": "x", "lifecycle": "x", "churn_risk": "x"},
        "coupon": {"code": "x"},
        "unsubscribe_url": "https://example.invalid/u/x",
    });
    minijinja::Value::from(minijinja::value::Serde(context))
}

/// Why `variable` (a dotted path) may not be used, or `None` when it may.
fn unknown_variable(variable: &str, vocabulary: &Vocabulary) -> Option<String> {
    if VARIABLES.contains(&variable) {
        return None;
    }
    if let Some(key) = variable.strip_prefix("customer.traits.") {
        let key = key.split('.').next().unwrap_or(key);
        if vocabulary.trait_keys.contains(key) {
            return None;
        }
        return Some(format!("no customer of this workspace has the trait \"{key}\""));
    }
    // A deeper path under a known one (`customer.rfm.class`) is the value's own business.
    if VARIABLES.iter().any(|known| variable.starts_with(&format!("{known}."))) {
        return None;
    }
    // A known path's parent (`customer`, used whole) is allowed too.
    if VARIABLES.iter().any(|known| known.starts_with(&format!("{variable}."))) {
        return None;
    }
    Some(format!("unknown variable \"{variable}\"; templates may use {}", VARIABLES.join(", ")))
}

/// Why a template could not be rendered for a customer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template failed (an undefined value, a bad filter argument, too much work).
    #[error("the template failed: {0}")]
    Template(String),
    /// The text came out longer than [`MAX_OUTPUT`].
    #[error("the rendered text is longer than {MAX_OUTPUT} bytes")]
    TooLong,
}

impl From<RenderError> for DomainError {
    /// A template that fails for a customer is the template's fault: invalid, naming `template`.
    fn from(error: RenderError) -> Self {
        DomainError::Invalid(vec![FieldError::new("template", error.to_string())])
    }
}

/// Renders `source` with `context` (an object with the [`VARIABLES`] it uses); `html` escapes
/// values for e-mail HTML.
pub fn render(source: &str, context: &serde_json::Value, html: bool) -> Result<String, RenderError> {
    let env = environment(html);
    let template = env.template_from_str(source).map_err(|e| RenderError::Template(at_line(&e)))?;
    let text = template
        .render(minijinja::Value::from(minijinja::value::Serde(context)))
        .map_err(|e| RenderError::Template(at_line(&e)))?;
    if text.len() > MAX_OUTPUT {
        return Err(RenderError::TooLong);
    }
    Ok(text)
}

/// An SMS text's length as gateways count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmsLength {
    /// Characters (GSM 7-bit septets, or UTF-16 units).
    pub units: usize,
    /// Whether every character is in the GSM 7-bit alphabet.
    pub gsm7: bool,
    /// Messages it is sent as.
    pub segments: usize,
}

/// The GSM 03.38 basic alphabet (one septet each) and its extension table (two septets each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// Counts `text` as an SMS: 160 septets in one message and 153 per part beyond, or — with any
/// character outside GSM 7-bit, as in Chinese — 70 UTF-16 units and 67 per part.
pub fn sms_length(text: &str) -> SmsLength {
    let mut septets = 0;
    let mut gsm7 = true;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENDED.contains(c) {
            septets += 2;
        } else {
            gsm7 = false;
            break;
        }
    }
    let (units, single, part) = if gsm7 { (septets, 160, 153) } else { (text.encode_utf16().count(), 70, 67) };
    let segments = if units <= single { 1 } else { units.div_ceil(part) };
    SmsLength { units, gsm7, segments }
}

/// The longest SMS siyu sends, in characters (gateways join at most this many into one long SMS).
pub const MAX_SMS_UNITS: usize = 500;
/// The longest WeCom text message, in UTF-8 bytes.
pub const MAX_WECOM_TEXT_BYTES: usize = 2048;

/// Checks a rendered text against `channel`'s length rule (`sms`, `wecom`; others have none).
pub fn check_length(channel: &str, text: &str) -> Result<(), String> {
    match channel {
        "sms" => {
            let length = sms_length(text);
            if length.units > MAX_SMS_UNITS {
                return Err(format!(
                    "{} characters is more than an SMS may have ({MAX_SMS_UNITS}; it would be {} messages)",
                    length.units, length.segments
                ));
            }
            Ok(())
        }
        "wecom" if text.len() > MAX_WECOM_TEXT_BYTES => {
            Err(format!("{} bytes is more than a WeCom text may have ({MAX_WECOM_TEXT_BYTES})", text.len()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vocabulary() -> Vocabulary {
        Vocabulary { trait_keys: ["city".to_string(), "name".to_string()].into() }
    }

    #[test]
    fn a_template_may_name_only_what_siyu_gives_it() {
        let ok = "{{ customer.traits.name }}，您好！{% if customer.tags %}{{ customer.tags | join(',') }}{% endif %} 券码 {{ coupon.code }} 退订 {{ unsubscribe_url }}";
        assert_eq!(check("body", ok, &vocabulary()), Ok(()));
        assert_eq!(
            check("body", "{% for t in customer.tags %}{{ t }}{% endfor %}{{ customer.rfm.class }}", &vocabulary()),
            Ok(())
        );
        // A filter the engine does not have is found when the template is saved.
        let errors = check("body", "{{ customer.traits.name | shout }}", &vocabulary()).unwrap_err();
        assert!(errors[0].reason.contains("filter shout is unknown"), "{errors:?}");
        assert!(check("body", "{% if customer.tags is crowded %}x{% endif %}", &vocabulary()).is_err());
        // The engine's functions are not variables.
        let functions = "{% for i in range(3) %}{{ loop.index }}{% endfor %}{% set ns = namespace(n=0) %}{{ ns.n }}";
        assert_eq!(check("body", functions, &vocabulary()), Ok(()));
        let errors = check("body", "{{ custmer.name }} {{ customer.traits.birthday }}", &vocabulary()).unwrap_err();
        let reasons: Vec<&str> = errors.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["body", "body"]);
        assert!(reasons[0].contains("no customer of this workspace has the trait \"birthday\""), "{reasons:?}");
        assert!(reasons[1].contains("unknown variable \"custmer.name\""), "{reasons:?}");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let errors = check("templates.zh.body", "第一行\n{{ customer.traits.name ", &vocabulary()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "templates.zh.body");
        assert!(errors[0].reason.starts_with("line 2:"), "{}", errors[0].reason);
        let long = "x".repeat(MAX_SOURCE + 1);
        assert!(check("body", &long, &vocabulary()).unwrap_err()[0].reason.contains("longer than"));
    }

    #[test]
    fn rendering_is_strict_and_escapes_only_html() {
        let context = json!({"customer": {"id": 7, "traits": {"name": "<李雷>"}, "tags": ["vip"]}});
        assert_eq!(render("{{ customer.traits.name }}您好", &context, false).unwrap(), "<李雷>您好");
        assert_eq!(render("{{ customer.traits.name }}", &context, true).unwrap(), "&lt;李雷&gt;");
        // A trait this customer lacks is an error, never an empty greeting.
        assert!(matches!(render("{{ customer.traits.city }}", &context, false), Err(RenderError::Template(_))));
        // With a default, the template decides.
        assert_eq!(render("{{ customer.traits.city | default('朋友') }}", &context, false).unwrap(), "朋友");
    }

    #[test]
    fn runaway_templates_stop() {
        let context = json!({});
        assert!(
            render(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &context,
                false
            )
            .is_err()
        );
        // Growing a value without bound runs out of fuel before it runs out of memory.
        for source in [
            "{{ ('x' * 1000000000)|length }}",
            "{{ ([1] * 1000000000)|length }}",
            "{{ (range(100000)|list * 100)|length }}",
            "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        ] {
            assert!(matches!(render(source, &context, false), Err(RenderError::Template(_))), "{source}");
        }
        assert_eq!(render("{{ 'x' * 100000 }}", &context, false), Err(RenderError::TooLong));
    }

    #[test]
    fn sms_length_counts_segments_as_gateways_do() {
        assert_eq!(sms_length("Hello"), SmsLength { units: 5, gsm7: true, segments: 1 });
        assert_eq!(sms_length(&"a".repeat(160)).segments, 1);
        assert_eq!(sms_length(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_length("€").units, 2, "extension characters take two septets");
        assert_eq!(sms_length(&"会".repeat(70)), SmsLength { units: 70, gsm7: false, segments: 1 });
        assert_eq!(sms_length(&"会".repeat(71)).segments, 2);
        assert_eq!(sms_length(&"会".repeat(134)).segments, 2);
        assert_eq!(sms_length(&"会".repeat(135)).segments, 3);
        assert_eq!(sms_length("😀").units, 2, "UTF-16 units, as gateways count");
        assert!(check_length("sms", &"会".repeat(500)).is_ok());
        assert!(check_length("sms", &"会".repeat(501)).unwrap_err().contains("501 characters"));
        assert!(check_length("wecom", &"会".repeat(683)).unwrap_err().contains("2049 bytes"));
        assert!(check_length("webhook", &"会".repeat(10_000)).is_ok());
    }
}
