//! auth's identity and its own settings (read beside the standard ones, from the environment).

use std::time::Duration;

use servicekit::config::{CommonSettings, ConfigError, ServiceInfo};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "auth",
    schema: "auth",
    default_port: 8081,
};

pub type Settings = bus::service::StandardSettings<AuthSettings>;

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
    pub argon2_m_kib: u32,
    pub argon2_t: u32,
    pub argon2_p: u32,
    /// Failed logins per account, and per IP, in `login_window` before 429
    /// (`AUTH_LOGIN_MAX_FAILURES` 5, `AUTH_IP_MAX_FAILURES` 50, `AUTH_LOGIN_WINDOW_SECS` 900).
    pub login_max_failures: u32,
    pub ip_max_failures: u32,
    pub login_window: Duration,
    /// Signups per IP per hour (`AUTH_SIGNUP_PER_IP_PER_HOUR`, default 20).
    pub signup_per_ip_per_hour: u32,
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
        let min_inactivity_secs = num("AUTH_MIN_INACTIVITY_SECS", 300, 1, 86400) as u32;
        let argon2_m_kib = num("AUTH_ARGON2_M_KIB", 19456, 8, 1 << 21) as u32;
        let argon2_t = num("AUTH_ARGON2_T", 2, 1, 20) as u32;
        let argon2_p = num("AUTH_ARGON2_P", 1, 1, 16) as u32;
        let login_max_failures = num("AUTH_LOGIN_MAX_FAILURES", 5, 1, 1000) as u32;
        let ip_max_failures = num("AUTH_IP_MAX_FAILURES", 50, 1, 100_000) as u32;
        let login_window = Duration::from_secs(num("AUTH_LOGIN_WINDOW_SECS", 900, 1, 86400));
        let signup_per_ip_per_hour = num("AUTH_SIGNUP_PER_IP_PER_HOUR", 20, 1, 100_000) as u32;
        let authorize_per_ip = num("AUTH_AUTHORIZE_PER_IP", 30, 1, 100_000) as u32;
        let authorize_window =
            Duration::from_secs(num("AUTH_AUTHORIZE_WINDOW_SECS", 600, 1, 86400));
        let key_reload = Duration::from_secs(num("AUTH_KEY_RELOAD_SECS", 30, 1, 3600));
        let reset_per_ip_per_hour = num("AUTH_RESET_PER_IP_PER_HOUR", 10, 1, 100_000) as u32;
        let reset_ttl = Duration::from_secs(num("AUTH_RESET_TTL_SECS", 3600, 1, 86400));
        let invitation_ttl =
            Duration::from_secs(num("AUTH_INVITATION_TTL_SECS", 7 * 86400, 60, 90 * 86400));
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
                login_max_failures,
                ip_max_failures,
                login_window,
                signup_per_ip_per_hour,
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
