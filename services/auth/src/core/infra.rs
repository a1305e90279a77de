//! What can fail beneath every use case: the database, Redis, the signing keys, the revocation
//! set, or a bug. Each capability's error enum wraps it as its `Infra` variant
//! (`infra_from!` adds the `From`s that `?` needs inside a transaction).

use servicekit::db::PoolUnavailable;

#[derive(Debug, thiserror::Error)]
pub enum Infra {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Pool(#[from] PoolUnavailable),
    #[error("redis is unavailable")]
    Redis(#[source] anyhow::Error),
    #[error("the signing keys are unavailable")]
    SigningKeys(#[source] anyhow::Error),
    /// Publishing a revocation to the shared set failed.
    #[error(transparent)]
    Revocations(#[from] tenancy::AuthError),
    /// A row the use case had just read is gone (deleted concurrently).
    #[error("{0} not found")]
    Gone(&'static str),
    /// Password hashing is at capacity (its queue is full): shed, retry shortly.
    #[error("password hashing is at capacity")]
    HashingBusy,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<crate::domain::password::HashError> for Infra {
    fn from(e: crate::domain::password::HashError) -> Self {
        match e {
            crate::domain::password::HashError::Busy => Infra::HashingBusy,
            crate::domain::password::HashError::Failed(e) => Infra::Internal(e),
        }
    }
}

impl Infra {
    pub fn redis(e: impl Into<anyhow::Error>) -> Self {
        Infra::Redis(e.into())
    }
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Infra::Internal(e.into())
    }
}

/// `From<diesel::result::Error>` and `From<PoolUnavailable>` for an error enum with an
/// `Infra(Infra)` variant (what `Db::tenant_tx`/`system_tx` closures need).
macro_rules! infra_from {
    ($t:ty) => {
        impl From<diesel::result::Error> for $t {
            fn from(e: diesel::result::Error) -> Self {
                Self::Infra(e.into())
            }
        }
        impl From<servicekit::db::PoolUnavailable> for $t {
            fn from(e: servicekit::db::PoolUnavailable) -> Self {
                Self::Infra(e.into())
            }
        }
    };
}
pub(crate) use infra_from;
