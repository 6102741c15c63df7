//! Wiring: picks the adapters the settings ask for, builds the services and the HTTP server.
//! `Application::build` binds the port first, so tests can ask for port 0 and read it back.

use crate::settings::{Provider, Settings};
use brokerage_domain::accounts::{AccountService, AccountStore, LedgerStore};
use brokerage_domain::market::QuoteProvider;
use brokerage_domain::orders::{OrderService, OrderStore};
use brokerage_domain::positions::{PositionStore, PositionValuer};
use brokerage_domain::system::{SystemClock, UuidV7Generator};
use brokerage_domain::users::{AuthService, Email, Password, Role, UserStore};
use brokerage_domain::{Clock, HealthCheck, IdGenerator};
use brokerage_http::{ApiState, HttpConfig};
use brokerage_market_data::SimulatedMarket;
use brokerage_security::{Argon2Hasher, HashingConfig, JwtConfig, JwtIssuer};
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
    health: Vec<Arc<dyn HealthCheck>>,
}

impl Stores {
    fn memory() -> Self {
        let m = brokerage_memory::MemoryStore::new();
        Self {
            users: Arc::new(m.clone()),
            accounts: Arc::new(m.clone()),
            ledger: Arc::new(m.clone()),
            positions: Arc::new(m.clone()),
            orders: Arc::new(m),
            health: Vec::new(),
        }
    }

    async fn postgres(settings: &Settings, url: &SecretString) -> anyhow::Result<Self> {
        brokerage_postgres::run_migrations(url.expose_secret()).await?;
        let pool = brokerage_postgres::connect(&brokerage_postgres::PoolConfig {
            url: url.expose_secret().to_owned(),
            max_size: settings.database.max_connections,
            min_idle: settings.database.min_idle,
            connection_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
        })
        .await?;
        let pg = brokerage_postgres::PgStore::new(pool);
        Ok(Self {
            users: Arc::new(pg.clone()),
            accounts: Arc::new(pg.clone()),
            ledger: Arc::new(pg.clone()),
            positions: Arc::new(pg.clone()),
            orders: Arc::new(pg.clone()),
            health: vec![Arc::new(pg)],
        })
    }
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
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
        if let Some(url) = &settings.redis.url {
            let pool = brokerage_redis::connect(&brokerage_redis::RedisConfig {
                url: url.expose_secret().to_owned(),
                max_size: settings.redis.max_connections,
                connection_timeout: Duration::from_millis(settings.redis.connect_timeout_ms),
            })
            .await?;
            stores.health.push(Arc::new(brokerage_redis::RedisHealth::new(pool)));
        }

        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UuidV7Generator);
        let quotes: Arc<dyn QuoteProvider> = match settings.market_data.provider {
            Provider::Simulated => Arc::new(SimulatedMarket::new(settings.market_data.seed, clock.clone())),
        };
        let hasher = password_hasher(&settings)?;
        let tokens = token_issuer(&settings)?;

        let state = ApiState {
            auth: AuthService::new(
                stores.users.clone(),
                Arc::new(hasher),
                Arc::new(tokens),
                clock.clone(),
                ids.clone(),
            ),
            accounts: AccountService::new(
                stores.accounts.clone(),
                stores.ledger.clone(),
                stores.positions.clone(),
                PositionValuer::new(quotes.clone()),
                clock.clone(),
                ids.clone(),
            ),
            orders: OrderService::new(
                stores.orders.clone(),
                stores.positions.clone(),
                quotes.clone(),
                clock,
                ids,
                Decimal::new(i64::from(settings.trading.stop_collar_bps), 4),
            ),
            quotes,
            health: stores.health,
        };

        let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))?;
        let port = listener.local_addr()?.port();
        let http = HttpConfig {
            workers: settings
                .http
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            max_body_bytes: settings.http.max_body_bytes,
            shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
        };
        let server = brokerage_http::build_server(listener, state, &http)?;
        tracing::info!(port, demo = settings.is_demo(), "listening");
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully (used on SIGTERM and by tests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; in-flight requests finish first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn password_hasher(settings: &Settings) -> anyhow::Result<Argon2Hasher> {
    Argon2Hasher::new(&HashingConfig {
        memory_kib: settings.auth.argon2_memory_kib,
        iterations: settings.auth.argon2_iterations,
        parallelism: settings.auth.argon2_parallelism,
        ..HashingConfig::default()
    })
}

fn token_issuer(settings: &Settings) -> anyhow::Result<JwtIssuer> {
    JwtIssuer::new(&JwtConfig {
        secret: jwt_secret(settings)?,
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
        ttl_seconds: settings.auth.access_ttl_seconds,
    })
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
        store.set_role(creds.user.id, Role::Admin).await?;
        tracing::info!(user.id = %creds.user.id, "existing user promoted to admin");
        return Ok(());
    }
    let password = Password::new(password).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let hasher = password_hasher(settings)?;
    let tokens = token_issuer(settings)?;
    let auth =
        AuthService::new(store, Arc::new(hasher), Arc::new(tokens), Arc::new(SystemClock), Arc::new(UuidV7Generator));
    let user = auth.register_with_role(email, password, Role::Admin).await?;
    tracing::info!(user.id = %user.id, "admin created");
    Ok(())
}
