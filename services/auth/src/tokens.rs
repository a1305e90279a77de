//! Issuing tokens: access tokens (EdDSA, `kid`, Supabase-style claims), refresh tokens of a
//! session, service tokens for the `client_credentials` grant, and the token response.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use servicekit::ApiError;
use servicekit::crypto::Sealed;
use tenancy::claims::{Aal, AmrEntry, AppMetadata, Audience, Claims, Role, SERVICE_ROLE};
use uuid::Uuid;

use crate::domain::refresh::RefreshToken;
use crate::state::AppState;
use crate::store::accounts::User;
use crate::store::sessions::Session;

pub const SESSION_KEY_PURPOSE: &str = "auth.session_key";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
    pub org_id: Option<Uuid>,
    pub org_role: Option<Role>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
}

/// The org an access token acts in.
#[derive(Debug, Clone, Copy)]
pub struct OrgClaim {
    pub id: Uuid,
    pub role: Role,
    pub mfa_required: bool,
}

impl OrgClaim {
    pub fn of(
        m: &crate::store::accounts::Membership,
        o: &crate::store::accounts::Org,
    ) -> Option<Self> {
        parse_role(&m.role).map(|role| OrgClaim {
            id: o.id,
            role,
            mfa_required: o.require_mfa,
        })
    }
}

fn parse_aal(s: &str) -> Aal {
    if s == "aal2" { Aal::Aal2 } else { Aal::Aal1 }
}

pub fn parse_role(s: &str) -> Option<Role> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

impl AppState {
    async fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let signing = self
            .keys
            .signing()
            .await
            .map_err(|e| ApiError::unavailable("signing_keys_unavailable", e))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &signing.key).map_err(ApiError::internal)
    }

    /// The session's refresh key, decrypted (bound to the user as associated data).
    pub fn session_key(&self, s: &Session) -> Result<Vec<u8>, ApiError> {
        self.ring
            .decrypt(
                s.user_id,
                SESSION_KEY_PURPOSE,
                &Sealed {
                    key_id: s.hmac_key_id.clone(),
                    ciphertext: s.hmac_key.clone(),
                },
            )
            .map_err(ApiError::internal)
    }

    /// An access token for `user` in `session`, acting in `org` with `role`, plus the session's
    /// refresh token at `counter`.
    pub async fn token_pair(
        &self,
        user: &User,
        session: &Session,
        counter: i64,
        org: Option<OrgClaim>,
    ) -> Result<TokenResponse, ApiError> {
        let now = Utc::now().timestamp();
        let ttl = self.settings.access_ttl.as_secs();
        let amr: Vec<AmrEntry> = serde_json::from_value(session.amr.clone()).unwrap_or_default();
        let claims = Claims {
            sub: user.id.to_string(),
            aud: Audience::One(
                self.jwt
                    .audience
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "authenticated".into()),
            ),
            iss: self.jwt.issuer.clone(),
            exp: now + ttl as i64,
            iat: now,
            nbf: None,
            session_id: Some(session.id),
            aal: Some(parse_aal(&session.aal)),
            amr,
            email: Some(user.email.clone()),
            role: Some("authenticated".into()),
            app_metadata: AppMetadata {
                org_id: org.map(|o| o.id),
                org_role: org.map(|o| o.role),
                mfa_required: org.is_some_and(|o| o.mfa_required),
            },
        };
        let access_token = self.sign(&claims).await?;
        let key = self.session_key(session)?;
        let refresh = RefreshToken {
            session_id: session.id,
            counter,
        }
        .encode(&key);
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: ttl,
            expires_at: claims.exp,
            refresh_token: Some(refresh),
            user: Some(UserView {
                id: user.id,
                email: user.email.clone(),
                display_name: user.display_name.clone(),
                email_verified: user.email_verified_at.is_some(),
                org_id: org.map(|o| o.id),
                org_role: org.map(|o| o.role),
                created_at: user.created_at,
            }),
        })
    }

    /// A service token: `sub: service:<name>`, `role: service`, the internal audience.
    pub async fn service_token(&self, name: &str) -> Result<TokenResponse, ApiError> {
        let now = Utc::now().timestamp();
        let ttl = self.settings.service_token_ttl.as_secs();
        let claims = Claims {
            sub: format!("service:{name}"),
            aud: Audience::One(self.jwt.service_audience.clone()),
            iss: self.jwt.issuer.clone(),
            exp: now + ttl as i64,
            iat: now,
            nbf: None,
            session_id: None,
            aal: None,
            amr: Vec::new(),
            email: None,
            role: Some(SERVICE_ROLE.into()),
            app_metadata: AppMetadata::default(),
        };
        Ok(TokenResponse {
            access_token: self.sign(&claims).await?,
            token_type: "bearer",
            expires_in: ttl,
            expires_at: claims.exp,
            refresh_token: None,
            user: None,
        })
    }

    /// A fresh session row for `user` (its refresh key sealed with the KeyRing).
    pub fn new_session(
        &self,
        user: Uuid,
        org: Option<Uuid>,
        method: &str,
        origin: &crate::store::audit::Origin,
        lifetime_secs: Option<i32>,
    ) -> Result<Session, ApiError> {
        let key: [u8; 32] = rand::random();
        let sealed = self
            .ring
            .encrypt(user, SESSION_KEY_PURPOSE, &key)
            .map_err(ApiError::internal)?;
        let now = Utc::now();
        let lifetime = lifetime_secs
            .map(|s| chrono::Duration::seconds(s.into()))
            .unwrap_or_else(|| {
                chrono::Duration::from_std(self.settings.session_lifetime)
                    .unwrap_or(chrono::Duration::days(30))
            });
        Ok(Session {
            id: Uuid::new_v4(),
            user_id: user,
            org_id: org,
            aal: "aal1".into(),
            amr: serde_json::json!([{ "method": method, "timestamp": now.timestamp() }]),
            user_agent: origin.user_agent.clone(),
            ip: origin.ip.clone(),
            refresh_counter: 0,
            hmac_key: sealed.ciphertext,
            hmac_key_id: sealed.key_id,
            created_at: now,
            refreshed_at: now,
            not_after: Some(now + lifetime),
            revoked_at: None,
            revoked_reason: None,
        })
    }

    /// Puts revoked sessions into the Redis set every service checks.
    pub async fn publish_revocations(&self, ids: &[Uuid]) -> Result<(), ApiError> {
        // An access token lives `access_ttl`; the mark outlives it by the verifier's leeway.
        let ttl = self.settings.access_ttl + std::time::Duration::from_secs(120);
        for id in ids {
            self.revocations.revoke((*id).into(), ttl).await?;
        }
        Ok(())
    }
}

impl AppState {
    /// A fresh access token for an existing session (after its aal changed), with the session's
    /// current refresh token; the org and role are read again from the membership.
    pub async fn session_pair(&self, session: &Session) -> Result<TokenResponse, ApiError> {
        let uid = session.user_id;
        let (user, memberships) = crate::store::user_tx(&self.pool, uid, |c| {
            Box::pin(async move {
                let user = crate::store::accounts::user_by_id(c, uid)
                    .await?
                    .ok_or_else(|| ApiError::not_found("user"))?;
                let ms = crate::store::accounts::memberships_of(c, uid).await?;
                Ok::<_, ApiError>((user, ms))
            })
        })
        .await?;
        let org = session
            .org_id
            .and_then(|id| memberships.iter().find(|(m, _)| m.org_id == id))
            .and_then(|(m, o)| OrgClaim::of(m, o));
        self.token_pair(&user, session, session.refresh_counter, org)
            .await
    }
}
