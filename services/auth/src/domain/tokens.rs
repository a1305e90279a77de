//! What a token grant answers (OAuth2 token response with GoTrue's `user`: a Supabase `Session`),
//! the user as GoTrue answers it (plus our own fields, additively; ADR 0018), and the org an
//! access token acts in.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenancy::{OrgId, Role, UserId};
use uuid::Uuid;

/// GoTrue's `app_metadata`: the sign-in provider, plus our org claim (as in the access token).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppMetadataView {
    /// `email`.
    pub provider: &'static str,
    pub providers: Vec<&'static str>,
    #[schema(value_type = Option<Uuid>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<OrgId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_role: Option<Role>,
}

/// GoTrue's identity object (the email identity of a password account).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentityView {
    pub identity_id: Uuid,
    /// The provider's subject: the user id for `email`.
    pub id: String,
    pub user_id: Uuid,
    #[schema(value_type = Object)]
    pub identity_data: serde_json::Value,
    pub provider: &'static str,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// GoTrue's factor object, as `user.factors` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GoTrueFactor {
    pub id: Uuid,
    /// `""` when the factor has no name.
    pub friendly_name: String,
    /// `totp`.
    pub factor_type: &'static str,
    /// `verified` or `unverified`.
    pub status: String,
    /// `""`: TOTP factors have no phone.
    pub phone: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user as GoTrue answers it (`id, aud, role, email, phone, app_metadata, user_metadata,
/// identities, factors, created_at, updated_at, is_anonymous`, confirmation times when set),
/// plus our own `display_name`, `email_verified`, `org_id`, `org_role`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    #[schema(value_type = Uuid)]
    pub id: UserId,
    /// `authenticated`.
    pub aud: String,
    /// `authenticated`.
    pub role: &'static str,
    pub email: String,
    /// `""`: phone sign-in is not offered.
    pub phone: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_confirmed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub app_metadata: AppMetadataView,
    #[schema(value_type = Object)]
    pub user_metadata: serde_json::Value,
    pub identities: Vec<IdentityView>,
    /// The user's MFA factors; absent when there are none (GoTrue's `omitempty`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<Vec<GoTrueFactor>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub is_anonymous: bool,
    pub display_name: Option<String>,
    pub email_verified: bool,
    #[schema(value_type = Option<Uuid>)]
    pub org_id: Option<OrgId>,
    pub org_role: Option<Role>,
}

/// The parts of a stored user a `UserView` shows.
pub struct UserParts<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub display_name: Option<String>,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub has_password: bool,
    pub user_metadata: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    /// The GoTrue user (with our additions) acting in `org`, with its `factors`.
    pub fn of(
        u: UserParts<'_>,
        aud: &str,
        org: Option<(OrgId, Role)>,
        factors: Vec<GoTrueFactor>,
    ) -> Self {
        let identities = if u.has_password {
            vec![IdentityView {
                identity_id: u.id.0,
                id: u.id.to_string(),
                user_id: u.id.0,
                identity_data: serde_json::json!({
                    "sub": u.id.to_string(),
                    "email": u.email,
                    "email_verified": u.email_verified_at.is_some(),
                }),
                provider: "email",
                email: u.email.to_string(),
                created_at: u.created_at,
                updated_at: u.updated_at,
            }]
        } else {
            Vec::new()
        };
        UserView {
            id: u.id,
            aud: aud.to_string(),
            role: "authenticated",
            email: u.email.to_string(),
            phone: "",
            email_confirmed_at: u.email_verified_at,
            confirmed_at: u.email_verified_at,
            confirmation_sent_at: None,
            app_metadata: AppMetadataView {
                provider: "email",
                providers: vec!["email"],
                org_id: org.map(|o| o.0),
                org_role: org.map(|o| o.1),
            },
            user_metadata: u.user_metadata,
            identities,
            factors: if factors.is_empty() {
                None
            } else {
                Some(factors)
            },
            created_at: u.created_at,
            updated_at: u.updated_at,
            is_anonymous: false,
            display_name: u.display_name,
            email_verified: u.email_verified_at.is_some(),
            org_id: org.map(|o| o.0),
            org_role: org.map(|o| o.1),
        }
    }
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
    pub id: OrgId,
    pub role: Role,
    pub mfa_required: bool,
}
