//! What an inbound text asks for: Twilio's single-word opt-out, opt-in and help keywords
//! (case-insensitive, the whole message), and `C` / `CONFIRM` confirming an appointment.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
    Confirm,
}

const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "CANCEL",
];
const OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
const HELP: &[&str] = &["HELP", "INFO"];
const CONFIRM: &[&str] = &["C", "CONFIRM"];

/// The keyword `body` is, if it is one word of a set (surrounding spaces and one trailing
/// punctuation mark ignored). "STOP PLEASE" is not a keyword.
pub fn classify(body: &str) -> Option<(Keyword, String)> {
    let word = body
        .trim()
        .trim_end_matches(['.', '!'])
        .trim()
        .to_uppercase();
    if word.is_empty() || word.contains(char::is_whitespace) {
        return None;
    }
    let k = if OPT_OUT.contains(&word.as_str()) {
        Keyword::OptOut
    } else if OPT_IN.contains(&word.as_str()) {
        Keyword::OptIn
    } else if HELP.contains(&word.as_str()) {
        Keyword::Help
    } else if CONFIRM.contains(&word.as_str()) {
        Keyword::Confirm
    } else {
        return None;
    };
    Some((k, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert_eq!(classify(" stop ").map(|k| k.0), Some(Keyword::OptOut));
        assert_eq!(classify("Unsubscribe").map(|k| k.0), Some(Keyword::OptOut));
        assert_eq!(classify("start").map(|k| k.0), Some(Keyword::OptIn));
        assert_eq!(classify("HELP").map(|k| k.0), Some(Keyword::Help));
        assert_eq!(classify("c").map(|k| k.0), Some(Keyword::Confirm));
        assert_eq!(classify("Confirm!").map(|k| k.0), Some(Keyword::Confirm));
        assert_eq!(classify("STOP PLEASE"), None);
        assert_eq!(classify("see you then"), None);
        assert_eq!(classify(""), None);
    }
}
