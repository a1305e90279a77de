//! The scoring model: a versioned data file (`services/lead-scoring/models/vN.json`) of weights,
//! rules, tier thresholds and next-action rules, embedded in the binary so that every version a
//! stored score names can be re-run. Score = `base` + the points of every rule whose conditions
//! all hold, clamped to 0–100; each firing rule is a reason whose text quotes its evidence. An
//! opted-out contact is never `hot`, whatever the file says (`opted_out_max_tier` can only lower
//! that cap).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::features::{BusinessHours, Features};

/// Every model version shipped, oldest first; the last is the current one.
const MODELS: &[(&str, &str)] = &[("v1", include_str!("../../models/v1.json"))];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Cold,
    Warm,
    Hot,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "hot" => Some(Tier::Hot),
            "warm" => Some(Tier::Warm),
            "cold" => Some(Tier::Cold),
            _ => None,
        }
    }
}

/// The next best actions a model may choose.
pub const ACTIONS: &[&str] = &["call_back_now", "send_booking_link", "nurture_7d", "none"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub feature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ne: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
}

impl Condition {
    /// Holds when every comparison given holds; a missing or null feature fails every
    /// comparison but `ne`.
    fn holds(&self, facts: &Map<String, Value>) -> bool {
        let v = facts.get(&self.feature).unwrap_or(&Value::Null);
        let num = v.as_f64();
        let cmp = |bound: Option<f64>, ok: fn(f64, f64) -> bool| {
            bound.is_none_or(|b| num.is_some_and(|n| ok(n, b)))
        };
        self.eq.as_ref().is_none_or(|e| v == e)
            && self.ne.as_ref().is_none_or(|e| v != e)
            && self.one_of.as_ref().is_none_or(|set| set.contains(v))
            && cmp(self.gt, |n, b| n > b)
            && cmp(self.gte, |n, b| n >= b)
            && cmp(self.lt, |n, b| n < b)
            && cmp(self.lte, |n, b| n <= b)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub points: i32,
    pub when: Vec<Condition>,
    /// Text with `{feature}` placeholders.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    pub action: String,
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    pub hot: i32,
    pub warm: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub version: String,
    pub description: String,
    pub base: i32,
    pub tiers: Tiers,
    pub opted_out_max_tier: Tier,
    pub business_hours: BusinessHours,
    pub repeat_window_days: i64,
    pub rules: Vec<Rule>,
    /// First match wins (conditions may read `score` and `tier` too).
    pub actions: Vec<ActionRule>,
    pub default_action: String,
}

/// Why a rule fired, in words a receptionist reads, with the values it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// The rule's id, e.g. `asked_price`.
    pub code: String,
    pub points: i32,
    /// e.g. "asked the price of implants (US$3,200) on the 2nd call this week".
    pub text: String,
    /// The feature values the rule read (its conditions and its text).
    #[schema(value_type = Object)]
    pub evidence: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub score: u8,
    pub tier: Tier,
    pub next_action: String,
    pub reasons: Vec<Reason>,
    pub model_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no scoring model {0} (known: {1})")]
    Unknown(String, String),
    #[error("model {0} is invalid: {1}")]
    Invalid(String, String),
}

fn placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(after[..close].to_string());
        rest = &after[close + 1..];
    }
    out
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "unknown".into(),
        other => other.to_string(),
    }
}

impl Model {
    /// The versions shipped.
    pub fn versions() -> Vec<&'static str> {
        MODELS.iter().map(|(v, _)| *v).collect()
    }

    /// The model every new score uses.
    pub fn current() -> Result<Model, ModelError> {
        let (v, _) = MODELS
            .last()
            .ok_or_else(|| ModelError::Unknown("current".into(), String::new()))?;
        Model::load(v)
    }

    pub fn load(version: &str) -> Result<Model, ModelError> {
        let (_, text) = MODELS.iter().find(|(v, _)| *v == version).ok_or_else(|| {
            ModelError::Unknown(version.to_string(), Model::versions().join(", "))
        })?;
        Model::parse(text)
    }

    /// Parses and checks a model file: every feature a rule reads or quotes exists, every
    /// action is known, thresholds are ordered.
    pub fn parse(text: &str) -> Result<Model, ModelError> {
        let m: Model = serde_json::from_str(text)
            .map_err(|e| ModelError::Invalid("?".into(), e.to_string()))?;
        let bad = |why: String| Err(ModelError::Invalid(m.version.clone(), why));
        let known = feature_names();
        let readable = |f: &str| known.iter().any(|k| k == f) || f == "score" || f == "tier";
        for r in &m.rules {
            for c in &r.when {
                if !known.iter().any(|k| k == &c.feature) {
                    return bad(format!("rule {} reads unknown feature {}", r.id, c.feature));
                }
            }
            for p in placeholders(&r.reason) {
                if !known.iter().any(|k| k == &p) {
                    return bad(format!("rule {} quotes unknown feature {p}", r.id));
                }
            }
        }
        for a in &m.actions {
            if !ACTIONS.contains(&a.action.as_str()) {
                return bad(format!("unknown action {}", a.action));
            }
            if let Some(c) = a.when.iter().find(|c| !readable(&c.feature)) {
                return bad(format!(
                    "action {} reads unknown feature {}",
                    a.action, c.feature
                ));
            }
        }
        if !ACTIONS.contains(&m.default_action.as_str()) {
            return bad(format!("unknown default action {}", m.default_action));
        }
        if !(0 < m.tiers.warm && m.tiers.warm < m.tiers.hot && m.tiers.hot <= 100) {
            return bad("tiers must satisfy 0 < warm < hot <= 100".into());
        }
        Ok(m)
    }

    /// Scores a feature vector. Pure: the same features and model give the same result.
    pub fn score(&self, f: &Features) -> Scored {
        let facts = match serde_json::to_value(f) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut total = self.base;
        let mut reasons = Vec::new();
        for r in &self.rules {
            if !r.when.iter().all(|c| c.holds(&facts)) {
                continue;
            }
            total = total.saturating_add(r.points);
            let mut text = r.reason.clone();
            let mut evidence = BTreeMap::new();
            for c in &r.when {
                evidence.insert(
                    c.feature.clone(),
                    facts.get(&c.feature).cloned().unwrap_or(Value::Null),
                );
            }
            for p in placeholders(&r.reason) {
                let v = facts.get(&p).cloned().unwrap_or(Value::Null);
                text = text.replace(&format!("{{{p}}}"), &render(&v));
                evidence.insert(p, v);
            }
            reasons.push(Reason {
                code: r.id.clone(),
                points: r.points,
                text,
                evidence,
            });
        }
        let clamped = total.clamp(0, 100);
        let score = u8::try_from(clamped).unwrap_or(0);
        let mut tier = if clamped >= self.tiers.hot {
            Tier::Hot
        } else if clamped >= self.tiers.warm {
            Tier::Warm
        } else {
            Tier::Cold
        };
        if f.opted_out {
            // Never hot when opted out, even if the file's cap were `hot`.
            tier = tier.min(self.opted_out_max_tier).min(Tier::Warm);
        }
        // Strongest reasons first (the API shows them in this order).
        reasons.sort_by(|a, b| {
            b.points
                .abs()
                .cmp(&a.points.abs())
                .then(a.code.cmp(&b.code))
        });
        let mut with_tier = facts;
        with_tier.insert("score".into(), Value::from(score));
        with_tier.insert("tier".into(), Value::from(tier.as_str()));
        let next_action = self
            .actions
            .iter()
            .find(|a| a.when.iter().all(|c| c.holds(&with_tier)))
            .map_or_else(|| self.default_action.clone(), |a| a.action.clone());
        Scored {
            score,
            tier,
            next_action,
            reasons,
            model_version: self.version.clone(),
        }
    }
}

/// The names of the features (the keys of a serialized [`Features`]).
pub fn feature_names() -> Vec<String> {
    let hours = BusinessHours {
        start: "08:00".into(),
        end: "18:00".into(),
        days: vec![],
    };
    let f = super::features::features(
        &super::history::History::default(),
        chrono_tz::UTC,
        &hours,
        7,
        &std::collections::BTreeMap::new(),
    );
    match serde_json::to_value(f) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_parses_and_the_current_one_is_the_last() {
        for v in Model::versions() {
            let m = Model::load(v).unwrap();
            assert_eq!(m.version, v);
        }
        assert_eq!(Model::current().unwrap().version, "v1");
        assert!(matches!(Model::load("v99"), Err(ModelError::Unknown(..))));
    }

    #[test]
    fn a_typo_in_a_model_file_is_refused_not_silently_ignored() {
        let text = include_str!("../../models/v1.json");
        let typo = text.replacen("\"booked_on_call\", \"eq\"", "\"booked_on_cal\", \"eq\"", 1);
        assert!(matches!(Model::parse(&typo), Err(ModelError::Invalid(..))));
        let bad_action = text.replacen("\"send_booking_link\"", "\"send_flowers\"", 1);
        assert!(matches!(
            Model::parse(&bad_action),
            Err(ModelError::Invalid(..))
        ));
    }
}
