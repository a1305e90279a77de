fn main() -> anyhow::Result<()> {
    runtime::main::<calendar::Calendar>()
}
