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
max_body_bytes = 65536
shutdown_timeout_secs = 30

[database]
max_connections = 32
connect_timeout_ms = 3000

[redis]
max_connections = 32
connect_timeout_ms = 2000

[auth]
issuer = "brokerage"
audience = "brokerage-api"
access_ttl_seconds = 900
argon2_memory_kib = 19456
argon2_iterations = 2
argon2_parallelism = 1

[market_data]
provider = "simulated"
seed = 42

[trading]
stop_collar_bps = 500

[log]
format = "auto"
filter = "info"
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
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`. Unset: the in-memory demo mode.
    pub url: Option<SecretString>,
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
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Simulated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDataSettings {
    pub provider: Provider,
    /// Seed of the simulated market's price walk.
    pub seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradingSettings {
    /// Extra hold on resting stop and trailing-stop buys against slippage, in basis points.
    pub stop_collar_bps: u32,
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

impl Settings {
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
        for (var, key) in [("DATABASE_URL", "database.url"), ("REDIS_URL", "redis.url")] {
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
    fn defaults_give_the_demo_mode_on_port_8080() {
        let s = Settings::load_from(None, env(&[])).expect("defaults load");
        assert!(s.is_demo());
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.auth.argon2_memory_kib, 19_456);
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
    fn unknown_keys_are_refused() {
        assert!(Settings::load_from(None, env(&[("BROKERAGE__HTTP__PROT", "1")])).is_err());
    }
}
