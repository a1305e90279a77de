//! What the handlers share: the tenant-scoped database and the Google client with the orgs'
//! credentials (also the sync worker's).

use std::sync::Arc;

use tenancy::Db;

use crate::clients::google::Google;

pub struct AppState {
    pub db: Db,
    pub google: Arc<Google>,
}
