//! Access-token claims in Supabase's layout (ARCHITECTURE §4), and org roles.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Roles inside an org, from most to least privileged.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Staff,
    Viewer,
}

impl Role {
    /// The lowercase name (as in tokens and in `role` text columns).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Viewer => "viewer",
        }
    }

    /// The role a lowercase name stands for.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Owner => 4,
            Role::Admin => 3,
            Role::Staff => 2,
            Role::Viewer => 1,
        }
    }

    /// True when this role has at least the privileges of `required`.
    pub fn at_least(self, required: Role) -> bool {
        self.rank() >= required.rank()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// A `role` text column reads and writes as the enum; an unknown name is a read error.
impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for Role {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
            self.as_str(),
            out,
        )
    }
}

impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for Role {
    fn from_sql(
        bytes: <diesel::pg::Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> diesel::deserialize::Result<Self> {
        let s = <String as diesel::deserialize::FromSql<
            diesel::sql_types::Text,
            diesel::pg::Pg,
        >>::from_sql(bytes)?;
        Role::parse(&s).ok_or_else(|| format!("unknown role {s:?}").into())
    }
}

/// Authenticator assurance level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    Aal1,
    Aal2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmrEntry {
    pub method: String,
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_role: Option<Role>,
    /// The org requires MFA, or the user enrolled a factor: tenant endpoints refuse `aal1`
    /// tokens with 403 `mfa_required`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: Audience,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aal: Option<Aal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<AmrEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `authenticated` for users, `service` for service tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub app_metadata: AppMetadata,
}

pub const SERVICE_ROLE: &str = "service";
