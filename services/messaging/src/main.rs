fn main() -> anyhow::Result<()> {
    runtime::main::<messaging::Messaging>()
}
