//! Wiring: picks the adapters the settings ask for, builds the services and the HTTP server.
//! `Application::build` binds the port first, so tests can ask for port 0 and read it back.

use crate::settings::Settings;
use brokerage_domain::accounts::{AccountService, AccountStore, LedgerStore};
use brokerage_domain::api_keys::{ApiKeyPorts, ApiKeyService, ApiKeyStore, NonceStore};
use brokerage_domain::crypto::{SecretCipher, TokenDigests};
use brokerage_domain::idempotency::{IdempotencyPolicy, IdempotencyService, IdempotencyStore};
use brokerage_domain::limits::RateLimiter;
use brokerage_domain::market::{AssetStore, QuoteProvider};
use brokerage_domain::orders::{ExecutionEngine, ExecutionStore, OrderService, OrderStore};
use brokerage_domain::positions::{PositionStore, PositionValuer};
use brokerage_domain::system::{SystemClock, UuidV7Generator};
use brokerage_domain::users::{
    AuthPorts, AuthService, Email, LoginLimit, Password, Role, SessionStore, TwoFactorStore, UserChanges, UserStore,
};
use brokerage_domain::{Clock, HealthCheck, IdGenerator};
use brokerage_http::{ApiState, HttpConfig};
use brokerage_security::{AesGcmCipher, Argon2Hasher, CipherKeys, HashingConfig, JwtConfig, JwtIssuer, JwtKey};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub use actix_web::dev::ServerHandle;

/// The storage ports, from one adapter family.
struct Stores {
    users: Arc<dyn UserStore>,
    accounts: Arc<dyn AccountStore>,
    ledger: Arc<dyn LedgerStore>,
    positions: Arc<dyn PositionStore>,
    orders: Arc<dyn OrderStore>,
    two_factor: Arc<dyn TwoFactorStore>,
    api_keys: Arc<dyn ApiKeyStore>,
    assets: Arc<dyn AssetStore>,
    /// Outgoing webhooks: endpoints, cursors, deliveries.
    webhooks: Arc<dyn brokerage_domain::webhooks::WebhookStore>,
    /// The trade-update outbox the webhook dispatcher reads.
    trade_events: Arc<dyn brokerage_domain::orders::EventStore>,
    /// The execution engine's view of the open book.
    execution: Arc<dyn ExecutionStore>,
    health: Vec<Arc<dyn HealthCheck>>,
    /// Pool gauges sampled by `/metrics`.
    gauges: Vec<brokerage_http::GaugeProbe>,
    /// The PostgreSQL pools, whose lanes the HTTP workers claim as they start.
    pg_pools: Option<brokerage_postgres::PgPools>,
}

impl Stores {
    fn memory() -> Self {
        let m = brokerage_memory::MemoryStore::new();
        Self {
            users: Arc::new(m.clone()),
            accounts: Arc::new(m.clone()),
            ledger: Arc::new(m.clone()),
            positions: Arc::new(m.clone()),
            orders: Arc::new(m.clone()),
            two_factor: Arc::new(m.clone()),
            assets: Arc::new(brokerage_memory::MemoryAssets::seeded()),
            webhooks: Arc::new(brokerage_memory::MemoryWebhooks::new()),
            trade_events: Arc::new(m.clone()),
            execution: Arc::new(m.clone()),
            api_keys: Arc::new(m),
            health: Vec::new(),
            gauges: Vec::new(),
            pg_pools: None,
        }
    }

    async fn postgres(settings: &Settings, url: &SecretString) -> anyhow::Result<Self> {
        brokerage_postgres::run_migrations(url.expose_secret()).await?;
        let config = brokerage_postgres::PoolConfig {
            url: url.expose_secret().to_owned(),
            max_size: settings.database.max_connections,
            min_idle: settings.database.min_idle,
            connection_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
        };
        // A pool per HTTP worker thread and one for the background tasks (`lanes.rs`).
        let pools = brokerage_postgres::connect_lanes(&config, settings.http_workers()).await?;
        let gauges = crate::operations::pool_gauges("postgres", settings.database.max_connections, {
            let pools = pools.clone();
            move || pools.state()
        });
        let pg = brokerage_postgres::PgStore::with_lanes(pools.clone());
        Ok(Self {
            users: Arc::new(pg.clone()),
            accounts: Arc::new(pg.clone()),
            ledger: Arc::new(pg.clone()),
            positions: Arc::new(pg.clone()),
            orders: Arc::new(pg.clone()),
            two_factor: Arc::new(pg.clone()),
            api_keys: Arc::new(pg.clone()),
            assets: Arc::new(pg.clone()),
            webhooks: Arc::new(pg.clone()),
            trade_events: Arc::new(pg.clone()),
            execution: Arc::new(pg.clone()),
            health: vec![Arc::new(pg)],
            gauges,
            pg_pools: Some(pools),
        })
    }
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    users: Arc<dyn UserStore>,
    /// The admin listener's port and server, when `http.admin_port` is set.
    admin: Option<(u16, actix_web::dev::Server)>,
    /// Started by `run_until_stopped`, stopped when the server has stopped.
    webhook_worker: Option<crate::webhook_dispatcher::WebhookWorker>,
    /// The execution engine's task (none when `trading.engine_interval_ms` is 0), started by
    /// `run_until_stopped`.
    engine_worker: Option<crate::execution_engine::EngineWorker>,
    /// Triggered when the server begins to stop: event streams end, the engine stops.
    shutdown: brokerage_http::events::Shutdown,
    /// The ledger, for `check-invariants`-style audits (tests, tooling).
    ledger: Arc<dyn LedgerStore>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let mut stores = match &settings.database.url {
            Some(url) => Stores::postgres(&settings, url).await?,
            None => {
                demo_banner();
                Stores::memory()
            }
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        let mut redis_pool = None;
        // Sessions and nonces must be shared by every instance: Redis whenever a database is
        // configured.
        let (sessions, nonces, limiter): (Arc<dyn SessionStore>, Arc<dyn NonceStore>, Arc<dyn RateLimiter>) =
            match &settings.redis.url {
                Some(url) => {
                    let pool = brokerage_redis::connect(&brokerage_redis::RedisConfig {
                        url: url.expose_secret().to_owned(),
                        max_size: settings.redis.max_connections,
                        connection_timeout: Duration::from_millis(settings.redis.connect_timeout_ms),
                    })
                    .await?;
                    stores.health.push(Arc::new(brokerage_redis::RedisHealth::new(pool.clone())));
                    redis_pool = Some(pool.clone());
                    (
                        redis_sessions(&settings, &pool, url.expose_secret())?,
                        Arc::new(brokerage_redis::RedisNonces::new(pool.clone())),
                        Arc::new(brokerage_redis::RedisRateLimiter::new(pool)),
                    )
                }
                None if settings.is_demo() => (
                    Arc::new(brokerage_memory::MemorySessions::new(clock.clone())),
                    Arc::new(brokerage_memory::MemoryNonces::new(clock.clone())),
                    Arc::new(brokerage_memory::MemoryRateLimiter::new(clock.clone())),
                ),
                None => anyhow::bail!(
                    "REDIS_URL is required when DATABASE_URL is set (sessions are shared by every instance)"
                ),
            };
        stores.assets = Arc::new(crate::asset_cache::CachedAssets::new(
            stores.assets,
            clock.clone(),
            Duration::from_millis(settings.market_data.asset_cache_ms),
        ));
        // The asset list, then (for a real provider) the Redis quote cache and the breaker.
        let market = crate::market_data::build(&settings, redis_pool.as_ref(), clock.clone(), stores.assets.clone())?;
        stores.health.extend(market.health);
        stores.gauges.extend(market.gauges);
        let quotes: Arc<dyn QuoteProvider> = Arc::new(crate::operations::TracedQuotes(market.quotes));
        let checked_quotes: Arc<dyn QuoteProvider> = Arc::new(crate::operations::TracedQuotes(market.unlisted));
        let mut ops = crate::operations::ops(&settings, redis_pool.as_ref(), clock.clone(), stores.gauges);
        let hasher = password_hasher(&settings)?;
        let tokens = token_issuer(&settings)?;

        let cipher: Arc<dyn SecretCipher> = Arc::new(secret_cipher(&settings)?);
        ops.idempotency =
            Some(idempotency(&settings, redis_pool.as_ref(), clock.clone(), cipher.clone(), ids.clone())?);
        let digests: Arc<dyn TokenDigests> = Arc::new(brokerage_security::Digests);
        let users = stores.users.clone();
        let (webhooks, webhook_worker) = crate::webhook_dispatcher::wire(
            &settings.webhooks,
            stores.webhooks.clone(),
            stores.trade_events.clone(),
            cipher.clone(),
            digests.clone(),
            clock.clone(),
            ids.clone(),
        )?;
        let fees = settings.trading.fees()?;
        let shutdown = brokerage_http::events::Shutdown::default();
        let engine = ExecutionEngine::new(
            stores.execution.clone(),
            checked_quotes.clone(),
            settings.market_hours.to_domain(),
            clock.clone(),
            ids.clone(),
            fees,
        );
        let engine_worker = crate::execution_engine::EngineWorker::new(engine, settings.trading.engine_interval_ms);
        let funding = funding_webhook(&settings, clock.clone());
        let ledger = stores.ledger.clone();
        let state = ApiState {
            api_keys: ApiKeyService::new(ApiKeyPorts {
                keys: stores.api_keys.clone(),
                users: stores.users.clone(),
                nonces,
                cipher: cipher.clone(),
                digests: digests.clone(),
                signatures: Arc::new(brokerage_security::HmacSigner),
                clock: clock.clone(),
                ids: ids.clone(),
            }),
            auth: AuthService::new(
                AuthPorts {
                    users: stores.users.clone(),
                    hasher: Arc::new(hasher),
                    tokens: Arc::new(tokens),
                    sessions,
                    digests,
                    two_factor: stores.two_factor.clone(),
                    codes: Arc::new(brokerage_security::Totp),
                    cipher,
                    limiter: limiter.clone(),
                    clock: clock.clone(),
                    ids: ids.clone(),
                },
                chrono::Duration::days(i64::from(settings.auth.session_ttl_days)),
                login_limit(&settings),
            ),
            accounts: AccountService::new(
                stores.accounts.clone(),
                stores.ledger.clone(),
                stores.positions.clone(),
                PositionValuer::new(checked_quotes.clone()),
                clock.clone(),
                ids.clone(),
            ),
            orders: OrderService::new(
                stores.orders.clone(),
                stores.positions.clone(),
                stores.assets.clone(),
                checked_quotes,
                clock,
                ids,
                Decimal::new(i64::from(settings.trading.stop_collar_bps), 4),
            )
            .with_market_hours(settings.market_hours.to_domain())
            .with_fees(fees)
            .with_events(stores.trade_events.clone()),
            webhooks,
            quotes,
            health: stores.health,
            funding,
            streams: brokerage_http::events::EventStreams {
                shutdown: shutdown.clone(),
                ..brokerage_http::events::EventStreams::default()
            },
            ops,
        };

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let http = HttpConfig {
            workers: settings.http_workers(),
            max_body_bytes: settings.http.max_body_bytes,
            shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
            request_timeout_secs: settings.http.request_timeout_secs,
            hsts: settings.http.hsts,
            cors_allowed_origins: settings.http.cors_allowed_origins.clone(),
        };
        let admin = match settings.http.admin_port {
            Some(admin_port) => {
                let listener = TcpListener::bind((settings.http.host.as_str(), admin_port))?;
                let port = listener.local_addr()?.port();
                tracing::info!(port, "admin listener (/metrics, /health) ready");
                Some((port, brokerage_http::build_admin_server(listener, state.clone())?))
            }
            None => None,
        };
        let pg_pools = stores.pg_pools.clone();
        let worker_nice = settings.http.worker_nice;
        anyhow::ensure!((-20..=19).contains(&worker_nice), "BROKERAGE__HTTP__WORKER_NICE must be between -20 and 19");
        // The workers' nice value ranks them within the process's scheduling group only; where
        // the kernel groups processes by session, PostgreSQL's backends each have a group of
        // their own, so to rank above them the group gets the same (negative) value
        // (docs/operations.md, "CPU priority"). A positive value leaves the group alone.
        if worker_nice < 0
            && let Err(e) = brokerage_security::set_autogroup_nice(worker_nice)
        {
            tracing::warn!(error = %e, worker_nice, "cannot set the service's scheduling group priority (a negative nice needs CAP_SYS_NICE)");
        }
        let server = brokerage_http::build_server_with(listener, state, &http, move || {
            if let Some(pools) = &pg_pools {
                pools.claim_lane();
            }
            // Where PostgreSQL shares the cores, a worker woken by a query's answer otherwise
            // queues behind the database's runnable backends while its transactions hold their
            // row locks (docs/benchmarks.md, round 4).
            if worker_nice != 0
                && let Err(e) = brokerage_security::set_thread_nice(worker_nice)
            {
                tracing::warn!(error = %e, worker_nice, "cannot set the HTTP worker's priority (a negative nice needs CAP_SYS_NICE)");
            }
        })?;
        tracing::info!(port, demo = settings.is_demo(), "listening");
        Ok(Self { port, server, users, admin, webhook_worker: Some(webhook_worker), engine_worker, shutdown, ledger })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port (`/metrics`, `/health/*`), when one is configured.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// The user store the server runs on: for operator tooling and tests that need a first
    /// admin (the API never lets anyone promote themselves).
    pub fn user_store(&self) -> Arc<dyn UserStore> {
        self.users.clone()
    }

    /// A handle to stop the server gracefully (used on SIGTERM and by tests). Trigger
    /// [`shutdown_signal`](Self::shutdown_signal) first, so open event streams end at once
    /// instead of holding the stop for its whole grace period.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The "stopping" signal: event streams end and the execution engine stops when it is
    /// triggered.
    pub fn shutdown_signal(&self) -> brokerage_http::events::Shutdown {
        self.shutdown.clone()
    }

    /// The ledger the server runs on: `audit()` checks the book's invariants (tests, tooling).
    pub fn ledger_store(&self) -> Arc<dyn LedgerStore> {
        self.ledger.clone()
    }

    /// Serves until stopped; in-flight requests finish first. The admin listener stops when
    /// the public one has stopped, so metrics stay scrapeable while requests drain.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let webhooks = self.webhook_worker.take().map(crate::webhook_dispatcher::WebhookWorker::spawn);
        let shutdown = self.shutdown.clone();
        let engine = self.engine_worker.take().map(|w| w.spawn(shutdown.clone()));
        let served = self.serve().await;
        // However the server stopped, nothing long-lived outlives it.
        shutdown.trigger();
        if let Some(engine) = engine {
            engine.stop().await;
        }
        if let Some(webhooks) = webhooks {
            webhooks.stop().await;
        }
        served
    }

    async fn serve(self) -> std::io::Result<()> {
        let Some((_, admin)) = self.admin else {
            return self.server.await;
        };
        // An actix server serves only while its future is polled: run the admin one beside.
        let admin_handle = admin.handle();
        let admin = tokio::spawn(admin);
        let served = self.server.await;
        admin_handle.stop(true).await;
        admin.await.map_err(std::io::Error::other)??;
        served
    }
}

/// Sessions in Redis, behind the in-process cache unless `auth.session_cache_ms` is 0.
fn redis_sessions(
    settings: &Settings,
    pool: &brokerage_redis::RedisPool,
    url: &str,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    let sessions = brokerage_redis::RedisSessions::new(pool.clone());
    if settings.auth.session_cache_ms == 0 {
        return Ok(Arc::new(sessions));
    }
    let cached = brokerage_redis::CachedSessions::new(sessions, Duration::from_millis(settings.auth.session_cache_ms));
    cached.spawn_listener(url).map_err(|e| anyhow::anyhow!("invalid REDIS_URL: {}", e.category()))?;
    Ok(Arc::new(cached))
}

/// The funding provider's incoming webhook, when a secret is configured.
fn funding_webhook(settings: &Settings, clock: Arc<dyn Clock>) -> Option<brokerage_http::funding::FundingWebhook> {
    let Some(secret) = settings.webhooks.funding_secret.as_ref().filter(|s| !s.expose_secret().is_empty()) else {
        tracing::warn!("no WEBHOOK_SECRET: POST /api/v1/webhooks/funding answers 503 until one is configured");
        return None;
    };
    Some(brokerage_http::funding::FundingWebhook::new(
        secret.expose_secret().as_bytes(),
        Arc::new(brokerage_security::HmacSigner),
        clock,
    ))
}

/// `Idempotency-Key`: answers and in-flight locks in Redis when there is one (every instance
/// sees them), in this process's memory in demo mode. Stored bodies are sealed with `cipher`.
fn idempotency(
    settings: &Settings,
    redis: Option<&brokerage_redis::RedisPool>,
    clock: Arc<dyn Clock>,
    cipher: Arc<dyn SecretCipher>,
    ids: Arc<dyn IdGenerator>,
) -> anyhow::Result<IdempotencyService> {
    let s = &settings.idempotency;
    anyhow::ensure!(
        s.ttl_hours >= 24,
        "BROKERAGE__IDEMPOTENCY__TTL_HOURS must be at least 24 (keys are kept 24 h or more)"
    );
    anyhow::ensure!(s.lock_secs >= 1, "BROKERAGE__IDEMPOTENCY__LOCK_SECS must be at least 1");
    if settings.http.request_timeout_secs == 0 || s.lock_secs <= settings.http.request_timeout_secs {
        tracing::warn!(
            idempotency.lock_secs = s.lock_secs,
            http.request_timeout_secs = settings.http.request_timeout_secs,
            "idempotency locks may expire before a request ends; a retry could then run it twice"
        );
    }
    let store: Arc<dyn IdempotencyStore> = match redis {
        Some(pool) => Arc::new(brokerage_redis::RedisIdempotency::new(pool.clone())),
        None => Arc::new(brokerage_memory::MemoryIdempotency::new(clock)),
    };
    let policy = IdempotencyPolicy {
        ttl: Duration::from_secs(s.ttl_hours.saturating_mul(3600)),
        lock_ttl: Duration::from_secs(s.lock_secs),
    };
    Ok(IdempotencyService::new(store, cipher, ids, policy))
}

fn password_hasher(settings: &Settings) -> anyhow::Result<Argon2Hasher> {
    let contended_share = settings.auth.hashing_contended_share()?;
    Argon2Hasher::new(&HashingConfig {
        memory_kib: settings.auth.argon2_memory_kib,
        iterations: settings.auth.argon2_iterations,
        parallelism: settings.auth.argon2_parallelism,
        max_queued: settings.auth.argon2_max_queued.max(1),
        max_concurrent: match settings.auth.argon2_threads {
            0 => HashingConfig::default().max_concurrent,
            n => n,
        },
        nice: settings.auth.argon2_nice.clamp(0, 19),
        contended_share,
    })
}

fn token_issuer(settings: &Settings) -> anyhow::Result<JwtIssuer> {
    let previous = match (&settings.auth.jwt_previous_secret, &settings.auth.jwt_previous_kid) {
        (Some(secret), Some(kid)) => vec![JwtKey { kid: kid.clone(), secret: secret.clone() }],
        (None, None) => Vec::new(),
        _ => anyhow::bail!(
            "set both BROKERAGE__AUTH__JWT_PREVIOUS_SECRET and BROKERAGE__AUTH__JWT_PREVIOUS_KID, or neither"
        ),
    };
    JwtIssuer::new(&JwtConfig {
        current: JwtKey { kid: settings.auth.jwt_kid.clone(), secret: jwt_secret(settings)? },
        previous,
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
        ttl_seconds: settings.auth.access_ttl_seconds,
    })
}

fn login_limit(settings: &Settings) -> LoginLimit {
    LoginLimit {
        attempts: settings.auth.login_attempts_per_account,
        window: Duration::from_secs(settings.auth.login_window_secs),
    }
}

/// Encryption at rest: the configured keys, or in demo mode an ephemeral one.
fn secret_cipher(settings: &Settings) -> anyhow::Result<AesGcmCipher> {
    let s = &settings.security;
    let Some(key) = &s.encryption_key else {
        anyhow::ensure!(
            settings.is_demo(),
            "BROKERAGE__SECURITY__ENCRYPTION_KEY is required when DATABASE_URL is set (64 hex characters, e.g. `openssl rand -hex 32`)"
        );
        return AesGcmCipher::ephemeral();
    };
    let previous = match (&s.encryption_previous_key, &s.encryption_previous_kid) {
        (Some(key), Some(kid)) => vec![(kid.clone(), key.clone())],
        (None, None) => Vec::new(),
        _ => anyhow::bail!("set both BROKERAGE__SECURITY__ENCRYPTION_PREVIOUS_KEY and …_PREVIOUS_KID, or neither"),
    };
    AesGcmCipher::new(&CipherKeys { current: (s.encryption_kid.clone(), key.clone()), previous })
}

/// The configured JWT key, or in demo mode an ephemeral random one.
fn jwt_secret(settings: &Settings) -> anyhow::Result<SecretString> {
    match (&settings.auth.jwt_secret, settings.is_demo()) {
        (Some(secret), _) => Ok(secret.clone()),
        (None, true) => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for the demo JWT key: {e}"))?;
            Ok(SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
        }
        (None, false) => anyhow::bail!(
            "BROKERAGE__AUTH__JWT_SECRET is required when DATABASE_URL is set (at least 32 bytes, e.g. `openssl rand -hex 32`)"
        ),
    }
}

fn demo_banner() {
    let banner = "\
################################################################################
#  DEMO MODE: no DATABASE_URL is set.                                          #
#  Data lives in memory and is LOST when the process stops; the JWT key is     #
#  ephemeral (tokens die with the process); quotes come from a SIMULATED        #
#  market. Set DATABASE_URL (and REDIS_URL) to run for real.                   #
################################################################################";
    eprintln!("{banner}");
    tracing::warn!("demo mode: in-memory storage, ephemeral secrets, simulated market; nothing is kept");
}

/// Creates an admin, or promotes the existing user with that e-mail.
pub(crate) async fn create_admin(settings: &Settings, email: &str, password: String) -> anyhow::Result<()> {
    let url = settings.database.url.as_ref().ok_or_else(|| anyhow::anyhow!("DATABASE_URL is required"))?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let pool = brokerage_postgres::connect(&brokerage_postgres::PoolConfig {
        url: url.expose_secret().to_owned(),
        max_size: 2,
        min_idle: None,
        connection_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
    })
    .await?;
    let store = Arc::new(brokerage_postgres::PgStore::new(pool));
    if let Some(creds) = store.credentials_by_email(&email).await? {
        store.update(creds.user.id, &UserChanges { role: Some(Role::Admin), status: None }).await?;
        tracing::info!(user.id = %creds.user.id, "existing user promoted to admin");
        return Ok(());
    }
    let password = Password::new(password).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hasher = password_hasher(settings)?;
    let tokens = token_issuer(settings)?;
    // Registration only hashes and stores: no session is opened, so no session store is needed.
    let auth = AuthService::new(
        AuthPorts {
            users: store.clone(),
            hasher: Arc::new(hasher),
            tokens: Arc::new(tokens),
            sessions: Arc::new(brokerage_memory::MemorySessions::new(Arc::new(SystemClock))),
            digests: Arc::new(brokerage_security::Digests),
            two_factor: store.clone(),
            codes: Arc::new(brokerage_security::Totp),
            cipher: Arc::new(secret_cipher(settings)?),
            limiter: Arc::new(brokerage_memory::MemoryRateLimiter::new(Arc::new(SystemClock))),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
        },
        chrono::Duration::days(i64::from(settings.auth.session_ttl_days)),
        login_limit(settings),
    );
    let user = auth.register_with_role(email, password, Role::Admin).await?;
    tracing::info!(user.id = %user.id, "admin created");
    Ok(())
}
