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

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = HealthLive)]
struct Live {
    status: &'static str,
}

#[utoipa::path(
    get, path = "/health/live", operation_id = "health_live", tag = "operations",
    responses((status = 200, description = "The process serves HTTP (liveness probe)", body = Live)),
)]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live { status: "ok" })
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = HealthReady)]
struct Ready {
    status: &'static str,
    /// Each dependency's name → `"ok"` or a short reason.
    checks: BTreeMap<&'static str, String>,
}

#[utoipa::path(
    get, path = "/health/ready", operation_id = "health_ready", tag = "operations",
    responses(
        (status = 200, description = "Every critical dependency answered (readiness probe); `status` is `degraded` when a non-critical one (`market_data`) did not", body = Ready),
        (status = 503, description = "A dependency failed or did not answer within 2 s; `checks` says which", body = Ready),
    ),
)]
/// Runs every check at once, each bounded by [`CHECK_TIMEOUT`]: ready only when every
/// critical check passes. A failed non-critical one (market data: stale quotes are served)
/// shows in `checks` and makes the status `degraded`, still 200.
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
        (check.name(), check.critical(), outcome)
    }))
    .await;
    let all_ok = results.iter().all(|(_, critical, outcome)| !critical || outcome.is_ok());
    let degraded = results.iter().any(|(_, _, outcome)| outcome.is_err());
    let checks = results
        .into_iter()
        .map(|(name, _, outcome)| (name, outcome.err().unwrap_or_else(|| "ok".to_owned())))
        .collect();
    let mut res = if all_ok { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    let status = match (all_ok, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    res.json(Ready { status, checks })
}
