fn main() -> anyhow::Result<()> {
    servicekit::cli::main::<auth::AuthService>()
}
