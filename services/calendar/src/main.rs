fn main() -> anyhow::Result<()> {
    servicekit::cli::main::<calendar::Calendar>()
}
