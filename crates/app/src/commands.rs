//! The binary's commands: `serve` (default), `migrate`, `create-admin --email E`,
//! `check-invariants`.

use crate::settings::Settings;
use crate::startup::Application;
use crate::telemetry;
use secrecy::ExposeSecret;
use std::io::Read;
use std::time::Duration;

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
/// (bounded by `http.shutdown_timeout_secs`), exports the buffered traces and returns; the
/// connection pools close as the server's state is dropped.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let grace = Duration::from_secs(settings.http.shutdown_timeout_secs);
    let app = Application::build(settings).await?;
    let handle = app.handle();
    let stopping = app.shutdown_signal();
    let mut server = std::pin::pin!(app.run_until_stopped());
    let served = tokio::select! {
        served = &mut server => served,
        () = shutdown_signal() => {
            tracing::info!(grace_secs = grace.as_secs(), "shutdown signal received; finishing in-flight requests");
            // Event streams end and the execution engine stops first: an open stream would
            // otherwise hold the stop for the whole grace period.
            stopping.trigger();
            // actix closes the listeners at once and force-closes what is still running after
            // the grace period; the extra margin only guards against a stop that hangs.
            tokio::spawn(handle.stop(true));
            match tokio::time::timeout(grace + Duration::from_secs(5), &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::warn!("the server did not stop within the grace period; exiting anyway");
                    Ok(())
                }
            }
        }
    };
    tracing::info!("server stopped; pools closed; flushing traces");
    flush_traces().await;
    served?;
    Ok(())
}

/// Exports the spans still buffered, without blocking the runtime for more than a few seconds.
async fn flush_traces() {
    let flushed = tokio::time::timeout(Duration::from_secs(6), tokio::task::spawn_blocking(telemetry::shutdown)).await;
    if flushed.is_err() {
        eprintln!("traces could not be flushed within 6 s");
    }
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

/// Checks the invariants of the whole book (`LedgerStore::audit`: balanced journal entries,
/// conservation of cash and shares, balances and positions matching their ledgers, held
/// amounts matching open orders). Prints each violation; `Ok(false)` when there is any.
pub async fn check_invariants(settings: &Settings) -> anyhow::Result<bool> {
    let violations = audit(settings).await?;
    if violations.is_empty() {
        println!("invariants hold");
        return Ok(true);
    }
    for violation in &violations {
        println!("violation: {violation}");
    }
    println!("{} invariant violation(s)", violations.len());
    Ok(false)
}

/// The audit `check-invariants` prints, against `DATABASE_URL`.
pub async fn audit(settings: &Settings) -> anyhow::Result<Vec<String>> {
    use brokerage_domain::accounts::LedgerStore as _;
    let url = settings
        .database
        .url
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL is required for `check-invariants`"))?;
    let pool = brokerage_postgres::connect(&brokerage_postgres::PoolConfig {
        url: url.expose_secret().to_owned(),
        max_size: 2,
        min_idle: None,
        connection_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
    })
    .await?;
    let store = brokerage_postgres::PgStore::new(pool);
    Ok(store.audit().await?)
}
