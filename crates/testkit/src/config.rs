//! Where the test infrastructure is. Defaults match `make test`'s local servers.

#[allow(clippy::disallowed_methods)] // testkit's one read of the environment
fn env(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A superuser connection to the maintenance database (creates and drops test databases).
pub fn admin_url() -> String {
    env(
        "TEST_DATABASE_ADMIN_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

pub fn redis_url() -> String {
    env("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

pub fn amqp_url() -> String {
    env("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
}

/// `postgres://<role>@<host:port of the admin url>/<database>` (local trust auth).
pub fn url_for(role: &str, database: &str) -> String {
    let admin = admin_url();
    let after_scheme = admin.split_once("://").map_or(admin.as_str(), |(_, r)| r);
    let host_and_db = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, h)| h);
    let host = host_and_db.split('/').next().unwrap_or("127.0.0.1:5432");
    format!("postgres://{role}@{host}/{database}")
}

/// `TEST_LOG=1` shows the services' (redacted) logs on stderr; otherwise they go nowhere.
pub fn show_logs() -> bool {
    env("TEST_LOG", "0") == "1"
}

/// `OPENAPI_CONFORMANCE`: `enforce` (default), `report` or `off` (see `crate::conformance`).
pub fn conformance_mode() -> String {
    env("OPENAPI_CONFORMANCE", "enforce").to_ascii_lowercase()
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else the one the test binary was built in
/// (`<target>/<profile>/deps/<binary>`), else the workspace's `target/`.
pub fn target_dir() -> std::path::PathBuf {
    let set = env("CARGO_TARGET_DIR", "");
    if !set.is_empty() {
        return std::path::PathBuf::from(set);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "deps"))
                .and_then(|deps| deps.parent()?.parent().map(std::path::Path::to_path_buf))
        })
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target")
                .to_path_buf()
        })
}
