//! `call-sim`: plays one scripted booking call (Vapi's side, correctly signed) against a running
//! voice-webhook and prints what it answered. It asks for availability and books the first time
//! the agent offered (or `--start`); it exits non-zero, with the reason (the agent's sentence),
//! when no appointment was booked.
//!
//! ```sh
//! call-sim --base-url http://127.0.0.1:8080 --secret "$VAPI_WEBHOOK_SECRET" \
//!   --number +15550123400 --vapi-number-id <id> --service Cleaning
//! ```

#![warn(clippy::panic, clippy::as_conversions, rust_2018_idioms)] // the workspace lints to come

use clap::Parser;
use voice_webhook::clients::sim::{SimAuth, SimCall, Simulator};

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
    /// The time to book (RFC 3339, or local wall time in the clinic's zone); default: the first
    /// time the agent offers.
    #[arg(long)]
    start: Option<String>,
    #[arg(long, default_value = "Jordan Reyes")]
    patient: String,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
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
        let played = sim
            .booking_call(&call, &args.service, args.start.as_deref(), &args.patient)
            .await?;
        for (step, sent) in &played.steps {
            println!(
                "{step:<22} {} {:>5} ms  {}",
                sent.status,
                sent.elapsed.as_millis(),
                sent.answer
            );
        }
        if let Err(reason) = played.booked {
            eprintln!("call-sim: no appointment was booked: {reason}");
            return Ok(std::process::ExitCode::FAILURE);
        }
        Ok(std::process::ExitCode::SUCCESS)
    })
}
