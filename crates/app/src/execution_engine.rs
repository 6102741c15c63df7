//! The execution engine's background task: every `trading.engine_interval_ms`, one pass of
//! the domain's [`ExecutionEngine::run_once`] over the open book. Every instance runs it; the
//! store's `execute` keeps two instances from booking the same change. A failed pass (or even
//! a panicking one) is logged and counted, and the next tick tries again: the process never
//! goes down for it. The task stops at the server's shutdown signal, after the pass in
//! progress has finished (a pass is never cut in the middle).

use brokerage_domain::orders::ExecutionEngine;
use brokerage_http::events::Shutdown;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The task, not yet started.
pub struct EngineWorker {
    engine: ExecutionEngine,
    interval: Duration,
}

/// A running task.
pub struct RunningEngine {
    shutdown: Shutdown,
    task: JoinHandle<()>,
}

impl EngineWorker {
    /// `None` when `interval_ms` is 0 (the engine is off on this instance).
    pub fn new(engine: ExecutionEngine, interval_ms: u64) -> Option<Self> {
        if interval_ms == 0 {
            tracing::warn!("trading.engine_interval_ms is 0: the execution engine is off on this instance");
            return None;
        }
        Some(Self { engine, interval: Duration::from_millis(interval_ms.max(10)) })
    }

    pub fn spawn(self, shutdown: Shutdown) -> RunningEngine {
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.triggered() => break,
                    _ = ticks.tick() => pass(&self.engine).await,
                }
            }
            tracing::info!("execution engine stopped");
        });
        RunningEngine { shutdown, task }
    }
}

impl RunningEngine {
    /// Signals the stop (if nobody did) and waits for the pass in progress.
    pub async fn stop(self) {
        self.shutdown.trigger();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "execution engine task failed");
        }
    }
}

/// One pass, in a task of its own so that even a panic only costs this pass.
async fn pass(engine: &ExecutionEngine) {
    let engine = engine.clone();
    match tokio::spawn(async move { engine.run_once().await }).await {
        Ok(Ok(report)) => brokerage_http::metrics::engine_pass(Some(&report)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "execution engine pass failed; retrying at the next tick");
            brokerage_http::metrics::engine_pass(None);
        }
        Err(e) => {
            tracing::error!(error = %e, "execution engine pass panicked; retrying at the next tick");
            brokerage_http::metrics::engine_pass(None);
        }
    }
}
