//! Typed settings shared by every service, read from the environment once at start and validated
//! there (fail fast with a readable message). Values come through a lookup function: the binary
//! passes the environment (`cli::main`, the one place that reads it), tests pass a map.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::KeyRing;

/// The static facts of one service: its name, Postgres schema and default port (ARCHITECTURE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub schema: &'static str,
    pub default_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Test,
    Production,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Where the auth service publishes its public keys.
    pub jwks_url: String,
    pub issuer: String,
    pub audience: Vec<String>,
    /// The audience of service tokens (`/internal/...` routes).
    pub service_audience: String,
    /// Clock skew tolerated on `exp` / `nbf`.
    pub leeway: Duration,
    /// An unknown `kid` triggers a JWKS refetch at most this often.
    pub jwks_min_refetch: Duration,
    /// A known JWKS is refreshed in the background after this long.
    pub jwks_max_age: Duration,
}

#[derive(Clone)]
pub struct CommonSettings {
    pub service: ServiceInfo,
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub database_url: SecretString,
    pub migration_database_url: SecretString,
    pub db_pool_size: usize,
    pub redis_url: SecretString,
    pub redis_prefix: String,
    pub amqp_url: SecretString,
    pub jwt: JwtSettings,
    pub keys: KeyRing,
    pub otlp_endpoint: Option<String>,
    pub log_filter: String,
    pub body_limit: usize,
    pub http_workers: usize,
}

impl fmt::Debug for CommonSettings {
    // Derived Debug would print URLs with passwords; show only what is safe.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonSettings")
            .field("service", &self.service.name)
            .field("environment", &self.environment)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db_pool_size", &self.db_pool_size)
            .field("redis_prefix", &self.redis_prefix)
            .field("jwt", &self.jwt)
            .field("keys", &self.keys)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// One setting a binary reads from its environment, as `<binary> settings --json` prints it:
/// the contract the Kubernetes overlays are checked against (`make k8s-check`, ADR 0023).
/// `required_in_production`: with `VOXANNE_ENV=production` the process refuses to start without
/// it (the runtime checks the declared list, so the declaration is the rule). `secret`: it must
/// come from a Secret, never a ConfigMap. `default`: the value used when it is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub required_in_production: bool,
    pub secret: bool,
    pub default: Option<&'static str>,
}

impl Setting {
    /// An optional setting with its default (`None`: absent means off / not used).
    pub const fn new(name: &'static str, default: Option<&'static str>) -> Self {
        Setting {
            name,
            required_in_production: false,
            secret: false,
            default,
        }
    }
    pub const fn required(self) -> Self {
        Setting {
            required_in_production: true,
            ..self
        }
    }
    pub const fn secret(self) -> Self {
        Setting {
            secret: true,
            ..self
        }
    }
}

/// The settings `CommonSettings::from_lookup` reads (defaults as documented there).
pub const COMMON_SETTINGS: &[Setting] = &[
    Setting::new("VOXANNE_ENV", Some("local")),
    Setting::new("APP_HOST", Some("127.0.0.1")).required(),
    Setting::new("APP_PORT", Some("<the service's port>")),
    Setting::new(
        "DATABASE_URL",
        Some("postgres://svc_<schema>@127.0.0.1:5432/voxanne"),
    )
    .required()
    .secret(),
    // Only `migrate` uses it; serving pods must not get owner credentials.
    Setting::new(
        "MIGRATION_DATABASE_URL",
        Some("postgres://<schema>_owner@127.0.0.1:5432/voxanne"),
    )
    .secret(),
    Setting::new("DB_POOL_SIZE", Some("16")),
    Setting::new("REDIS_URL", Some("redis://127.0.0.1:6379"))
        .required()
        .secret(),
    Setting::new("REDIS_PREFIX", Some("vx:")),
    Setting::new("AMQP_URL", Some("amqp://guest:guest@127.0.0.1:5672/%2f"))
        .required()
        .secret(),
    Setting::new(
        "JWKS_URL",
        Some("http://127.0.0.1:8081/.well-known/jwks.json"),
    )
    .required(),
    Setting::new("JWT_ISSUER", Some("http://127.0.0.1:8080/api/auth")).required(),
    Setting::new("JWT_AUDIENCE", Some("authenticated")),
    Setting::new("SERVICE_JWT_AUDIENCE", Some("voxanne-internal")),
    Setting::new("JWT_LEEWAY_SECS", Some("30")),
    Setting::new("JWKS_MIN_REFETCH_SECS", Some("10")),
    Setting::new("JWKS_MAX_AGE_SECS", Some("300")),
    Setting::new("ENCRYPTION_KEYS", None).required().secret(),
    Setting::new("OTEL_EXPORTER_OTLP_ENDPOINT", None),
    Setting::new("RUST_LOG", Some("info,lapin=warn")),
    Setting::new("BODY_LIMIT_BYTES", Some("262144")),
    Setting::new("HTTP_WORKERS", Some("2")),
];

/// The declared settings that are required in production and absent (empty counts as absent),
/// as the messages `ConfigError` carries. Nothing outside production.
pub fn missing_in_production(
    declared: &[Setting],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let present = |k: &str| lookup(k).is_some_and(|v| !v.trim().is_empty());
    if lookup("VOXANNE_ENV").as_deref().map(str::trim) != Some("production") {
        return Vec::new();
    }
    declared
        .iter()
        .filter(|s| s.required_in_production && !present(s.name))
        .map(|s| format!("{} is required in production", s.name))
        .collect()
}

/// Every problem found in the environment, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl CommonSettings {
    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(
        service: ServiceInfo,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let environment = match get("VOXANNE_ENV").as_deref() {
            None | Some("local") => Environment::Local,
            Some("test") => Environment::Test,
            Some("production") => Environment::Production,
            Some(other) => {
                errors.push(format!(
                    "VOXANNE_ENV must be local, test or production (got {other:?})"
                ));
                Environment::Local
            }
        };
        let port = parse(
            &mut errors,
            "APP_PORT",
            get("APP_PORT"),
            service.default_port,
        );
        let db_pool_size = parse(&mut errors, "DB_POOL_SIZE", get("DB_POOL_SIZE"), 16usize);
        let body_limit = parse(
            &mut errors,
            "BODY_LIMIT_BYTES",
            get("BODY_LIMIT_BYTES"),
            262_144usize,
        );
        if body_limit == 0 || body_limit > 16 * 1024 * 1024 {
            errors.push("BODY_LIMIT_BYTES must be between 1 and 16777216".into());
        }
        let http_workers =
            parse(&mut errors, "HTTP_WORKERS", get("HTTP_WORKERS"), 2usize).clamp(1, 64);
        let leeway = parse(
            &mut errors,
            "JWT_LEEWAY_SECS",
            get("JWT_LEEWAY_SECS"),
            30u64,
        );
        let min_refetch = parse(
            &mut errors,
            "JWKS_MIN_REFETCH_SECS",
            get("JWKS_MIN_REFETCH_SECS"),
            10u64,
        );
        let max_age = parse(
            &mut errors,
            "JWKS_MAX_AGE_SECS",
            get("JWKS_MAX_AGE_SECS"),
            300u64,
        );

        let keys = match get("ENCRYPTION_KEYS") {
            Some(spec) => KeyRing::parse(&spec).unwrap_or_else(|e| {
                errors.push(format!("ENCRYPTION_KEYS: {e}"));
                KeyRing::ephemeral()
            }),
            None if environment == Environment::Production => {
                errors.push("ENCRYPTION_KEYS is required in production".into());
                KeyRing::ephemeral()
            }
            None => KeyRing::ephemeral(),
        };

        let default_db = format!("postgres://svc_{}@127.0.0.1:5432/voxanne", service.schema);
        let default_migration_db =
            format!("postgres://{}_owner@127.0.0.1:5432/voxanne", service.schema);
        let audience: Vec<String> = get("JWT_AUDIENCE")
            .unwrap_or_else(|| "authenticated".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if audience.is_empty() {
            errors.push("JWT_AUDIENCE must name at least one audience".into());
        }
        let settings = CommonSettings {
            service,
            environment,
            host: get("APP_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            database_url: SecretString::from(get("DATABASE_URL").unwrap_or(default_db)),
            migration_database_url: SecretString::from(
                get("MIGRATION_DATABASE_URL").unwrap_or(default_migration_db),
            ),
            db_pool_size,
            redis_url: SecretString::from(
                get("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            ),
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "vx:".into()),
            amqp_url: SecretString::from(
                get("AMQP_URL").unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
            ),
            jwt: JwtSettings {
                jwks_url: get("JWKS_URL")
                    .unwrap_or_else(|| "http://127.0.0.1:8081/.well-known/jwks.json".into()),
                issuer: get("JWT_ISSUER")
                    .unwrap_or_else(|| "http://127.0.0.1:8080/api/auth".into()),
                audience,
                service_audience: get("SERVICE_JWT_AUDIENCE")
                    .unwrap_or_else(|| "voxanne-internal".into()),
                leeway: Duration::from_secs(leeway),
                jwks_min_refetch: Duration::from_secs(min_refetch),
                jwks_max_age: Duration::from_secs(max_age),
            },
            keys,
            otlp_endpoint: get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info,lapin=warn".into()),
            body_limit,
            http_workers,
        };
        for (name, url, schemes) in [
            (
                "DATABASE_URL",
                &settings.database_url,
                &["postgres", "postgresql"][..],
            ),
            (
                "MIGRATION_DATABASE_URL",
                &settings.migration_database_url,
                &["postgres", "postgresql"][..],
            ),
            ("REDIS_URL", &settings.redis_url, &["redis", "rediss"][..]),
            ("AMQP_URL", &settings.amqp_url, &["amqp", "amqps"][..]),
        ] {
            let scheme = url.expose_secret().split("://").next().unwrap_or_default();
            if !url.expose_secret().contains("://") || !schemes.contains(&scheme) {
                errors.push(format!(
                    "{name} must be a URL with scheme {}",
                    schemes.join(" or ")
                ));
            }
        }
        if !settings.jwt.jwks_url.starts_with("http://")
            && !settings.jwt.jwks_url.starts_with("https://")
        {
            errors.push("JWKS_URL must be an http(s) URL".into());
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError(errors))
        }
    }

    pub fn from_map(
        service: ServiceInfo,
        map: &HashMap<&str, String>,
    ) -> Result<Self, ConfigError> {
        Self::from_lookup(service, &|k| map.get(k).cloned())
    }
}

fn parse<T: std::str::FromStr>(
    errors: &mut Vec<String>,
    name: &str,
    raw: Option<String>,
    default: T,
) -> T {
    match raw {
        None => default,
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            errors.push(format!("{name} is not a valid number: {v:?}"));
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: ServiceInfo = ServiceInfo {
        name: "calendar",
        schema: "calendar",
        default_port: 8083,
    };

    #[test]
    fn defaults_are_local_and_safe() {
        let s = CommonSettings::from_lookup(SVC, &|_| None).unwrap();
        assert_eq!(s.port, 8083);
        assert_eq!(s.environment, Environment::Local);
        assert!(
            s.database_url
                .expose_secret()
                .starts_with("postgres://svc_calendar@")
        );
        assert!(
            s.migration_database_url
                .expose_secret()
                .starts_with("postgres://calendar_owner@")
        );
        assert!(
            !format!("{s:?}").contains("guest:guest"),
            "Debug must not print credentials"
        );
    }

    #[test]
    fn every_problem_is_reported_together() {
        let err = CommonSettings::from_lookup(SVC, &|k| match k {
            "APP_PORT" => Some("eighty".into()),
            "REDIS_URL" => Some("localhost:6379".into()),
            "VOXANNE_ENV" => Some("production".into()),
            _ => None,
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("APP_PORT"), "{text}");
        assert!(text.contains("REDIS_URL"), "{text}");
        assert!(
            text.contains("ENCRYPTION_KEYS is required in production"),
            "{text}"
        );
    }
}
