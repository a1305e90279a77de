//! Test databases: per service, a template is migrated once per test process; each test gets a
//! clone (`CREATE DATABASE … TEMPLATE …`) that is dropped when the `TestDb` is dropped. Databases
//! left by dead test processes (name carries the pid) are swept when the first template is built.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::EmbeddedMigrations;
use secrecy::SecretString;
use servicekit::ServiceInfo;
use tokio::sync::OnceCell;

use crate::config::{admin_url, url_for};

const ROLES_SQL: &str = include_str!("../../../deploy/postgres/roles.sql");
const SCHEMAS_SQL: &str = include_str!("../../../deploy/postgres/schemas.sql");

type Templates = Mutex<HashMap<String, Arc<OnceCell<String>>>>;
static TEMPLATES: LazyLock<Templates> = LazyLock::new(Default::default);
static SWEPT: OnceCell<()> = OnceCell::const_new();
static CLONE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    pub name: String,
    /// The schema of the (first) service this database was made for.
    pub schema: &'static str,
}

impl TestDb {
    /// A fresh database with `service`'s migrations applied.
    pub async fn new(
        service: ServiceInfo,
        migrations: &'static [&'static EmbeddedMigrations],
    ) -> anyhow::Result<Self> {
        Self::for_services(&[(service, migrations)]).await
    }

    /// A fresh database with the migrations of several services applied (each as its owner).
    pub async fn for_services(
        services: &[(ServiceInfo, &'static [&'static EmbeddedMigrations])],
    ) -> anyhow::Result<Self> {
        let first = services
            .first()
            .ok_or_else(|| anyhow::anyhow!("no service given"))?
            .0;
        let key: String = services
            .iter()
            .map(|(s, _)| s.schema)
            .collect::<Vec<_>>()
            .join("_");
        let template = template_for(key.clone(), services).await?;
        let name = format!(
            "vxt_{}_{}_{}",
            std::process::id(),
            key,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        {
            // Postgres refuses a clone while another session uses the template; serialize ours.
            let _g = CLONE_LOCK.lock().await;
            let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await?;
        }
        // Per-database role settings (search_path) are not copied by CREATE DATABASE.
        let mut conn = AsyncPgConnection::establish(&url_for("postgres", &name)).await?;
        conn.batch_execute(SCHEMAS_SQL).await?;
        Ok(TestDb {
            name,
            schema: first.schema,
        })
    }

    /// The service's runtime login (`svc_<schema>`): no superuser, no BYPASSRLS.
    pub fn service_url(&self) -> String {
        url_for(&format!("svc_{}", self.schema), &self.name)
    }

    /// The schema owner (migrations only).
    pub fn owner_url(&self) -> String {
        url_for(&format!("{}_owner", self.schema), &self.name)
    }

    /// Any role of this database (e.g. `svc_leads`).
    pub fn url_as(&self, role: &str) -> String {
        url_for(role, &self.name)
    }

    /// A superuser connection to this database (for test setup and catalog checks only).
    pub fn admin_url(&self) -> String {
        url_for("postgres", &self.name)
    }

    pub async fn service_conn(&self) -> anyhow::Result<AsyncPgConnection> {
        Ok(AsyncPgConnection::establish(&self.service_url()).await?)
    }

    pub async fn admin_conn(&self) -> anyhow::Result<AsyncPgConnection> {
        Ok(AsyncPgConnection::establish(&self.admin_url()).await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let what = format!("database {name}");
        crate::cleanup_bounded(
            &what,
            std::time::Duration::from_secs(30),
            move || async move {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            },
        );
    }
}

async fn template_for(
    key: String,
    services: &[(ServiceInfo, &'static [&'static EmbeddedMigrations])],
) -> anyhow::Result<String> {
    let cell = {
        let mut map = TEMPLATES
            .lock()
            .map_err(|_| anyhow::anyhow!("template registry poisoned"))?;
        map.entry(key.clone()).or_default().clone()
    };
    cell.get_or_try_init(|| build_template(key, services))
        .await
        .cloned()
}

async fn build_template(
    key: String,
    services: &[(ServiceInfo, &'static [&'static EmbeddedMigrations])],
) -> anyhow::Result<String> {
    SWEPT.get_or_init(sweep_leftovers).await;
    let name = format!("vxt_{}_tpl_{}", std::process::id(), key);
    let mut admin = AsyncPgConnection::establish(&admin_url()).await?;
    admin.batch_execute(ROLES_SQL).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    {
        let mut tpl = AsyncPgConnection::establish(&url_for("postgres", &name)).await?;
        tpl.batch_execute(SCHEMAS_SQL).await?;
    }
    for (service, migrations) in services {
        let owner = SecretString::from(url_for(&format!("{}_owner", service.schema), &name));
        servicekit::migrate::run(&owner, service.schema, migrations).await?;
    }
    Ok(name)
}

#[derive(diesel::QueryableByName)]
struct DbName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

/// Drops `vxt_<pid>_…` databases whose process is gone (killed runs never reach their Drop).
async fn sweep_leftovers() {
    let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await else {
        return;
    };
    let Ok(rows) =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'vxt\\_%'")
            .load::<DbName>(&mut admin)
            .await
    else {
        return;
    };
    for row in rows {
        let pid = row
            .datname
            .split('_')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    row.datname
                ))
                .await;
        }
    }
}
