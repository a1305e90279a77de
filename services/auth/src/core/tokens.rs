//! Minting: access tokens (ES256, `kid`, Supabase-style claims), the refresh token of a session,
//! service tokens for the `client_credentials` grant, new session rows, and publishing revoked
//! sessions to the set every service checks.

use chrono::Utc;
use jsonwebtoken::Header;
use servicekit::crypto::Sealed;
use tenancy::claims::{Aal, AmrEntry, AppMetadata, Audience, Claims, SERVICE_ROLE};
use tenancy::{OrgId, UserId};
use uuid::Uuid;

use crate::core::infra::Infra;
use crate::domain::refresh::RefreshToken;
use crate::domain::tokens::{GoTrueFactor, OrgClaim, TokenResponse, UserParts, UserView};
use crate::state::AppState;
use crate::store::accounts::{self, Membership, Org, User};
use crate::store::audit::Origin;
use crate::store::mfa;
use crate::store::sessions::Session;

pub const SESSION_KEY_PURPOSE: &str = "auth.session_key";

/// The org claim of a membership.
pub fn org_claim(m: &Membership, o: &Org) -> OrgClaim {
    OrgClaim {
        id: o.id,
        role: m.role,
        mfa_required: o.require_mfa,
    }
}

/// The parts of a stored user a `UserView` shows.
pub fn user_parts(user: &User) -> UserParts<'_> {
    UserParts {
        id: user.id,
        email: &user.email,
        display_name: user.display_name.clone(),
        email_verified_at: user.email_verified_at,
        has_password: user.password_hash.is_some(),
        user_metadata: user.user_metadata.clone(),
        created_at: user.created_at,
        updated_at: user.updated_at,
    }
}

/// A user's factors as GoTrue lists them in `user.factors`.
pub fn gotrue_factors(factors: &[mfa::Factor]) -> Vec<GoTrueFactor> {
    factors
        .iter()
        .map(|f| GoTrueFactor {
            id: f.id,
            friendly_name: f.friendly_name.clone().unwrap_or_default(),
            factor_type: "totp",
            status: f.status.as_str().to_string(),
            phone: "",
            created_at: f.created_at,
            updated_at: f.verified_at.unwrap_or(f.created_at),
        })
        .collect()
}

fn parse_aal(s: &str) -> Aal {
    if s == "aal2" { Aal::Aal2 } else { Aal::Aal1 }
}

/// `now + ttl` in seconds, saturating.
fn expiry(now: i64, ttl: u64) -> i64 {
    now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX))
}

impl AppState {
    /// The audience of user tokens (GoTrue's `aud`, normally `authenticated`).
    pub fn audience(&self) -> String {
        self.jwt
            .audience
            .first()
            .cloned()
            .unwrap_or_else(|| "authenticated".into())
    }

    async fn sign(&self, claims: &Claims) -> Result<String, Infra> {
        let signing = self.keys.signing().await.map_err(Infra::SigningKeys)?;
        let mut header = Header::new(signing.alg);
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &signing.key).map_err(Infra::internal)
    }

    /// The session's refresh key, decrypted (bound to the user as associated data).
    pub fn session_key(&self, s: &Session) -> Result<Vec<u8>, Infra> {
        self.ring
            .decrypt(
                s.user_id.0,
                SESSION_KEY_PURPOSE,
                &Sealed {
                    key_id: s.hmac_key_id.clone(),
                    ciphertext: s.hmac_key.clone(),
                },
            )
            .map_err(Infra::internal)
    }

    /// An access token for `user` in `session`, acting in `org` with its role, plus the
    /// session's refresh token at `counter`.
    pub async fn token_pair(
        &self,
        user: &User,
        session: &Session,
        counter: i64,
        org: Option<OrgClaim>,
    ) -> Result<TokenResponse, Infra> {
        let now = Utc::now().timestamp();
        let ttl = self.settings.access_ttl.as_secs();
        let amr: Vec<AmrEntry> = serde_json::from_value(session.amr.clone()).unwrap_or_default();
        // A user who enrolled a factor must reach aal2 like a member of an org that requires
        // MFA: the same claim makes every service's `Tenant` refuse the aal1 token.
        let uid = user.id;
        let factors = self
            .db
            .system_tx(|c| Box::pin(async move { Ok::<_, Infra>(mfa::factors_of(c, uid).await?) }))
            .await?;
        let enrolled = factors
            .iter()
            .any(|f| f.status == crate::store::status::FactorStatus::Verified);
        let claims = Claims {
            sub: user.id.to_string(),
            aud: Audience::One(self.audience()),
            iss: self.jwt.issuer.clone(),
            exp: expiry(now, ttl),
            iat: now,
            nbf: None,
            session_id: Some(session.id),
            aal: Some(parse_aal(&session.aal)),
            amr,
            email: Some(user.email.clone()),
            role: Some("authenticated".into()),
            app_metadata: AppMetadata {
                org_id: org.map(|o| o.id.0),
                org_role: org.map(|o| o.role),
                mfa_required: enrolled || org.is_some_and(|o| o.mfa_required),
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
            user: Some(UserView::of(
                user_parts(user),
                &self.audience(),
                org.map(|o| (o.id, o.role)),
                gotrue_factors(&factors),
            )),
        })
    }

    /// A service token: `sub: service:<name>`, `role: service`, the internal audience.
    pub async fn service_token(&self, name: &str) -> Result<TokenResponse, Infra> {
        let now = Utc::now().timestamp();
        let ttl = self.settings.service_token_ttl.as_secs();
        let claims = Claims {
            sub: format!("service:{name}"),
            aud: Audience::One(self.jwt.service_audience.clone()),
            iss: self.jwt.issuer.clone(),
            exp: expiry(now, ttl),
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
        user: UserId,
        org: Option<OrgId>,
        method: &str,
        origin: &Origin,
        lifetime_secs: Option<i32>,
    ) -> Result<Session, Infra> {
        let key: [u8; 32] = rand::random();
        let sealed = self
            .ring
            .encrypt(user.0, SESSION_KEY_PURPOSE, &key)
            .map_err(Infra::internal)?;
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
    pub async fn publish_revocations(&self, ids: &[Uuid]) -> Result<(), Infra> {
        // An access token lives `access_ttl`; the mark outlives it by the verifier's leeway.
        let ttl = self.mark_ttl();
        for id in ids {
            self.revocations.revoke((*id).into(), ttl).await?;
        }
        Ok(())
    }

    /// A fresh access token for an existing session (after its aal changed), with the session's
    /// current refresh token; the org and role are read again from the membership.
    pub async fn session_pair(&self, session: &Session) -> Result<TokenResponse, Infra> {
        let uid = session.user_id;
        let (user, memberships) = crate::store::user_tx(&self.pool, uid, |c| {
            Box::pin(async move {
                let user = accounts::user_by_id(c, uid)
                    .await?
                    .ok_or(Infra::Gone("user"))?;
                let ms = accounts::memberships_of(c, uid).await?;
                Ok::<_, Infra>((user, ms))
            })
        })
        .await?;
        let org = session
            .org_id
            .and_then(|id| memberships.iter().find(|(m, _)| m.org_id == id))
            .map(|(m, o)| org_claim(m, o));
        self.token_pair(&user, session, session.refresh_counter, org)
            .await
    }
}
