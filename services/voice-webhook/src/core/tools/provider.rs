//! The provider a caller names ("with Dr. Patel"), matched forgivingly against the clinic's
//! active providers: case, punctuation and titles do not matter, a surname or a first name is
//! enough when only one provider has it, and a word may be cut short ("Anik" for "Anika").
//! Two providers that fit are said back to the caller to choose from.

use serde_json::Value;
use uuid::Uuid;

use crate::clients::calendar::Provider;
use crate::core::tools::common::{Ctx, Outcome, arg, calendar_failed};
use crate::domain::speak;

/// What a spoken name matched.
#[derive(Debug, PartialEq, Eq)]
pub enum NameMatch {
    One(usize),
    Several(Vec<usize>),
    None,
}

/// A name as people say it: lowercase words of letters and digits, titles dropped.
pub fn words(raw: &str) -> Vec<String> {
    const TITLES: [&str; 9] = [
        "dr", "doctor", "mr", "mrs", "ms", "miss", "prof", "nurse", "with",
    ];
    raw.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| !w.is_empty() && !TITLES.contains(&w.as_str()))
        .collect()
}

/// A spoken word fits a name word when equal, or when one starts with the other and the
/// shorter has at least three letters.
fn fits(said: &str, word: &str) -> bool {
    said == word
        || (said.chars().count().min(word.chars().count()) >= 3
            && (word.starts_with(said) || said.starts_with(word)))
}

/// Matches `said` against `names`: the names equal to it once normalised (spaces and
/// apostrophes aside: "oneill" is "O'Neill") win; else the names that contain a fitting word for
/// every word said, or contain what was said run together (four letters or more).
pub fn match_name(said: &str, names: &[&str]) -> NameMatch {
    let wanted = words(said);
    if wanted.is_empty() {
        return NameMatch::None;
    }
    let joined = wanted.concat();
    let normalised: Vec<Vec<String>> = names.iter().map(|n| words(n)).collect();
    let exact: Vec<usize> = (0..names.len())
        .filter(|&i| normalised.get(i).is_some_and(|n| n.concat() == joined))
        .collect();
    let found = if exact.is_empty() {
        (0..names.len())
            .filter(|&i| {
                normalised.get(i).is_some_and(|n| {
                    wanted.iter().all(|w| n.iter().any(|x| fits(w, x)))
                        || (joined.chars().count() >= 4 && n.concat().contains(&joined))
                })
            })
            .collect()
    } else {
        exact
    };
    match found.as_slice() {
        [] => NameMatch::None,
        [one] => NameMatch::One(*one),
        _ => NameMatch::Several(found),
    }
}

/// The provider the caller asked for, if they named one (no calendar request otherwise), and
/// that provides `service` (`service_name` is said when it does not).
pub async fn requested(
    ctx: &Ctx<'_>,
    args: &Value,
    service: Uuid,
    service_name: &str,
) -> Result<Option<Provider>, Outcome> {
    let Some(said) = arg(args, &["provider", "provider_name", "doctor", "with"]) else {
        return Ok(None);
    };
    let all = ctx
        .st
        .calendar
        .providers(ctx.org)
        .await
        .map_err(calendar_failed)?
        .items;
    if let Some(p) = all.iter().find(|p| p.id.to_string() == said) {
        return check(p.clone(), &all, service, service_name).map(Some);
    }
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    match match_name(said, &names) {
        NameMatch::One(i) => match all.get(i) {
            Some(p) => check(p.clone(), &all, service, service_name).map(Some),
            None => Err(unknown(said, &all)),
        },
        NameMatch::Several(found) => {
            let named: Vec<String> = found
                .iter()
                .filter_map(|i| all.get(*i))
                .map(|p| p.name.clone())
                .collect();
            Err(Outcome::Error(format!(
                "There is more than one {said} here: did you mean {}?",
                speak::or_list(&named)
            )))
        }
        NameMatch::None => Err(unknown(said, &all)),
    }
}

fn unknown(said: &str, all: &[Provider]) -> Outcome {
    let names: Vec<String> = all.iter().map(|p| p.name.clone()).collect();
    Outcome::Error(if names.is_empty() {
        format!("I couldn't find {said} at this clinic.")
    } else {
        format!(
            "I couldn't find {said} at this clinic; you can book with {}.",
            speak::or_list(&names)
        )
    })
}

fn check(
    p: Provider,
    all: &[Provider],
    service: Uuid,
    service_name: &str,
) -> Result<Provider, Outcome> {
    if p.provides(service) {
        return Ok(p);
    }
    let others: Vec<String> = all
        .iter()
        .filter(|o| o.provides(service))
        .map(|o| o.name.clone())
        .collect();
    Err(Outcome::Result {
        text: if others.is_empty() {
            format!("{} doesn't do {service_name} appointments.", p.name)
        } else {
            format!(
                "{} doesn't do {service_name} appointments; {} can see you for that.",
                p.name,
                speak::or_list(&others)
            )
        },
        booked: false,
    })
}

/// " with Dr. Anika Patel" for a visit with a named provider; nothing for the clinic's default
/// provider (calendar names it "Clinic").
pub fn with_whom(provider_name: Option<&str>) -> String {
    match provider_name.map(str::trim) {
        Some(n) if !n.is_empty() && !n.eq_ignore_ascii_case("clinic") => format!(" with {n}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 4] = [
        "Dr. Anika Patel",
        "Dr. Raj Patel",
        "Maria O'Neill",
        "Hygiene Room 2",
    ];

    #[test]
    fn names_match_forgivingly() {
        assert_eq!(match_name("Dr. Anika Patel", &NAMES), NameMatch::One(0));
        assert_eq!(match_name("doctor anika patel", &NAMES), NameMatch::One(0));
        assert_eq!(match_name("Anika", &NAMES), NameMatch::One(0));
        assert_eq!(match_name("with Dr Anik Patel", &NAMES), NameMatch::One(0));
        assert_eq!(match_name("maria oneill", &NAMES), NameMatch::One(2));
        assert_eq!(match_name("ONEILL", &NAMES), NameMatch::One(2));
        assert_eq!(match_name("O'Neill", &NAMES), NameMatch::One(2));
        assert_eq!(match_name("Maria", &NAMES), NameMatch::One(2));
        assert_eq!(match_name("room 2", &NAMES), NameMatch::One(3));
    }

    #[test]
    fn a_shared_surname_is_ambiguous_and_a_stranger_is_unknown() {
        assert_eq!(
            match_name("Dr. Patel", &NAMES),
            NameMatch::Several(vec![0, 1])
        );
        assert_eq!(match_name("Dr. Smith", &NAMES), NameMatch::None);
        assert_eq!(match_name("Dr.", &NAMES), NameMatch::None);
        assert_eq!(
            match_name("Pa", &NAMES),
            NameMatch::None,
            "two letters fit nothing"
        );
    }

    #[test]
    fn the_default_provider_is_not_said() {
        assert_eq!(with_whom(Some("Dr. Anika Patel")), " with Dr. Anika Patel");
        assert_eq!(with_whom(Some("Clinic")), "");
        assert_eq!(with_whom(None), "");
    }
}
