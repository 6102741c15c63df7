//! The binary's commands: `serve` (default), `migrate`, `create-admin --email E`.

use crate::settings::Settings;
use crate::startup::Application;
use secrecy::ExposeSecret;
use std::io::Read;

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
/// (bounded by `http.shutdown_timeout_secs`) and returns.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Applies the embedded migrations and exits.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url =
        settings.database.url.as_ref().ok_or_else(|| anyhow::anyhow!("DATABASE_URL is required for `migrate`"))?;
    brokerage_postgres::run_migrations(url.expose_secret()).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Creates an admin (password read from standard input): the only way to the first admin.
pub async fn create_admin(settings: &Settings, email: &str) -> anyhow::Result<()> {
    let url =
        settings.database.url.as_ref().ok_or_else(|| anyhow::anyhow!("DATABASE_URL is required for `create-admin`"))?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    brokerage_postgres::run_migrations(url.expose_secret()).await?;
    crate::startup::create_admin(settings, email, password).await
}
