fn main() -> anyhow::Result<()> {
    servicekit::cli::main::<lead_scoring::LeadScoring>()
}
