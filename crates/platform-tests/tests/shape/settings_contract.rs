//! The settings contract (ADR 0023): what each binary's `settings --json` prints, committed as
//! deploy/settings-contract.json for `make k8s-check` (which holds the overlays to it without
//! building anything). These tests fail when the file is stale, when the code reads a setting
//! that is not declared (or declares one it never reads), and when a setting declared as
//! required in production is not actually refused when absent.
//! Regenerate the file with `UPDATE_SETTINGS_CONTRACT=1 cargo test -p platform-tests --test shape settings`.

use std::cell::RefCell;
use std::collections::BTreeSet;

use runtime::Service;
use servicekit::config::Setting;

use super::root;

/// A lookup of settings by name (the environment, or a map here).
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

struct Binary {
    name: &'static str,
    declared: fn() -> Vec<Setting>,
    /// Runs the binary's settings reader; Err carries its messages.
    read: fn(Lookup<'_>) -> Result<(), Vec<String>>,
}

fn binary<S: Service>() -> Binary {
    Binary {
        name: S::INFO.name,
        declared: S::declared,
        read: |lookup| S::settings(lookup).map(|_| ()).map_err(|e| e.0),
    }
}

fn binaries() -> Vec<Binary> {
    vec![
        binary::<auth::AuthService>(),
        binary::<voice_webhook::VoiceWebhook>(),
        binary::<calendar::Calendar>(),
        binary::<messaging::Messaging>(),
        binary::<lead_scoring::LeadScoring>(),
    ]
}

fn contract_json() -> String {
    let services: Vec<serde_json::Value> = binaries()
        .iter()
        .map(|b| {
            serde_json::from_str(&runtime::cli::settings_text(b.name, &(b.declared)(), true))
                .unwrap()
        })
        .collect();
    let doc = serde_json::json!({
        "about": "Generated from each binary's `settings --json` by platform-tests (tests/shape/settings_contract.rs); read by deploy/k8s_check.py. Do not edit by hand.",
        "services": services,
    });
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap())
}

#[test]
#[allow(clippy::disallowed_methods)] // a test switch, not configuration
fn settings_contract_file_is_current() {
    let path = root().join("deploy/settings-contract.json");
    let want = contract_json();
    if std::env::var_os("UPDATE_SETTINGS_CONTRACT").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "deploy/settings-contract.json is stale: regenerate it with \
         UPDATE_SETTINGS_CONTRACT=1 cargo test -p platform-tests --test shape settings"
    );
}

/// A valid production value for a declared setting (what an overlay would give).
fn sample(s: &Setting) -> Option<String> {
    let v = match s.name {
        "VOXANNE_ENV" => "production",
        "APP_HOST" => "0.0.0.0",
        "DATABASE_URL" | "MIGRATION_DATABASE_URL" => "postgres://u:p@db.example:5432/voxanne",
        "REDIS_URL" => "rediss://:p@redis.example:6380",
        "AMQP_URL" => "amqps://u:p@mq.example:5671/%2f",
        "ENCRYPTION_KEYS" => "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AUTH_SERVICE_CLIENTS" => "voice-webhook:0123456789abcdef0123",
        "AUTH_REDIRECT_ALLOW_LIST" => "https://app.example/",
        "AUTH_ARGON2_BELOW_FLOOR" => "deny",
        "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://otel-collector:4317",
        "LEADS_CLASSIFIER_API_KEY" | "VAPI_API_KEY" => "key-0123456789",
        "GOOGLE_CLIENT_ID" | "AUTH_GOOGLE_CLIENT_ID" => "client-id",
        n if n.ends_with("_URL") || n.ends_with("_URI") => "https://svc.example/path",
        _ if s.secret => "s3cret-0123456789abcdef",
        _ => match s.default {
            Some(d) if !d.starts_with('<') => d,
            _ => return None,
        },
    };
    Some(v.to_string())
}

/// Reads the binary's settings through `lookup`, recording every name the code asks for.
fn read_recording(b: &Binary, lookup: Lookup<'_>) -> (Result<(), Vec<String>>, BTreeSet<String>) {
    let asked = RefCell::new(BTreeSet::new());
    let result = (b.read)(&|k| {
        asked.borrow_mut().insert(k.to_string());
        lookup(k)
    });
    (result, asked.into_inner())
}

#[test]
fn every_setting_the_code_reads_is_declared_and_every_declared_one_is_read() {
    for b in binaries() {
        let declared = (b.declared)();
        let names: BTreeSet<String> = declared.iter().map(|s| s.name.to_string()).collect();
        assert_eq!(
            names.len(),
            declared.len(),
            "{}: a setting declared twice",
            b.name
        );
        let full = |k: &str| declared.iter().find(|s| s.name == k).and_then(sample);
        let (ok, mut asked) = read_recording(&b, &full);
        assert_eq!(
            ok,
            Ok(()),
            "{}: a complete production environment is accepted",
            b.name
        );
        let (_, asked_empty) = read_recording(&b, &|_| None);
        asked.extend(asked_empty);
        let undeclared: Vec<_> = asked.difference(&names).collect();
        assert!(
            undeclared.is_empty(),
            "{}: reads settings its SETTINGS list does not declare: {undeclared:?}",
            b.name
        );
        let unread: Vec<_> = names.difference(&asked).collect();
        assert!(
            unread.is_empty(),
            "{}: declares settings it never reads: {unread:?}",
            b.name
        );
    }
}

#[test]
fn production_refuses_to_start_without_each_required_setting() {
    let mut required_seen = 0;
    for b in binaries() {
        let declared = (b.declared)();
        for req in declared.iter().filter(|s| s.required_in_production) {
            required_seen += 1;
            let without = |k: &str| {
                (k != req.name)
                    .then(|| declared.iter().find(|s| s.name == k).and_then(sample))
                    .flatten()
            };
            let errors = (b.read)(&without).expect_err(req.name);
            let want = format!("{} is required in production", req.name);
            assert!(
                errors.contains(&want),
                "{}: without {} the errors are {errors:?}",
                b.name,
                req.name
            );
            // Outside production the same environment starts (local defaults apply).
            let local = |k: &str| {
                if k == "VOXANNE_ENV" {
                    Some("local".to_string())
                } else {
                    without(k)
                }
            };
            assert_eq!(
                (b.read)(&local),
                Ok(()),
                "{}: local without {}",
                b.name,
                req.name
            );
        }
    }
    // The ones issue 16 names among them: voice cannot start without its secret and hops.
    assert!(required_seen >= 20, "{required_seen}");
    let voice = voice_webhook::VoiceWebhook::declared();
    for n in [
        "VAPI_WEBHOOK_SECRET",
        "CALENDAR_INTERNAL_URL",
        "AUTH_TOKEN_URL",
        "SERVICE_CLIENT_SECRET",
    ] {
        assert!(
            voice
                .iter()
                .any(|s| s.name == n && s.required_in_production),
            "{n}"
        );
    }
}

#[test]
fn the_settings_command_prints_without_an_environment() {
    let text = runtime::cli::settings_text(
        "voice-webhook",
        &voice_webhook::VoiceWebhook::declared(),
        false,
    );
    assert!(
        text.lines().any(|l| l.starts_with("VAPI_WEBHOOK_SECRET")
            && l.contains("prod")
            && l.contains("yes")),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&runtime::cli::settings_text(
        "voice-webhook",
        &voice_webhook::VoiceWebhook::declared(),
        true,
    ))
    .unwrap();
    assert_eq!(json["service"], "voice-webhook");
    assert!(
        json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "AMQP_URL"
                && s["secret"] == true
                && s["required_in_production"] == true)
    );
}
