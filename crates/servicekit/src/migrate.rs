//! Applies a service's embedded migrations as its schema owner, under a Postgres advisory lock so
//! replicas starting together cannot race (diesel_migrations takes no lock of its own).

use diesel::RunQueryDsl as _;
use diesel::migration::{Migration, MigrationSource};
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _};
use secrecy::{ExposeSecret, SecretString};

/// Runs the pending migrations of each source, in order (shared bus tables first, then the
/// service's own); returns the versions applied (empty when up to date).
pub async fn run(
    owner_url: &SecretString,
    lock_name: &str,
    sources: &'static [&'static EmbeddedMigrations],
) -> anyhow::Result<Vec<String>> {
    let url = owner_url.expose_secret().to_string();
    let lock = format!("voxanne-migrations:{lock_name}");
    // The harness is synchronous: run it on a blocking thread so it also works under actix-rt.
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut c =
            <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&url)?;
        diesel::sql_query("SELECT pg_advisory_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(&lock)
            .execute(&mut c)?;
        let mut done = Ok(Vec::new());
        for source in sources {
            match c.run_pending_migrations(Embedded(source)) {
                Ok(applied) => {
                    if let Ok(all) = done.as_mut() {
                        all.extend(applied.iter().map(ToString::to_string));
                    }
                }
                Err(e) => {
                    done = Err(e);
                    break;
                }
            }
        }
        diesel::sql_query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(&lock)
            .execute(&mut c)?;
        done.map_err(|e| anyhow::anyhow!("migration failed: {e}"))
    })
    .await?
}

/// `EmbeddedMigrations` is neither `Clone` nor a source by reference; this borrows a `'static` one.
struct Embedded(&'static EmbeddedMigrations);

impl MigrationSource<Pg> for Embedded {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
        <EmbeddedMigrations as MigrationSource<Pg>>::migrations(self.0)
    }
}
