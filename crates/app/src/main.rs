//! `brokerage [serve | migrate | create-admin --email E | check-invariants] [--config FILE]`

use brokerage_app::settings::Settings;
use brokerage_app::{commands, telemetry};
use std::path::PathBuf;

/// glibc's malloc keeps freed large blocks (each argon2id hash allocates 19 MiB), so a login
/// storm left the process near 1 GB resident; mimalloc gives them back to the OS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: brokerage [serve | migrate | create-admin --email EMAIL | check-invariants] [--config FILE]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut command = None;
    let mut email = None;
    let mut config = std::env::var_os("BROKERAGE_CONFIG").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--email" => email = args.next(),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            c if command.is_none() && !c.starts_with('-') => command = Some(c.to_owned()),
            other => anyhow::bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    let settings = Settings::load(config.as_deref())?;
    telemetry::init(&settings.log);
    let result = run(command.as_deref(), email, settings).await;
    telemetry::flush_logs();
    result
}

async fn run(command: Option<&str>, email: Option<String>, settings: Settings) -> anyhow::Result<()> {
    match command.unwrap_or("serve") {
        "serve" => commands::serve(settings).await,
        "migrate" => commands::migrate(&settings).await,
        "create-admin" => {
            let email = email.ok_or_else(|| anyhow::anyhow!("create-admin needs --email\n{USAGE}"))?;
            commands::create_admin(&settings, &email).await
        }
        "check-invariants" => {
            if !commands::check_invariants(&settings).await? {
                telemetry::flush_logs();
                std::process::exit(1);
            }
            Ok(())
        }
        other => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}
