//! The auth binary: the standard process shape runs the service (serve, migrate, dlq, keys, flags).

fn main() -> anyhow::Result<()> {
    runtime::main::<auth::AuthService>()
}
