//! What lead-scoring's handlers share (`web::Data<AppState>`): the tenant-scoped database and
//! the scoring model in use.

use std::sync::Arc;

use tenancy::Db;

use crate::domain::model::Model;

pub struct AppState {
    pub db: Db,
    pub model: Arc<Model>,
}
