//! A stand-in for the auth service's key publishing: an Ed25519 signing key made at test time
//! (never committed), its JWKS served over HTTP by wiremock, and helpers to mint real tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::json;
use tenancy::claims::{Aal, AmrEntry, AppMetadata, Audience, Claims, Role};
use tenancy::{OrgId, SessionId, UserId};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const ISSUER: &str = "http://voxanne.test/api/auth";
pub const AUDIENCE: &str = "authenticated";
pub const SERVICE_AUDIENCE: &str = "voxanne-internal";

pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub public: Vec<u8>,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse generated key");
        SigningKey {
            kid: kid.to_string(),
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public: pair.public_key().as_ref().to_vec(),
        }
    }

    pub fn jwk(&self) -> serde_json::Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.kid, "x": B64URL.encode(&self.public) })
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign token")
    }
}

pub struct TestAuth {
    pub server: MockServer,
    pub key: SigningKey,
}

impl TestAuth {
    /// Starts a JWKS server publishing one fresh signing key.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let key = SigningKey::generate(&format!(
            "test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [key.jwk()] })))
            .mount(&server)
            .await;
        TestAuth { server, key }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.server.uri())
    }

    /// Claims of a user of `org` with `role`, valid for 15 minutes.
    pub fn user_claims(&self, org: OrgId, role: Role) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: UserId::new_random().to_string(),
            aud: Audience::One(AUDIENCE.into()),
            iss: ISSUER.into(),
            exp: now + 900,
            iat: now,
            nbf: None,
            session_id: Some(SessionId::new_random().as_uuid()),
            aal: Some(Aal::Aal1),
            amr: vec![AmrEntry {
                method: "password".into(),
                timestamp: now,
            }],
            email: Some("user@example.test".into()),
            role: Some("authenticated".into()),
            app_metadata: AppMetadata {
                org_id: Some(org.as_uuid()),
                org_role: Some(role),
                ..AppMetadata::default()
            },
        }
    }

    pub fn service_claims(&self, name: &str) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: format!("service:{name}"),
            aud: Audience::One(SERVICE_AUDIENCE.into()),
            iss: ISSUER.into(),
            exp: now + 300,
            iat: now,
            nbf: None,
            session_id: None,
            aal: None,
            amr: vec![],
            email: None,
            role: Some("service".into()),
            app_metadata: AppMetadata::default(),
        }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        self.key.sign(claims)
    }

    /// A valid access token for a user of `org` with `role`.
    pub fn token(&self, org: OrgId, role: Role) -> String {
        self.sign(&self.user_claims(org, role))
    }

    /// A valid access token whose sign-in is `age_secs` old (step-up checks refuse it past
    /// `tenancy::extract::STEP_UP_MAX_AGE_SECS`).
    pub fn token_signed_in_ago(&self, org: OrgId, role: Role, age_secs: i64) -> String {
        let mut c = self.user_claims(org, role);
        for e in &mut c.amr {
            e.timestamp -= age_secs;
        }
        self.sign(&c)
    }

    pub fn service_token(&self, name: &str) -> String {
        self.sign(&self.service_claims(name))
    }
}
