//! Message templates: `{{variable}}` placeholders from a fixed list, validated when a template is
//! saved, rendered with the values of one message; the defaults every org starts with; and how
//! many SMS segments a text costs (GSM-7: 160 alone, 153 per part; UCS-2: 70, 67 per part).

use std::collections::BTreeMap;

/// The variables a template may use.
pub const VARIABLES: &[&str] = &[
    "patient_first_name",
    "patient_name",
    "clinic_name",
    "appointment_local_time",
    "appointment_local_date",
    "service",
    "caller_number",
    "lead_name",
    "lead_phone",
    "lead_score",
];

/// The keys of the templates every org gets, with their default texts.
pub const DEFAULTS: &[(&str, &str)] = &[
    (
        "appointment_confirmation",
        "Hi {{patient_first_name}}, your {{service}} at {{clinic_name}} is booked for {{appointment_local_date}} at {{appointment_local_time}}. Reply STOP to opt out.",
    ),
    (
        "appointment_reminder",
        "Reminder: {{service}} at {{clinic_name}} on {{appointment_local_date}} at {{appointment_local_time}}. Reply C to confirm, STOP to opt out.",
    ),
    (
        "appointment_rescheduled",
        "Hi {{patient_first_name}}, your {{service}} at {{clinic_name}} moved to {{appointment_local_date}} at {{appointment_local_time}}.",
    ),
    (
        "appointment_cancelled",
        "Hi {{patient_first_name}}, your {{service}} at {{clinic_name}} on {{appointment_local_date}} at {{appointment_local_time}} is cancelled. Call us to book again.",
    ),
    (
        "missed_call_textback",
        "Sorry we missed your call to {{clinic_name}}. Reply here or call back and we'll help you book. Reply STOP to opt out.",
    ),
    (
        "hot_lead_alert",
        "Hot lead for {{clinic_name}}: {{lead_name}} ({{lead_phone}}), score {{lead_score}}. Call them back soon.",
    ),
    (
        "message_taken_alert",
        "New message for {{clinic_name}} from {{patient_name}} ({{caller_number}}): read it in the voice inbox.",
    ),
];

pub fn default_body(key: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, b)| *b)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable {{{{{0}}}}}; known: {known}", known = VARIABLES.join(", "))]
    UnknownVariable(String),
    #[error("a `{{{{` is not closed by `}}}}`")]
    Unclosed,
    #[error("the template is empty")]
    Empty,
    #[error("the text is longer than 1,600 characters")]
    TooLong,
}

/// The variable names in `body`, in order, after checking every one is known.
pub fn variables(body: &str) -> Result<Vec<String>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..j].trim();
        if !VARIABLES.contains(&name) {
            return Err(TemplateError::UnknownVariable(
                name.chars().take(64).collect(),
            ));
        }
        out.push(name.to_string());
        rest = &after[j + 2..];
    }
    Ok(out)
}

/// Checks a template body as saved.
pub fn validate(body: &str) -> Result<(), TemplateError> {
    if body.trim().is_empty() {
        return Err(TemplateError::Empty);
    }
    if body.chars().count() > 1600 {
        return Err(TemplateError::TooLong);
    }
    variables(body).map(|_| ())
}

/// `body` with every `{{name}}` replaced by its value (a missing value renders empty).
pub fn render(body: &str, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..j].trim();
        if !VARIABLES.contains(&name) {
            return Err(TemplateError::UnknownVariable(
                name.chars().take(64).collect(),
            ));
        }
        out.push_str(values.get(name).map_or("", String::as_str));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    if out.chars().count() > 1600 {
        return Err(TemplateError::TooLong);
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

/// How a text travels as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

pub fn segments(text: &str) -> Segments {
    let mut septets = 0usize;
    let mut gsm = true;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (encoding, units, single, part) = if gsm {
        (Encoding::Gsm7, septets, 160, 153)
    } else {
        (Encoding::Ucs2, text.encode_utf16().count(), 70, 67)
    };
    let segments = match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(part),
    };
    Segments {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn renders_known_variables() {
        let out = render(
            "Hi {{patient_first_name}}, see you at {{ appointment_local_time }}.",
            &vals(&[
                ("patient_first_name", "Jordan"),
                ("appointment_local_time", "9:00 AM"),
            ]),
        )
        .unwrap();
        assert_eq!(out, "Hi Jordan, see you at 9:00 AM.");
    }

    #[test]
    fn unknown_and_unclosed_variables_are_refused() {
        assert_eq!(
            validate("Hi {{ssn}}"),
            Err(TemplateError::UnknownVariable("ssn".into()))
        );
        assert_eq!(
            validate("Hi {{patient_first_name"),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(validate("   "), Err(TemplateError::Empty));
        for (_, body) in DEFAULTS {
            validate(body).unwrap();
        }
    }

    #[test]
    fn segment_counts() {
        assert_eq!(segments(&"a".repeat(160)).segments, 1);
        assert_eq!(segments(&"a".repeat(161)).segments, 2);
        assert_eq!(segments(&"a".repeat(306)).segments, 2);
        assert_eq!(segments(&"a".repeat(307)).segments, 3);
        // An extension character costs two septets.
        let s = segments(&format!("{}€", "a".repeat(159)));
        assert_eq!((s.encoding, s.units, s.segments), (Encoding::Gsm7, 161, 2));
        // One character outside GSM-7 makes the whole text UCS-2.
        let s = segments(&format!("{}✓", "a".repeat(69)));
        assert_eq!((s.encoding, s.units, s.segments), (Encoding::Ucs2, 70, 1));
        let s = segments(&format!("{}✓", "a".repeat(70)));
        assert_eq!((s.encoding, s.segments), (Encoding::Ucs2, 2));
        // An emoji is two UTF-16 units.
        assert_eq!(segments("😀").units, 2);
        assert_eq!(segments("").segments, 0);
    }
}
