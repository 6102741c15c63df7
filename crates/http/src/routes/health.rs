//! `GET /health/live` and `GET /health/ready` (no `/api/v1` prefix, no authentication).

use crate::state::ApiState;
use actix_web::{HttpResponse, web};
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long each dependency may take to answer a readiness probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health/live").route(web::get().to(live)))
        .service(web::resource("/health/ready").route(web::get().to(ready)));
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    /// Each dependency's name → `"ok"` or a short reason.
    checks: BTreeMap<&'static str, String>,
}

/// Runs every check at once, each bounded by [`CHECK_TIMEOUT`]: ready only when all pass.
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let results = join_all(state.health.iter().map(|check| async move {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        };
        if let Err(reason) = &outcome {
            tracing::warn!(check = check.name(), reason = %reason, "readiness check failed");
        }
        (check.name(), outcome)
    }))
    .await;
    let all_ok = results.iter().all(|(_, outcome)| outcome.is_ok());
    let checks =
        results.into_iter().map(|(name, outcome)| (name, outcome.err().unwrap_or_else(|| "ok".to_owned()))).collect();
    let mut res = if all_ok { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    res.json(Ready { status: if all_ok { "ok" } else { "unavailable" }, checks })
}
