fn main() -> anyhow::Result<()> {
    runtime::main::<lead_scoring::LeadScoring>()
}
