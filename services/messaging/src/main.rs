fn main() -> anyhow::Result<()> {
    servicekit::cli::main::<messaging::Messaging>()
}
