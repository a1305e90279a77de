//! The status columns as enums: a membership is `active` or `suspended`, an MFA factor
//! `unverified` or `verified` (the migrations' CHECK constraints). Read and written as text.

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::Serialize;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = Text)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let s = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                match s.as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name)).into()),
                }
            }
        }
    };
}

text_enum!(
    /// Whether a membership counts (`suspended` ones do not).
    MembershipStatus {
        Active => "active",
        Suspended => "suspended",
    }
);

text_enum!(
    /// A factor is usable once a code verified it.
    FactorStatus {
        Unverified => "unverified",
        Verified => "verified",
    }
);
