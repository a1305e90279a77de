//! auth's identity and its own settings (read beside the standard ones, from the environment).

use std::time::Duration;

use servicekit::config::{CommonSettings, ConfigError, ServiceInfo, Setting};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "auth",
    schema: "auth",
    default_port: 8081,
};

/// Auth's own settings (the `settings` contract, ADR 0023). In production the service
/// clients, the public URL and the redirect allow-list must be set (their defaults are local).
pub const SETTINGS: &[Setting] = &[
    Setting::new("AUTH_ACCESS_TTL_SECS", Some("900")),
    Setting::new("AUTH_SERVICE_TOKEN_TTL_SECS", Some("300")),
    Setting::new("AUTH_REFRESH_GRACE_SECS", Some("10")),
    Setting::new("AUTH_SESSION_LIFETIME_SECS", Some("2592000")),
    Setting::new("AUTH_MIN_INACTIVITY_SECS", Some("300")),
    Setting::new("AUTH_ARGON2_M_KIB", Some("19456")),
    Setting::new("AUTH_ARGON2_T", Some("2")),
    Setting::new("AUTH_ARGON2_P", Some("1")),
    Setting::new("AUTH_ARGON2_BELOW_FLOOR", None),
    Setting::new("AUTH_HASH_CONCURRENCY", Some("<half the CPUs, at least 1>")),
    Setting::new("AUTH_HASH_QUEUE", Some("<4 x AUTH_HASH_CONCURRENCY>")),
    Setting::new(
        "AUTH_HASH_RESERVED",
        Some("<AUTH_HASH_QUEUE / 4, at least 1>"),
    ),
    Setting::new("AUTH_HASH_QUEUE_WAIT_MS", Some("2000")),
    Setting::new("AUTH_STEP_UP_MAX_AGE_SECS", Some("600")),
    Setting::new("AUTH_LOGIN_MAX_FAILURES", Some("5")),
    Setting::new("AUTH_IP_MAX_FAILURES", Some("50")),
    Setting::new("AUTH_LOGIN_WINDOW_SECS", Some("900")),
    Setting::new("AUTH_SIGNUP_PER_IP_PER_HOUR", Some("20")),
    Setting::new("AUTH_AUTHORIZE_PER_IP", Some("30")),
    Setting::new("AUTH_AUTHORIZE_WINDOW_SECS", Some("600")),
    Setting::new("AUTH_KEY_RELOAD_SECS", Some("30")),
    Setting::new("AUTH_RESET_PER_IP_PER_HOUR", Some("10")),
    Setting::new("AUTH_RESET_TTL_SECS", Some("3600")),
    Setting::new("AUTH_INVITATION_TTL_SECS", Some("604800")),
    Setting::new("AUTH_REVOCATION_SYNC_MS", Some("500")),
    Setting::new("AUTH_ORG_DELETION_GRACE_SECS", Some("259200")),
    Setting::new("AUTH_ORG_DELETION_POLL_SECS", Some("30")),
    Setting::new("AUTH_PUBLIC_URL", Some("http://127.0.0.1:8080")).required(),
    Setting::new("AUTH_SMTP_URL", None).secret(),
    Setting::new("AUTH_MAIL_FROM", Some("Voxanne <no-reply@voxanne.local>")),
    Setting::new("AUTH_TRUST_FORWARDED_FOR", Some("false")),
    Setting::new("AUTH_SIGNUP_CONFIRM_EMAIL", Some("true")),
    Setting::new("AUTH_SERVICE_CLIENTS", None)
        .required()
        .secret(),
    Setting::new("AUTH_GOOGLE_ISSUER", Some("https://accounts.google.com")),
    Setting::new("AUTH_GOOGLE_CLIENT_ID", None),
    Setting::new("AUTH_GOOGLE_CLIENT_SECRET", None).secret(),
    Setting::new(
        "AUTH_SSO_CALLBACK_URL",
        Some("http://127.0.0.1:8080/api/auth/callback"),
    ),
    Setting::new(
        "AUTH_REDIRECT_ALLOW_LIST",
        Some("http://127.0.0.1:8080/,http://localhost:3000/"),
    )
    .required(),
];

pub type Settings = runtime::StandardSettings<AuthSettings>;

/// A service client allowed the `client_credentials` grant (`AUTH_SERVICE_CLIENTS`).
#[derive(Clone)]
pub struct ServiceClient {
    pub name: String,
    pub secret: secrecy::SecretString,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceClient({})", self.name)
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of access tokens (`AUTH_ACCESS_TTL_SECS`, default 900).
    pub access_ttl: Duration,
    /// Lifetime of service tokens (`AUTH_SERVICE_TOKEN_TTL_SECS`, default 300).
    pub service_token_ttl: Duration,
    /// A rotated refresh token presented again within this interval returns the current pair
    /// (`AUTH_REFRESH_GRACE_SECS`, default 10).
    pub refresh_grace: Duration,
    /// Absolute session lifetime when the org sets none (`AUTH_SESSION_LIFETIME_SECS`, default 30 days).
    pub session_lifetime: Duration,
    /// The shortest inactivity timeout an org may set with `PATCH /api/orgs/{id}`
    /// (`AUTH_MIN_INACTIVITY_SECS`, default 300, 1..=86400). Keep the default in production:
    /// lower floors exist so tests can watch a session idle out in seconds.
    pub min_inactivity_secs: u32,
    /// `name:secret,name:secret` — clients of the `client_credentials` grant.
    pub service_clients: Vec<ServiceClient>,
    /// argon2id cost (`AUTH_ARGON2_M_KIB` 19456, `AUTH_ARGON2_T` 2, `AUTH_ARGON2_P` 1: OWASP minimum).
    /// Lower values are refused at start (the floor is m=19456 KiB with t=2, or m=47104 KiB with
    /// t=1) unless `AUTH_ARGON2_BELOW_FLOOR=allow` says this is a test. A stored hash with a lower
    /// cost than these settings is rehashed at the user's next successful login.
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// Password hashes computed at once (`AUTH_HASH_CONCURRENCY`, default: half the CPUs, at
    /// least 1), requests
    /// allowed to wait for one (`AUTH_HASH_QUEUE`, default 4 × the concurrency) and for how long
    /// (`AUTH_HASH_QUEUE_WAIT_MS`, default 2000). Beyond that a request needing a hash is
    /// answered 503 `hashing_busy` with `Retry-After` at once. Each argon2id hash holds
    /// `argon2_m_kib` of memory, so hashing memory stays below concurrency × m.
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    pub hash_queue_wait: Duration,
    /// Places of the hashing queue password logins may not take (`AUTH_HASH_RESERVED`, default
    /// a quarter of the queue, at least 1 when there is a queue): kept for signups, password
    /// changes and resets, step-up and recovery codes, so a login flood cannot starve them.
    pub hash_reserved: usize,
    /// How recent an authentication a sensitive operation needs (`AUTH_STEP_UP_MAX_AGE_SECS`,
    /// default 600): older answers 403 `reauthentication_needed`.
    pub step_up_max_age: Duration,
    /// Failed logins per account, and per IP, in `login_window` before 429
    /// (`AUTH_LOGIN_MAX_FAILURES` 5, `AUTH_IP_MAX_FAILURES` 50, `AUTH_LOGIN_WINDOW_SECS` 900).
    pub login_max_failures: u32,
    pub ip_max_failures: u32,
    pub login_window: Duration,
    /// Signups per IP per hour (`AUTH_SIGNUP_PER_IP_PER_HOUR`, default 20).
    pub signup_per_ip_per_hour: u32,
    /// Signup needs the mailed confirmation before the first login (`AUTH_SIGNUP_CONFIRM_EMAIL`,
    /// default true). Then `POST /api/auth/signup` answers 201 with the user and no tokens, and
    /// answers an already registered email exactly the same way (the owner gets an "account
    /// exists" mail instead): signup does not tell who has an account. `false` (local runs
    /// without SMTP, the demo) answers a new signup with its first token pair and a registered
    /// email with 409 `email_taken` — enumerable, like GoTrue with autoconfirm on.
    pub signup_confirm_email: bool,
    /// SSO sign-ins started (`GET /api/auth/authorize`) per IP in `authorize_window`
    /// (`AUTH_AUTHORIZE_PER_IP` 30, `AUTH_AUTHORIZE_WINDOW_SECS` 600): each one stores a flow in
    /// Redis for an unauthenticated caller.
    pub authorize_per_ip: u32,
    pub authorize_window: Duration,
    /// How often a running instance re-reads the signing keys (`AUTH_KEY_RELOAD_SECS`, default 30).
    pub key_reload: Duration,
    /// Password-reset requests per IP per hour (`AUTH_RESET_PER_IP_PER_HOUR`, default 10) and
    /// the lifetime of a reset link (`AUTH_RESET_TTL_SECS`, default 3600).
    pub reset_per_ip_per_hour: u32,
    pub reset_ttl: Duration,
    /// Where mailed links point (`AUTH_PUBLIC_URL`, default `http://127.0.0.1:8080`).
    pub public_url: String,
    /// Invitation lifetime (`AUTH_INVITATION_TTL_SECS`, default 7 days).
    pub invitation_ttl: Duration,
    /// SMTP server for the mail outbox (`AUTH_SMTP_URL`, e.g. `smtps://user:pass@smtp.example:465`);
    /// without it mail stays in `auth.mail_outbox`.
    pub smtp_url: Option<secrecy::SecretString>,
    /// Sender address (`AUTH_MAIL_FROM`, default `Voxanne <no-reply@voxanne.local>`).
    pub mail_from: String,
    /// Believe `X-Forwarded-For` (only behind the gateway; `AUTH_TRUST_FORWARDED_FOR`, default false).
    pub trust_forwarded_for: bool,
    /// Google SSO: the OIDC issuer (`AUTH_GOOGLE_ISSUER`, default `https://accounts.google.com`);
    /// SSO is off unless `AUTH_GOOGLE_CLIENT_ID` is set, and then `AUTH_GOOGLE_CLIENT_SECRET` too.
    pub google_issuer: String,
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<secrecy::SecretString>,
    /// Our callback registered with the provider (`AUTH_SSO_CALLBACK_URL`).
    pub sso_callback_url: String,
    /// Where a sign-in may return to: URL prefixes, same origin and path prefix
    /// (`AUTH_REDIRECT_ALLOW_LIST`, comma-separated).
    pub redirect_allow_list: Vec<String>,
    /// How often every auth instance rewrites revocation marks missing from Redis from the
    /// sessions table (`AUTH_REVOCATION_SYNC_MS`, default 500: with the services' 250 ms
    /// "not revoked" memory a lost mark is back in force within one second; ADR 0011). Keep it
    /// at most 750 in production: larger values (up to 600000) exist so a test can watch the
    /// retry path without the rewriter.
    pub revocation_sync: Duration,
    /// The cancel window of an org deletion (`AUTH_ORG_DELETION_GRACE_SECS`, default 72 h,
    /// 1 s ..= 90 days): `DELETE /api/orgs/{id}` schedules, the worker deletes when it is due.
    pub org_deletion_grace: Duration,
    /// How often the deletion worker looks for due deletions (`AUTH_ORG_DELETION_POLL_SECS`,
    /// default 30, 1..=3600).
    pub org_deletion_poll: Duration,
}

/// A setting read as `u64` within bounds that fit a `u32`.
fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl AuthSettings {
    pub fn from_lookup(
        _common: &CommonSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        let mut num = |key: &str, default: u64, min: u64, max: u64| -> u64 {
            match lookup(key).filter(|v| !v.trim().is_empty()) {
                None => default,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        errors.push(format!(
                            "{key} must be an integer in {min}..={max} (got {v:?})"
                        ));
                        default
                    }
                },
            }
        };
        let access_ttl = Duration::from_secs(num("AUTH_ACCESS_TTL_SECS", 900, 30, 3600));
        let service_token_ttl =
            Duration::from_secs(num("AUTH_SERVICE_TOKEN_TTL_SECS", 300, 30, 3600));
        let refresh_grace = Duration::from_secs(num("AUTH_REFRESH_GRACE_SECS", 10, 0, 120));
        let session_lifetime = Duration::from_secs(num(
            "AUTH_SESSION_LIFETIME_SECS",
            30 * 86400,
            300,
            365 * 86400,
        ));
        let min_inactivity_secs = small(num("AUTH_MIN_INACTIVITY_SECS", 300, 1, 86400));
        let argon2_m_kib = small(num("AUTH_ARGON2_M_KIB", 19456, 8, 1 << 21));
        let argon2_t = small(num("AUTH_ARGON2_T", 2, 1, 20));
        let argon2_p = small(num("AUTH_ARGON2_P", 1, 1, 16));
        let below_floor_allowed = matches!(
            lookup("AUTH_ARGON2_BELOW_FLOOR").as_deref().map(str::trim),
            Some("allow")
        );
        let floor_error = (!below_floor_allowed
            && !crate::domain::password::meets_floor(argon2_m_kib, argon2_t))
        .then(|| {
            format!(
                "AUTH_ARGON2_M_KIB={argon2_m_kib} with AUTH_ARGON2_T={argon2_t} is below the OWASP floor (m=19456 KiB t=2, or m=47104 KiB t=1); set AUTH_ARGON2_BELOW_FLOOR=allow only in tests"
            )
        });
        let cpus = std::thread::available_parallelism()
            .map(std::num::NonZeroUsize::get)
            .unwrap_or(2);
        // Half the CPUs (at least one): hashing at full capacity must leave CPU for every other
        // request (a refresh, a JWKS fetch) to stay fast.
        let hash_concurrency = usize::try_from(num(
            "AUTH_HASH_CONCURRENCY",
            u64::try_from((cpus / 2).max(1)).unwrap_or(1),
            1,
            256,
        ))
        .unwrap_or(2);
        let hash_queue = usize::try_from(num(
            "AUTH_HASH_QUEUE",
            u64::try_from(hash_concurrency.saturating_mul(4)).unwrap_or(8),
            0,
            10_000,
        ))
        .unwrap_or(8);
        let hash_reserved = usize::try_from(num(
            "AUTH_HASH_RESERVED",
            u64::try_from((hash_queue / 4).max(1).min(hash_queue)).unwrap_or(1),
            0,
            10_000,
        ))
        .unwrap_or(1)
        .min(hash_queue);
        let hash_queue_wait =
            Duration::from_millis(num("AUTH_HASH_QUEUE_WAIT_MS", 2000, 1, 60_000));
        let step_up_max_age = Duration::from_secs(num("AUTH_STEP_UP_MAX_AGE_SECS", 600, 1, 3600));
        let login_max_failures = small(num("AUTH_LOGIN_MAX_FAILURES", 5, 1, 1000));
        let ip_max_failures = small(num("AUTH_IP_MAX_FAILURES", 50, 1, 100_000));
        let login_window = Duration::from_secs(num("AUTH_LOGIN_WINDOW_SECS", 900, 1, 86400));
        let signup_per_ip_per_hour = small(num("AUTH_SIGNUP_PER_IP_PER_HOUR", 20, 1, 100_000));
        let authorize_per_ip = small(num("AUTH_AUTHORIZE_PER_IP", 30, 1, 100_000));
        let authorize_window =
            Duration::from_secs(num("AUTH_AUTHORIZE_WINDOW_SECS", 600, 1, 86400));
        let key_reload = Duration::from_secs(num("AUTH_KEY_RELOAD_SECS", 30, 1, 3600));
        let reset_per_ip_per_hour = small(num("AUTH_RESET_PER_IP_PER_HOUR", 10, 1, 100_000));
        let reset_ttl = Duration::from_secs(num("AUTH_RESET_TTL_SECS", 3600, 1, 86400));
        let invitation_ttl =
            Duration::from_secs(num("AUTH_INVITATION_TTL_SECS", 7 * 86400, 60, 90 * 86400));
        let revocation_sync =
            Duration::from_millis(num("AUTH_REVOCATION_SYNC_MS", 500, 50, 600_000));
        let org_deletion_grace = Duration::from_secs(num(
            "AUTH_ORG_DELETION_GRACE_SECS",
            72 * 3600,
            1,
            90 * 86400,
        ));
        let org_deletion_poll =
            Duration::from_secs(num("AUTH_ORG_DELETION_POLL_SECS", 30, 1, 3600));
        let public_url = lookup("AUTH_PUBLIC_URL")
            .map(|v| v.trim().trim_end_matches('/').to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let smtp_url = lookup("AUTH_SMTP_URL")
            .filter(|v| !v.trim().is_empty())
            .map(secrecy::SecretString::from);
        let mail_from = lookup("AUTH_MAIL_FROM")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "Voxanne <no-reply@voxanne.local>".into());
        let trust_forwarded_for = matches!(
            lookup("AUTH_TRUST_FORWARDED_FOR").as_deref().map(str::trim),
            Some("true" | "1" | "yes")
        );
        let signup_confirm_email = !matches!(
            lookup("AUTH_SIGNUP_CONFIRM_EMAIL")
                .as_deref()
                .map(str::trim),
            Some("false" | "0" | "no")
        );
        errors.extend(floor_error);
        let mut service_clients = Vec::new();
        for part in lookup("AUTH_SERVICE_CLIENTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.split_once(':') {
                Some((name, secret)) if !name.is_empty() && secret.len() >= 16 => service_clients
                    .push(ServiceClient {
                        name: name.to_string(),
                        secret: secret.to_string().into(),
                    }),
                _ => errors.push(
                    "AUTH_SERVICE_CLIENTS must be name:secret pairs with secrets of 16+ characters"
                        .into(),
                ),
            }
        }
        let text = |key: &str, default: &str| {
            lookup(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let google_issuer = text("AUTH_GOOGLE_ISSUER", "https://accounts.google.com");
        let google_client_id = Some(text("AUTH_GOOGLE_CLIENT_ID", "")).filter(|v| !v.is_empty());
        let google_client_secret = Some(text("AUTH_GOOGLE_CLIENT_SECRET", ""))
            .filter(|v| !v.is_empty())
            .map(secrecy::SecretString::from);
        if google_client_id.is_some() && google_client_secret.is_none() {
            errors.push(
                "AUTH_GOOGLE_CLIENT_SECRET is required when AUTH_GOOGLE_CLIENT_ID is set".into(),
            );
        }
        let sso_callback_url = text(
            "AUTH_SSO_CALLBACK_URL",
            "http://127.0.0.1:8080/api/auth/callback",
        );
        let redirect_allow_list: Vec<String> = text(
            "AUTH_REDIRECT_ALLOW_LIST",
            "http://127.0.0.1:8080/,http://localhost:3000/",
        )
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
        for (key, url) in [
            ("AUTH_GOOGLE_ISSUER", &google_issuer),
            ("AUTH_SSO_CALLBACK_URL", &sso_callback_url),
        ]
        .into_iter()
        .chain(
            redirect_allow_list
                .iter()
                .map(|u| ("AUTH_REDIRECT_ALLOW_LIST", u)),
        ) {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                _ => errors.push(format!(
                    "{key} must hold absolute http(s) URLs (got {url:?})"
                )),
            }
        }
        if errors.is_empty() {
            Ok(AuthSettings {
                access_ttl,
                service_token_ttl,
                refresh_grace,
                session_lifetime,
                min_inactivity_secs,
                service_clients,
                argon2_m_kib,
                argon2_t,
                argon2_p,
                hash_concurrency,
                hash_queue,
                hash_queue_wait,
                hash_reserved,
                step_up_max_age,
                login_max_failures,
                ip_max_failures,
                login_window,
                signup_per_ip_per_hour,
                signup_confirm_email,
                authorize_per_ip,
                authorize_window,
                trust_forwarded_for,
                key_reload,
                public_url,
                reset_per_ip_per_hour,
                reset_ttl,
                invitation_ttl,
                smtp_url,
                mail_from,
                google_issuer,
                google_client_id,
                google_client_secret,
                sso_callback_url,
                redirect_allow_list,
                revocation_sync,
                org_deletion_grace,
                org_deletion_poll,
            })
        } else {
            Err(ConfigError(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn auth_settings(pairs: &[(&str, &str)]) -> Result<AuthSettings, ConfigError> {
        let common = CommonSettings::from_lookup(INFO, &|_| None).expect("local defaults");
        AuthSettings::from_lookup(&common, &|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn org_deletion_waits_72_hours_and_marks_are_resynced_within_a_second_by_default() {
        let d = auth_settings(&[]).unwrap();
        assert_eq!(d.org_deletion_grace, Duration::from_secs(72 * 3600));
        assert_eq!(d.revocation_sync, Duration::from_millis(500));
        let short = auth_settings(&[("AUTH_ORG_DELETION_GRACE_SECS", "2")]).unwrap();
        assert_eq!(short.org_deletion_grace, Duration::from_secs(2));
        for (key, bad) in [
            ("AUTH_ORG_DELETION_GRACE_SECS", "0"),
            ("AUTH_REVOCATION_SYNC_MS", "10"),
            ("AUTH_ORG_DELETION_POLL_SECS", "0"),
        ] {
            let err = auth_settings(&[(key, bad)]).unwrap_err();
            assert!(
                err.0.iter().any(|e| e.contains(key)),
                "{key}={bad}: {:?}",
                err.0
            );
        }
    }

    #[test]
    fn the_inactivity_floor_defaults_to_300_and_is_validated() {
        assert_eq!(auth_settings(&[]).unwrap().min_inactivity_secs, 300);
        let low = auth_settings(&[("AUTH_MIN_INACTIVITY_SECS", "1")]).unwrap();
        assert_eq!(low.min_inactivity_secs, 1);
        for bad in ["0", "86401", "five"] {
            let err = auth_settings(&[("AUTH_MIN_INACTIVITY_SECS", bad)]).unwrap_err();
            assert!(
                err.0.iter().any(|e| e.contains("AUTH_MIN_INACTIVITY_SECS")),
                "{bad}: {:?}",
                err.0
            );
        }
    }

    #[test]
    fn argon2_below_the_owasp_floor_is_refused_unless_allowed_for_tests() {
        let d = auth_settings(&[]).unwrap();
        assert_eq!((d.argon2_m_kib, d.argon2_t, d.argon2_p), (19456, 2, 1));
        let err =
            auth_settings(&[("AUTH_ARGON2_M_KIB", "1024"), ("AUTH_ARGON2_T", "1")]).unwrap_err();
        assert!(
            err.0.iter().any(|e| e.contains("OWASP floor")),
            "{:?}",
            err.0
        );
        assert!(auth_settings(&[("AUTH_ARGON2_T", "1")]).is_err());
        assert!(auth_settings(&[("AUTH_ARGON2_M_KIB", "47104"), ("AUTH_ARGON2_T", "1")]).is_ok());
        assert!(
            auth_settings(&[
                ("AUTH_ARGON2_M_KIB", "1024"),
                ("AUTH_ARGON2_T", "1"),
                ("AUTH_ARGON2_BELOW_FLOOR", "allow")
            ])
            .is_ok()
        );
    }

    #[test]
    fn hashing_capacity_and_queue_are_configurable() {
        let d = auth_settings(&[]).unwrap();
        assert!(d.hash_concurrency >= 1);
        assert_eq!(d.hash_queue, d.hash_concurrency * 4);
        let set = auth_settings(&[
            ("AUTH_HASH_CONCURRENCY", "3"),
            ("AUTH_HASH_QUEUE", "0"),
            ("AUTH_HASH_QUEUE_WAIT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(
            (set.hash_concurrency, set.hash_queue, set.hash_queue_wait),
            (3, 0, Duration::from_millis(250))
        );
        assert!(auth_settings(&[("AUTH_HASH_CONCURRENCY", "0")]).is_err());
    }

    #[test]
    fn authorize_is_limited_to_30_per_10_minutes_unless_configured() {
        let d = auth_settings(&[]).unwrap();
        assert_eq!(
            (d.authorize_per_ip, d.authorize_window),
            (30, Duration::from_secs(600))
        );
        let set = auth_settings(&[
            ("AUTH_AUTHORIZE_PER_IP", "3"),
            ("AUTH_AUTHORIZE_WINDOW_SECS", "60"),
        ])
        .unwrap();
        assert_eq!(
            (set.authorize_per_ip, set.authorize_window),
            (3, Duration::from_secs(60))
        );
        assert!(auth_settings(&[("AUTH_AUTHORIZE_PER_IP", "0")]).is_err());
    }
}
