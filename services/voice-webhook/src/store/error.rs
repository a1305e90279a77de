//! The one way a query can fail seen from core: the database refused or errored, or no
//! connection could be had. Core error enums wrap it as their `Store` variant.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database unavailable")]
    Pool(#[from] servicekit::db::PoolUnavailable),
}

impl StoreError {
    /// Whether the database refused a row because a unique key is taken.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Db(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// `From<diesel::result::Error>` and `From<PoolUnavailable>` for a core error enum with a
/// `Store(StoreError)` variant, so it can be the error of `Db::tenant_tx` / `system_tx`.
macro_rules! store_error_from {
    ($t:ty) => {
        impl From<diesel::result::Error> for $t {
            fn from(e: diesel::result::Error) -> Self {
                Self::Store(crate::store::error::StoreError::Db(e))
            }
        }
        impl From<servicekit::db::PoolUnavailable> for $t {
            fn from(e: servicekit::db::PoolUnavailable) -> Self {
                Self::Store(crate::store::error::StoreError::Pool(e))
            }
        }
        impl From<crate::store::error::StoreError> for $t {
            fn from(e: crate::store::error::StoreError) -> Self {
                Self::Store(e)
            }
        }
    };
}

pub(crate) use store_error_from;
