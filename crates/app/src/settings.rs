//! Typed settings, loaded once: built-in defaults → optional TOML file (`BROKERAGE_CONFIG`
//! or `--config`) → `BROKERAGE__SECTION__KEY` environment variables → `DATABASE_URL` and
//! `REDIS_URL`, honoured as-is. Unknown keys are errors, so a typo cannot go unnoticed.

use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::Path;

const DEFAULTS: &str = r#"
[http]
host = "0.0.0.0"
port = 8080
worker_nice = 0
max_body_bytes = 65536
shutdown_timeout_secs = 30
request_timeout_secs = 30
hsts = false
cors_allowed_origins = []

[database]
max_connections = 16
connect_timeout_ms = 3000

[redis]
max_connections = 32
connect_timeout_ms = 2000

[auth]
issuer = "brokerage"
audience = "brokerage-api"
access_ttl_seconds = 900
session_ttl_days = 7
login_attempts_per_account = 10
login_window_secs = 900
session_cache_ms = 5000
jwt_kid = "k1"
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1
argon2_threads = 0
argon2_nice = 10
argon2_contended_share = 0.2
argon2_max_queued = 128

[market_data]
provider = "simulated"
seed = 42
base_url = "https://www.alphavantage.co"
timeout_ms = 5000
max_attempts = 3
retry_base_ms = 200
breaker_failures = 5
breaker_cooldown_secs = 30
calls_per_minute = 5
cache_ttl_seconds = 60
stale_ttl_seconds = 86400
asset_cache_ms = 1000
memo_ms = 1000
key_prefix = "marketdata:"

[trading]
stop_collar_bps = 500
commission_per_share = "0"
commission_minimum = "0"
engine_interval_ms = 1000

[market_hours]
always_open = true
holidays = []

[security]
encryption_kid = "e1"

[log]
format = "auto"
filter = "info"

[rate_limit]
enabled = true
login_limit = 5
login_window_secs = 900
trading_limit = 10
trading_window_secs = 1
general_limit = 100
general_window_secs = 60
fail_open = true
trust_forwarded_for = false
timeout_ms = 500
key_prefix = "ratelimit:"

[idempotency]
ttl_hours = 24
lock_secs = 60

[webhooks]
dispatch_interval_ms = 1000
allow_http_localhost = false
retry_base_ms = 1000
max_attempts = 10
timeout_ms = 5000
batch = 32
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub market_data: MarketDataSettings,
    pub trading: TradingSettings,
    pub market_hours: MarketHoursSettings,
    pub log: LogSettings,
    pub rate_limit: RateLimitSettings,
    pub security: SecuritySettings,
    pub idempotency: IdempotencySettings,
    pub webhooks: WebhookSettings,
}

/// Outgoing webhooks: the dispatcher worker (see `webhook_dispatcher`) and URL rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// How often the dispatcher turns new trade events into deliveries and sends due ones.
    pub dispatch_interval_ms: u64,
    /// Accept `http://127.0.0.1` and `http://localhost` endpoint URLs (tests, local
    /// development only: never in production).
    pub allow_http_localhost: bool,
    /// The first retry's delay; each next one doubles (capped at 1 h).
    pub retry_base_ms: u64,
    /// Attempts per delivery before it is `failed`.
    pub max_attempts: u32,
    /// One attempt's time limit (connect, send, answer's head).
    pub timeout_ms: u64,
    /// Deliveries claimed and sent concurrently per pass by one instance.
    pub batch: usize,
    /// The funding provider's signing secret for `POST /api/v1/webhooks/funding`
    /// (`WEBHOOK_SECRET`, honoured as-is, or `BROKERAGE__WEBHOOKS__FUNDING_SECRET`). Unset: that
    /// route answers 503 `unavailable`.
    pub funding_secret: Option<SecretString>,
}

/// `Idempotency-Key` (API.md): kept in Redis when `REDIS_URL` is set (shared by every
/// instance), in memory otherwise (see `brokerage_http::idempotency`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencySettings {
    /// How long a final answer is kept and replayed (API.md: at least 24).
    pub ttl_hours: u64,
    /// How long a running request holds its key if its instance dies mid-request; keep it
    /// above `http.request_timeout_secs`.
    pub lock_secs: u64,
}

/// Encryption at rest of secrets the server reads back (TOTP and API-key secrets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    /// AES-256 key, 64 hex characters. Required with a database; ephemeral in demo mode.
    pub encryption_key: Option<SecretString>,
    /// The id stored with every value sealed by `encryption_key`.
    pub encryption_kid: String,
    /// A retired key still able to open old values (they are re-sealed on use).
    pub encryption_previous_key: Option<SecretString>,
    pub encryption_previous_kid: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Nice value of the worker threads (0: unchanged); a negative value is also given to the
    /// process's scheduling autogroup, where the kernel has them. Negative values need
    /// `CAP_SYS_NICE`; without it start-up warns and the workers keep their priority. See
    /// docs/operations.md.
    pub worker_nice: i32,
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// A second listener (same host) for `/metrics` and the health probes; when set, the
    /// public port answers 404 for `/metrics`.
    pub admin_port: Option<u16>,
    /// A request not answered within this many seconds gets 503 `unavailable`; also the limit
    /// to receive a request's head and for idle keep-alive connections. 0: no limit.
    pub request_timeout_secs: u64,
    /// Send `Strict-Transport-Security`; only when clients reach the service over TLS.
    pub hsts: bool,
    /// Origins whose pages may call the API (CORS), e.g. `https://app.example.com`: a TOML
    /// array, or comma-separated in `BROKERAGE__HTTP__CORS_ALLOWED_ORIGINS`. Default: none.
    #[serde(deserialize_with = "comma_separated")]
    pub cors_allowed_origins: Vec<String>,
}

/// A list given as a TOML array or as one comma-separated string (environment variables).
fn comma_separated<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Text(String),
        List(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Text(text) => text.split(',').map(str::to_owned).collect(),
        OneOrMany::List(list) => list,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`. Unset: the in-memory demo mode.
    pub url: Option<SecretString>,
    /// Connections in all (default 16). PostgreSQL does the most work with a few busy
    /// connections per core of its own; beyond that the queue only moves into the database,
    /// where backends holding row locks compete for the cores and the slowest transactions
    /// grow (`docs/operations.md`, "CPU priority").
    pub max_connections: u32,
    pub min_idle: Option<u32>,
    pub connect_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `REDIS_URL`.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub connect_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 key, at least 32 bytes. Required with a database; generated in demo mode.
    pub jwt_secret: Option<SecretString>,
    /// The id (`kid`) of `jwt_secret`, written into every token's header.
    pub jwt_kid: String,
    /// A key rotated out: tokens it signed stay valid until they expire.
    pub jwt_previous_secret: Option<SecretString>,
    pub jwt_previous_kid: Option<String>,
    /// Absolute lifetime of a login session (refreshes do not extend it).
    pub session_ttl_days: u32,
    /// Login attempts allowed per account (e-mail) per window, from any address.
    pub login_attempts_per_account: u32,
    pub login_window_secs: u64,
    /// How long an instance trusts a session it confirmed live in Redis without asking again
    /// (revocations reach every instance at once by pub/sub; this bounds a silent channel
    /// failure). 0: ask Redis on every request.
    pub session_cache_ms: u64,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password-hashing threads; 0: one fewer than the cores (at least 1), so one core always
    /// stays free for trading.
    pub argon2_threads: usize,
    /// Nice value (0–19) of the password-hashing threads: under CPU contention order
    /// placement and reads go first, logins take what is left.
    pub argon2_nice: i32,
    /// The most of a core each hashing thread uses while the cores are contended (0–1; 1: no
    /// limit): it rests between hashes to keep to it, as a nice value cannot outrank
    /// PostgreSQL's processes or other tenants. Uncontended, hashing runs at full speed.
    pub argon2_contended_share: f64,
    /// Logins waiting for a hashing thread; beyond that a login is answered 503 at once.
    pub argon2_max_queued: usize,
}

impl AuthSettings {
    /// `argon2_contended_share`, checked: a share of one core, above 0 and at most 1.
    pub fn hashing_contended_share(&self) -> anyhow::Result<f64> {
        let share = self.argon2_contended_share;
        anyhow::ensure!(
            share > 0.0 && share <= 1.0,
            "auth.argon2_contended_share must be above 0 and at most 1 (a share of one core), not {share}"
        );
        Ok(share)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Simulated,
    AlphaVantage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataSettings {
    pub provider: Provider,
    /// Seed of the simulated market's price walk.
    pub seed: u64,
    /// The real provider's endpoint (a local fake in tests).
    pub base_url: String,
    /// The real provider's key; required with `provider = "alpha_vantage"`. Never logged.
    pub api_key: Option<SecretString>,
    /// Per outbound call (connection and body included).
    pub timeout_ms: u64,
    /// Attempts per quote, first included; only timeouts, connection errors and 5xx retry.
    pub max_attempts: u32,
    /// First retry backoff (doubling, jittered, capped at 10×).
    pub retry_base_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call.
    pub breaker_cooldown_secs: u64,
    /// Outbound calls per minute, shared by every instance (Redis); over it counts as throttled.
    pub calls_per_minute: u32,
    /// How long a fetched quote is served from the Redis cache (and `Cache-Control: max-age`).
    pub cache_ttl_seconds: u64,
    /// How long the last known quote is kept, to be served `stale` while the provider fails.
    pub stale_ttl_seconds: u64,
    /// How long an instance trusts its in-process copy of an asset (halts set on another
    /// instance apply here within this time; 0 turns the cache off).
    pub asset_cache_ms: u64,
    /// How long an instance keeps a quote read from the Redis quote cache before reading it
    /// again (never past the quote's own freshness; 0: read Redis every time).
    pub memo_ms: u64,
    /// Prefix of the quote cache's and call budget's Redis keys.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingSettings {
    /// Extra hold on resting stop and trailing-stop buys against slippage, in basis points.
    pub stop_collar_bps: u32,
    /// Commission per share of each fill, in dollars (a decimal: `"0.005"`). `"0"`: free.
    #[serde(deserialize_with = "decimal_text")]
    pub commission_per_share: String,
    /// The least commission charged on a fill, in dollars (at most 4 decimal places).
    #[serde(deserialize_with = "decimal_text")]
    pub commission_minimum: String,
    /// How often the execution engine works the open orders (every instance runs it);
    /// 0 turns it off (resting orders then never trigger on this instance).
    pub engine_interval_ms: u64,
}

impl TradingSettings {
    /// The commission model; refuses negative or malformed amounts.
    pub fn fees(&self) -> anyhow::Result<brokerage_domain::orders::FeeSchedule> {
        use std::str::FromStr as _;
        let parse = |name: &str, raw: &str| {
            rust_decimal::Decimal::from_str(raw.trim())
                .ok()
                .filter(|d| !d.is_sign_negative())
                .ok_or_else(|| anyhow::anyhow!("trading.{name} must be a decimal number ≥ 0, got {raw:?}"))
        };
        let per_share = parse("commission_per_share", &self.commission_per_share)?;
        let minimum = brokerage_domain::Money::new(parse("commission_minimum", &self.commission_minimum)?)
            .map_err(|e| anyhow::anyhow!("trading.commission_minimum: {e}"))?;
        Ok(brokerage_domain::orders::FeeSchedule { per_share, minimum })
    }
}

/// A decimal given as a TOML string or number, or an environment variable (which `config`
/// may have read as a number): kept as its text, parsed with `rust_decimal` where used.
fn decimal_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Given::deserialize(d)? {
        Given::Text(s) => s,
        Given::Int(i) => i.to_string(),
        Given::Float(f) => f.to_string(),
    })
}

/// When `market` orders are accepted: the US regular session (09:30–16:00 New York, weekdays,
/// minus `holidays`), or always (the simulated market runs 24/7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketHoursSettings {
    pub always_open: bool,
    /// New York dates without a session: a TOML list of `"YYYY-MM-DD"`, or one comma-separated
    /// string (`BROKERAGE__MARKET_HOURS__HOLIDAYS=2026-11-26,2026-12-25`).
    #[serde(deserialize_with = "holiday_dates")]
    pub holidays: Vec<chrono::NaiveDate>,
}

impl MarketHoursSettings {
    pub fn to_domain(&self) -> brokerage_domain::market::MarketHours {
        brokerage_domain::market::MarketHours { holidays: self.holidays.clone(), always_open: self.always_open }
    }
}

fn holiday_dates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<chrono::NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Dates {
        List(Vec<String>),
        Csv(String),
    }
    let dates = match Dates::deserialize(d)? {
        Dates::List(list) => list,
        Dates::Csv(csv) => csv.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
    };
    dates
        .iter()
        .map(|s| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| {
                serde::de::Error::custom(format!("market_hours.holidays: {s:?} is not a YYYY-MM-DD date: {e}"))
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Pretty on a terminal, JSON otherwise.
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
}

/// Rate limits per class (see `brokerage_http::rate_limit`), counted in Redis when
/// `REDIS_URL` is set (shared by every instance), in memory otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// `POST /api/v1/auth/login`, per client IP.
    pub login_limit: u32,
    pub login_window_secs: u64,
    /// Order and position writes, per user.
    pub trading_limit: u32,
    pub trading_window_secs: u64,
    /// Every other `/api/v1` request, per user (per IP when unauthenticated).
    pub general_limit: u32,
    pub general_window_secs: u64,
    /// When the limiter (Redis) fails: let trading and general requests through. Login
    /// always fails closed.
    pub fail_open: bool,
    /// Count per the address in `Forwarded`/`X-Forwarded-For`; only behind a proxy that sets it.
    pub trust_forwarded_for: bool,
    /// How long the limiter may take before it counts as failed.
    pub timeout_ms: u64,
    /// Prefix of the counters' Redis keys (deployments sharing one Redis use different ones).
    pub key_prefix: String,
}

impl Settings {
    /// HTTP worker threads: `http.workers`, or one per core.
    pub fn http_workers(&self) -> usize {
        self.http.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1)
    }

    /// Loads settings from the defaults, `file` (if any) and the process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_from(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("BROKERAGE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env.clone())),
        );
        for (var, key) in [
            ("DATABASE_URL", "database.url"),
            ("REDIS_URL", "redis.url"),
            ("WEBHOOK_SECRET", "webhooks.funding_secret"),
        ] {
            if let Some(v) = env.get(var).filter(|v| !v.is_empty()) {
                builder = builder.set_override(key, v.as_str())?;
            }
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        Ok(settings)
    }

    /// Demo mode keeps nothing: no database configured.
    pub fn is_demo(&self) -> bool {
        self.database.url.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn market_hours_default_to_always_open_and_take_holidays_from_the_environment() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert!(defaults.market_hours.always_open);
        assert!(defaults.market_hours.holidays.is_empty());
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__MARKET_HOURS__ALWAYS_OPEN", "false"),
                ("BROKERAGE__MARKET_HOURS__HOLIDAYS", "2026-11-26, 2026-12-25"),
            ]),
        )
        .expect("loads");
        let hours = s.market_hours.to_domain();
        assert!(!hours.always_open);
        assert_eq!(hours.holidays.len(), 2);
        assert!(Settings::load_from(None, env(&[("BROKERAGE__MARKET_HOURS__HOLIDAYS", "26/11/2026")])).is_err());
    }

    #[test]
    fn defaults_give_the_demo_mode_on_port_8080() {
        let s = Settings::load_from(None, env(&[])).expect("defaults load");
        assert!(s.is_demo());
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.auth.argon2_memory_kib, 19_456);
    }

    #[test]
    fn the_hashing_share_under_contention_is_a_share_of_one_core() {
        let share = |v: &str| {
            Settings::load_from(None, env(&[("BROKERAGE__AUTH__ARGON2_CONTENDED_SHARE", v)]))
                .expect("loads")
                .auth
                .hashing_contended_share()
                .ok()
        };
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(defaults.auth.hashing_contended_share().ok(), Some(0.2));
        assert_eq!(share("1"), Some(1.0));
        assert_eq!(share("0.05"), Some(0.05));
        for refused in ["0", "-0.5", "1.5", "NaN"] {
            assert_eq!(share(refused), None, "{refused}");
        }
    }

    #[test]
    fn environment_overrides_defaults_and_urls_are_honoured_as_is() {
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__HTTP__PORT", "9090"),
                ("BROKERAGE__DATABASE__MAX_CONNECTIONS", "7"),
                ("DATABASE_URL", "postgres://u@h/db"),
            ]),
        )
        .expect("loads");
        assert_eq!((s.http.port, s.database.max_connections), (9090, 7));
        assert!(!s.is_demo());
    }

    #[test]
    fn market_data_defaults_to_the_simulated_market_and_takes_a_real_provider() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        let md = &defaults.market_data;
        assert_eq!(md.provider, Provider::Simulated);
        assert!(md.api_key.is_none());
        assert_eq!((md.cache_ttl_seconds, md.calls_per_minute, md.max_attempts), (60, 5, 3));
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__MARKET_DATA__PROVIDER", "alpha_vantage"),
                ("BROKERAGE__MARKET_DATA__BASE_URL", "http://127.0.0.1:9999"),
                ("BROKERAGE__MARKET_DATA__API_KEY", "k-123"),
                ("BROKERAGE__MARKET_DATA__CACHE_TTL_SECONDS", "15"),
                ("BROKERAGE__MARKET_DATA__CALLS_PER_MINUTE", "75"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.market_data.provider, Provider::AlphaVantage);
        assert_eq!((s.market_data.cache_ttl_seconds, s.market_data.calls_per_minute), (15, 75));
        assert!(!format!("{:?}", s.market_data).contains("k-123"), "the key is redacted");
        assert!(Settings::load_from(None, env(&[("BROKERAGE__MARKET_DATA__PROVIDER", "bloomberg")])).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Settings::load_from(None, env(&[("BROKERAGE__HTTP__PROT", "1")])).is_err());
    }

    #[test]
    fn rate_limits_and_the_admin_port_are_configurable() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(defaults.http.admin_port, None);
        let rl = &defaults.rate_limit;
        assert!(rl.enabled && rl.fail_open && !rl.trust_forwarded_for);
        assert_eq!((rl.login_limit, rl.login_window_secs), (5, 900));
        assert_eq!((rl.trading_limit, rl.trading_window_secs), (10, 1));
        assert_eq!((rl.general_limit, rl.general_window_secs), (100, 60));
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__HTTP__ADMIN_PORT", "9100"),
                ("BROKERAGE__RATE_LIMIT__LOGIN_LIMIT", "3"),
                ("BROKERAGE__RATE_LIMIT__FAIL_OPEN", "false"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.http.admin_port, Some(9100));
        assert_eq!(s.rate_limit.login_limit, 3);
        assert!(!s.rate_limit.fail_open);
    }

    #[test]
    fn http_hardening_is_configurable() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(defaults.http.request_timeout_secs, 30);
        assert!(!defaults.http.hsts);
        assert!(defaults.http.cors_allowed_origins.is_empty());
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__HTTP__REQUEST_TIMEOUT_SECS", "5"),
                ("BROKERAGE__HTTP__HSTS", "true"),
                ("BROKERAGE__HTTP__CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000"),
            ]),
        )
        .expect("loads");
        assert_eq!(s.http.request_timeout_secs, 5);
        assert!(s.http.hsts);
        assert_eq!(s.http.cors_allowed_origins, ["https://app.example.com", "http://localhost:3000"]);
    }

    #[test]
    fn trading_fees_and_the_engine_are_configurable() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(defaults.trading.fees().expect("valid"), brokerage_domain::orders::FeeSchedule::FREE);
        assert_eq!(defaults.trading.engine_interval_ms, 1000);
        assert!(defaults.webhooks.funding_secret.is_none());
        let s = Settings::load_from(
            None,
            env(&[
                ("BROKERAGE__TRADING__COMMISSION_PER_SHARE", "0.005"),
                ("BROKERAGE__TRADING__COMMISSION_MINIMUM", "1"),
                ("BROKERAGE__TRADING__ENGINE_INTERVAL_MS", "0"),
                ("WEBHOOK_SECRET", "whsec-123"),
            ]),
        )
        .expect("loads");
        let fees = s.trading.fees().expect("valid");
        assert_eq!(fees.per_share, rust_decimal::Decimal::new(5, 3));
        assert_eq!(fees.minimum.get(), rust_decimal::Decimal::ONE);
        assert_eq!(s.trading.engine_interval_ms, 0);
        assert!(s.webhooks.funding_secret.is_some());
        assert!(!format!("{:?}", s.webhooks).contains("whsec-123"), "the secret is redacted");
        let s = Settings::load_from(None, env(&[("BROKERAGE__WEBHOOKS__FUNDING_SECRET", "other")])).expect("loads");
        assert!(s.webhooks.funding_secret.is_some());
        let bad = Settings::load_from(None, env(&[("BROKERAGE__TRADING__COMMISSION_MINIMUM", "-1")])).expect("loads");
        assert!(bad.trading.fees().is_err());
    }

    #[test]
    fn idempotency_keys_are_kept_a_day_by_default() {
        let defaults = Settings::load_from(None, env(&[])).expect("defaults load");
        assert_eq!((defaults.idempotency.ttl_hours, defaults.idempotency.lock_secs), (24, 60));
        let s = Settings::load_from(None, env(&[("BROKERAGE__IDEMPOTENCY__TTL_HOURS", "48")])).expect("loads");
        assert_eq!(s.idempotency.ttl_hours, 48);
    }
}
