//! The knowledge base's pure rules (ADR 0020): document kinds, cutting a document into chunks on
//! its structure (Markdown headings, paragraphs) with overlap, the words of a text (query terms
//! and the org's vocabulary), the query Vapi's `knowledge-base-request` asks, reciprocal rank
//! fusion, cosine similarity, and the system documents written from calendar's facts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use uuid::Uuid;

use crate::domain::hours::ClinicHours;

/// What a document is; `system` documents are generated from calendar and read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A question (the title) and its answer (the body): one chunk unless long.
    Faq,
    /// Free text: paragraphs.
    Text,
    /// Markdown: headings and paragraphs.
    Markdown,
    /// Generated from calendar (services and prices, opening hours).
    System,
}

impl DocKind {
    pub const EDITABLE: [&'static str; 3] = ["faq", "text", "markdown"];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Faq => "faq",
            DocKind::Text => "text",
            DocKind::Markdown => "markdown",
            DocKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "faq" => Some(DocKind::Faq),
            "text" => Some(DocKind::Text),
            "markdown" => Some(DocKind::Markdown),
            "system" => Some(DocKind::System),
            _ => None,
        }
    }
}

/// Text-search configurations an org may choose (Postgres built-ins).
pub const LANGUAGES: [&str; 8] = [
    "simple",
    "english",
    "spanish",
    "french",
    "german",
    "italian",
    "portuguese",
    "dutch",
];

/// One searchable piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Document title, tags and the section's heading path (weighted above the content).
    pub heading: String,
    pub content: String,
}

/// Chunks aim at this many characters (a few sentences: what the model reads per hit).
pub const CHUNK_CHARS: usize = 700;
/// Characters of the previous piece repeated at the start of the next one, so a sentence cut at
/// a boundary is still whole in one of them.
pub const OVERLAP_CHARS: usize = 160;

/// Cuts a document into chunks: Markdown on its headings (each chunk carries its heading path),
/// then every kind on blank-line paragraphs, packed up to [`CHUNK_CHARS`]; a paragraph longer
/// than that is cut on sentence ends (else on spaces). Consecutive chunks of one section overlap
/// by the tail (≤ [`OVERLAP_CHARS`]) of the previous one.
pub fn chunk(kind: DocKind, title: &str, tags: &[String], body: &str) -> Vec<Chunk> {
    let mut base = title.trim().to_string();
    if !tags.is_empty() {
        base.push_str(" (");
        base.push_str(&tags.join(", "));
        base.push(')');
    }
    let sections: Vec<(Vec<String>, String)> = match kind {
        DocKind::Markdown | DocKind::System => markdown_sections(body),
        DocKind::Faq | DocKind::Text => vec![(Vec::new(), body.to_string())],
    };
    let mut out = Vec::new();
    for (path, text) in sections {
        let heading = std::iter::once(base.as_str())
            .chain(path.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" › ");
        let mut prev_tail: Option<String> = None;
        for piece in pack(&paragraphs(&text)) {
            let content = match prev_tail.take() {
                Some(t) => format!("… {t}\n\n{piece}"),
                None => piece.clone(),
            };
            prev_tail = Some(tail(&piece, OVERLAP_CHARS));
            out.push(Chunk {
                heading: heading.clone(),
                content,
            });
        }
        if out.last().is_none_or(|c| c.heading != heading) && !path.is_empty() {
            // A heading with no text under it still says something (e.g. "## Parking").
            out.push(Chunk {
                heading: heading.clone(),
                content: path.last().cloned().unwrap_or_default(),
            });
        }
    }
    if out.is_empty() {
        out.push(Chunk {
            heading: base.clone(),
            content: body.trim().to_string(),
        });
    }
    out
}

/// `(heading path, text)` per Markdown section; text before the first heading has no path.
fn markdown_sections(body: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut text = String::new();
    let mut in_fence = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        let is_heading = !in_fence
            && (1..=6).contains(&level)
            && line.chars().nth(level).is_some_and(|c| c == ' ');
        if is_heading {
            out.push((
                path.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
                std::mem::take(&mut text),
            ));
            path.retain(|(l, _)| *l < level);
            path.push((
                level,
                line[level..]
                    .trim()
                    .trim_end_matches('#')
                    .trim()
                    .to_string(),
            ));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.push((path.iter().map(|(_, h)| h.clone()).collect(), text));
    out.into_iter()
        .filter(|(p, t)| !p.is_empty() || !t.trim().is_empty())
        .collect()
}

/// Blank-line separated paragraphs, trimmed, without empties.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        } else {
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(line.trim_end());
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Paragraphs packed into pieces of at most [`CHUNK_CHARS`] (long paragraphs split first).
fn pack(paras: &[String]) -> Vec<String> {
    let mut pieces = Vec::new();
    for p in paras {
        if p.chars().count() <= CHUNK_CHARS {
            pieces.push(p.clone());
        } else {
            pieces.extend(split_long(p, CHUNK_CHARS));
        }
    }
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        match out.last_mut() {
            Some(last) if last.chars().count() + p.chars().count() + 2 <= CHUNK_CHARS => {
                last.push_str("\n\n");
                last.push_str(&p);
            }
            _ => out.push(p),
        }
    }
    out
}

/// Cuts `text` into pieces of at most `max` characters at sentence ends, else at spaces, else
/// anywhere.
fn split_long(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: &str = text;
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = window
            .rfind(". ")
            .map(|i| i + 1)
            .filter(|i| *i > limit / 3)
            .or_else(|| window.rfind(' ').filter(|i| *i > limit / 3))
            .unwrap_or(limit);
        out.push(rest[..cut].trim().to_string());
        rest = rest[cut..].trim_start();
    }
    if !rest.trim().is_empty() {
        out.push(rest.trim().to_string());
    }
    out
}

/// The last ≤ `max` characters of `text`, starting at a word.
fn tail(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let start = text.char_indices().nth(n - max).map_or(0, |(i, _)| i);
    let t = &text[start..];
    match t.find(' ') {
        Some(i) if i + 1 < t.len() => t[i + 1..].to_string(),
        _ => t.to_string(),
    }
}

/// Longest word kept (longer "words" are noise or abuse).
pub const MAX_WORD_CHARS: usize = 40;
/// Most terms a query is searched with.
pub const MAX_QUERY_TERMS: usize = 24;

/// The lower-case words of `text` (letters and digits, Unicode), in order, without repeats;
/// at most [`MAX_QUERY_TERMS`], each at most [`MAX_WORD_CHARS`] characters. Everything else
/// (quotes, operators of `to_tsquery`, SQL) is a separator: a query can never be syntax.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w: String = w.to_lowercase().chars().take(MAX_WORD_CHARS).collect();
        if seen.insert(w.clone()) {
            out.push(w);
            if out.len() == MAX_QUERY_TERMS {
                break;
            }
        }
    }
    out
}

/// The vocabulary words of `text` for typo correction: lower-case, alphabetic, 3 to
/// [`MAX_WORD_CHARS`] characters.
pub fn vocabulary(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| {
            let n = w.chars().count();
            (3..=MAX_WORD_CHARS).contains(&n) && w.chars().all(char::is_alphabetic)
        })
        .collect()
}

/// The query of a `knowledge-base-request` (vapi-extra §3.2): the last user turn of
/// `messagesOpenAIFormatted`; when it has fewer than three words ("and on Saturday?") the user
/// turn before it is prepended, so a follow-up keeps its subject. `None` without a user turn.
pub fn kb_query(msg: &Value) -> Option<String> {
    let turns: Vec<&str> = msg
        .get("messagesOpenAIFormatted")
        .and_then(Value::as_array)?
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let last = *turns.last()?;
    if last.split_whitespace().count() < 3 && turns.len() >= 2 {
        return Some(format!("{} {last}", turns[turns.len() - 2]));
    }
    Some(last.to_string())
}

/// Reciprocal rank fusion (Cormack et al. 2009): each list adds `1 / (k + rank)` (rank from 1)
/// to its items; the fused order is by that sum, ties by first appearance.
pub fn rrf(lists: &[Vec<Uuid>], k: f64) -> Vec<(Uuid, f64)> {
    let mut score: HashMap<Uuid, f64> = HashMap::new();
    let mut order: Vec<Uuid> = Vec::new();
    for list in lists {
        for (i, id) in list.iter().enumerate() {
            let rank = f64::from(u32::try_from(i).unwrap_or(u32::MAX)) + 1.0;
            let e = score.entry(*id).or_insert_with(|| {
                order.push(*id);
                0.0
            });
            *e += 1.0 / (k + rank);
        }
    }
    let mut out: Vec<(Uuid, f64)> = order.into_iter().map(|id| (id, score[&id])).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Cosine similarity; 0 for empty, mismatched or zero vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// A service of calendar's catalog, as the system document says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFact {
    pub name: String,
    pub description: Option<String>,
    pub duration_minutes: i32,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
}

/// `$90.00` for USD, `120.50 EUR` otherwise.
pub fn money(cents: i64, currency: Option<&str>) -> String {
    let units = format!("{}.{:02}", cents / 100, (cents % 100).abs());
    match currency.unwrap_or("USD") {
        "USD" => format!("${units}"),
        c => format!("{units} {c}"),
    }
}

/// The "Services and prices" system document (Markdown: one section per service).
pub fn services_document(services: &[ServiceFact]) -> String {
    let mut out = String::from(
        "The treatments and services the clinic offers, how long each visit takes and what it costs.\n",
    );
    let mut sorted: Vec<&ServiceFact> = services.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for s in sorted {
        out.push_str(&format!("\n## {}\n\n", s.name.trim()));
        let mut line = format!("{} takes {} minutes", s.name.trim(), s.duration_minutes);
        match s.price_cents {
            Some(c) => line.push_str(&format!(
                " and costs {} (price, fee, cost).",
                money(c, s.currency.as_deref())
            )),
            None => line.push_str("; ask the clinic for its price."),
        }
        if let Some(d) = s
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            line.push(' ');
            line.push_str(d);
        }
        out.push_str(&line);
        out.push('\n');
    }
    if services.is_empty() {
        out.push_str("\nNo services are listed yet.\n");
    }
    out
}

/// The "Opening hours" system document: the week, then the dates with other hours or closed.
pub fn hours_document(timezone: &str, hours: &ClinicHours) -> String {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let ranges = |r: &[crate::domain::hours::TimeRange]| {
        r.iter()
            .map(|t| format!("{} to {}", t.start, t.end))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut out = format!(
        "When the clinic is open (opening hours, times, schedule), in its time zone {timezone}.\n\n## Weekly opening hours\n\n"
    );
    let empty = Vec::new();
    for d in DAYS {
        let r = hours.weekly_hours.get(d).unwrap_or(&empty);
        let mut name = d.to_string();
        if let Some(f) = name.get_mut(0..1) {
            f.make_ascii_uppercase();
        }
        if r.is_empty() {
            out.push_str(&format!("- {name}: closed\n"));
        } else {
            out.push_str(&format!("- {name}: open {}\n", ranges(r)));
        }
    }
    let mut overrides: BTreeMap<&str, &crate::domain::hours::DateOverride> = BTreeMap::new();
    for o in &hours.date_overrides {
        overrides.insert(o.date.as_str(), o);
    }
    if !overrides.is_empty() {
        out.push_str("\n## Closed days and special hours (holidays)\n\n");
        for (date, o) in overrides {
            if o.hours.is_empty() {
                out.push_str(&format!("- {date}: closed all day\n"));
            } else {
                out.push_str(&format!("- {date}: open {} only\n", ranges(&o.hours)));
            }
        }
    }
    out
}

/// Fits hits into Vapi's answer: at most `max_docs`, at most `max_chars` characters of content in
/// all (the last one cut at a word, with "…").
pub fn fit(hits: Vec<(String, f64)>, max_docs: usize, max_chars: usize) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut left = max_chars;
    for (content, sim) in hits.into_iter().take(max_docs) {
        if left < 20 {
            break;
        }
        let n = content.chars().count();
        if n <= left {
            left -= n;
            out.push((content, sim));
        } else {
            let cut: String = content.chars().take(left.saturating_sub(1)).collect();
            let cut = match cut.rfind(' ') {
                Some(i) if i > cut.len() / 2 => cut[..i].to_string(),
                _ => cut,
            };
            out.push((format!("{cut}…"), sim));
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markdown_is_cut_on_headings_with_their_path() {
        let body = "Intro line.\n\n# Insurance\n\nWe take Delta Dental.\n\n## Out of network\n\nWe file claims for you.\n\n# Parking\n\nFree lot behind the building.\n";
        let c = chunk(DocKind::Markdown, "Front desk", &["policies".into()], body);
        let heads: Vec<&str> = c.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(
            heads,
            [
                "Front desk (policies)",
                "Front desk (policies) › Insurance",
                "Front desk (policies) › Insurance › Out of network",
                "Front desk (policies) › Parking"
            ]
        );
        assert_eq!(c[3].content, "Free lot behind the building.");
    }

    #[test]
    fn long_text_is_packed_with_overlap_and_nothing_lost() {
        let para =
            |i: usize| format!("Sentence number {i} says something about the clinic. ").repeat(4);
        let body: String = (0..12).map(|i| para(i) + "\n\n").collect();
        let c = chunk(DocKind::Text, "Long", &[], &body);
        assert!(c.len() > 3);
        for ch in &c {
            assert!(
                ch.content.chars().count() <= CHUNK_CHARS + OVERLAP_CHARS + 8,
                "{}",
                ch.content.len()
            );
        }
        for i in 0..12 {
            assert!(
                c.iter()
                    .any(|ch| ch.content.contains(&format!("number {i} ")))
            );
        }
        // The second chunk starts with the end of the first.
        let first_tail = tail(c[0].content.as_str(), OVERLAP_CHARS);
        assert!(c[1].content.starts_with(&format!("… {first_tail}")));
    }

    #[test]
    fn a_huge_paragraph_without_spaces_is_still_cut() {
        let body = "x".repeat(5000);
        let c = chunk(DocKind::Text, "t", &[], &body);
        assert!(c.len() >= 7);
    }

    #[test]
    fn query_terms_are_words_only() {
        assert_eq!(
            query_terms("Do you take DELTA dental?? '); DROP TABLE x;-- & | ! :* <->"),
            ["do", "you", "take", "delta", "dental", "drop", "table", "x"]
        );
        assert!(query_terms("   ?!  ").is_empty());
        assert_eq!(query_terms(&"a ".repeat(1000)), ["a"]);
        assert_eq!(query_terms(&"z".repeat(500))[0].len(), MAX_WORD_CHARS);
    }

    #[test]
    fn the_query_is_the_last_user_turn_with_context_when_short() {
        let m = json!({"messagesOpenAIFormatted": [
            {"role": "system", "content": "You are…"},
            {"role": "user", "content": "What are your hours on weekdays?"},
            {"role": "assistant", "content": "9 to 5."},
            {"role": "user", "content": "And Saturday?"}]});
        assert_eq!(
            kb_query(&m).unwrap(),
            "What are your hours on weekdays? And Saturday?"
        );
        let m = json!({"messagesOpenAIFormatted": [{"role": "user", "content": "Do you take walk-ins on Saturday?"}]});
        assert_eq!(kb_query(&m).unwrap(), "Do you take walk-ins on Saturday?");
        assert_eq!(
            kb_query(&json!({"messagesOpenAIFormatted": [{"role": "system", "content": "x"}]})),
            None
        );
        assert_eq!(kb_query(&json!({})), None);
    }

    #[test]
    fn rrf_rewards_agreement() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let fused = rrf(&[vec![a, b, c], vec![b, c]], 60.0);
        assert_eq!(fused[0].0, b);
        assert_eq!(fused.len(), 3);
        assert!((fused[0].1 - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-12);
    }

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn services_and_hours_read_as_sentences() {
        let doc = services_document(&[ServiceFact {
            name: "Cleaning".into(),
            description: Some("Scale and polish.".into()),
            duration_minutes: 30,
            price_cents: Some(9000),
            currency: Some("USD".into()),
        }]);
        assert!(doc.contains("## Cleaning"));
        assert!(doc.contains("Cleaning takes 30 minutes and costs $90.00"));
        assert_eq!(money(12050, Some("EUR")), "120.50 EUR");
        let hours: ClinicHours = serde_json::from_value(json!({
            "weekly_hours": {"monday": [{"start": "09:00", "end": "17:00"}]},
            "date_overrides": [{"date": "2026-12-25", "hours": []}]}))
        .unwrap();
        let h = hours_document("America/New_York", &hours);
        assert!(h.contains("- Monday: open 09:00 to 17:00"));
        assert!(h.contains("- Sunday: closed"));
        assert!(h.contains("- 2026-12-25: closed all day"));
    }

    #[test]
    fn answers_fit_the_budget() {
        let hits = vec![
            ("a".repeat(50), 0.9),
            ("b ".repeat(100), 0.8),
            ("c".repeat(10), 0.7),
        ];
        let f = fit(hits.clone(), 3, 120);
        assert_eq!(f.len(), 2);
        assert!(f.iter().map(|(c, _)| c.chars().count()).sum::<usize>() <= 120);
        assert_eq!(fit(hits, 1, 1000).len(), 1);
    }
}
