//! `call-sim`: plays one scripted booking call (Vapi's side, correctly signed) against a running
//! voice-webhook and prints what it answered.
//!
//! ```sh
//! call-sim --base-url http://127.0.0.1:8080 --secret "$VAPI_WEBHOOK_SECRET" \
//!   --number +15550123400 --vapi-number-id <id> --service Cleaning --start 2026-12-03T15:00:00-05:00
//! ```

use clap::Parser;
use voice_webhook::sim::{SimAuth, SimCall, Simulator};

#[derive(Debug, Parser)]
#[command(
    name = "call-sim",
    about = "Play a scripted Vapi booking call against voice-webhook"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8082")]
    base_url: String,
    /// The webhook secret (x-vapi-secret), or the HMAC key with --hmac.
    #[arg(long)]
    secret: String,
    #[arg(long)]
    hmac: bool,
    /// The clinic's number (E.164) as configured in the dashboard.
    #[arg(long)]
    number: String,
    #[arg(long, default_value = "")]
    vapi_number_id: String,
    #[arg(long, default_value = "+15550187722")]
    caller: String,
    #[arg(long, default_value = "Cleaning")]
    service: String,
    /// The time to book (RFC 3339, or local wall time in the clinic's zone).
    #[arg(long)]
    start: String,
    #[arg(long, default_value = "Jordan Reyes")]
    patient: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let auth = if args.hmac {
            SimAuth::Hmac(args.secret.clone())
        } else {
            SimAuth::Secret(args.secret.clone())
        };
        let sim = Simulator::new(&args.base_url, auth)?;
        let call = SimCall::new(&args.vapi_number_id, &args.number, &args.caller);
        println!("call {}", call.call_id);
        let mut failed = false;
        for (step, sent) in sim
            .booking_call(&call, &args.service, &args.start, &args.patient)
            .await?
        {
            println!(
                "{step:<22} {} {:>5} ms  {}",
                sent.status,
                sent.elapsed.as_millis(),
                sent.answer
            );
            failed |= !(200..300).contains(&sent.status);
        }
        if failed {
            anyhow::bail!("a step was refused");
        }
        Ok(())
    })
}
