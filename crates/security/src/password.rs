use crate::hash_pool::{HashPool, PoolConfig};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::users::{Password, PasswordHash, PasswordHasher};

/// Argon2id parameters. The defaults are OWASP's (Password Storage Cheat Sheet):
/// m = 19456 KiB, t = 2, p = 1.
#[derive(Debug, Clone)]
pub struct HashingConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes running at once (dedicated threads, see `hash_pool.rs`).
    pub max_concurrent: usize,
    /// Hashes waiting for a thread; a login beyond that is answered 503 at once.
    pub max_queued: usize,
    /// Nice value of the hashing threads: under CPU contention trading goes first.
    pub nice: i32,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_queued: 128,
            nice: 10,
        }
    }
}

/// Argon2id on dedicated low-priority threads with a bounded queue (`hash_pool.rs`), so that
/// a login storm never runs on, or starves, the workers that serve trading.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    pool: HashPool,
    /// A real hash of a random password, verified when the e-mail is unknown so that both
    /// paths cost the same.
    dummy: PasswordHash,
}

impl Argon2Hasher {
    pub fn new(config: &HashingConfig) -> anyhow::Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy_password = uuid::Uuid::now_v7().to_string();
        let dummy = hash_blocking(&params, dummy_password.as_bytes())?;
        let pool = HashPool::start(PoolConfig {
            threads: config.max_concurrent.max(1),
            queue: config.max_queued,
            nice: config.nice,
        })?;
        Ok(Self { params, pool, dummy })
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(Params) -> T + Send + 'static) -> Result<T, InfraError> {
        let params = self.params.clone();
        self.pool.run(move || job(params)).await
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(params: &Params, password: &[u8]) -> anyhow::Result<PasswordHash> {
    let phc = argon2(params.clone()).hash_password(password).map_err(|e| anyhow::anyhow!("argon2 hash failed: {e}"))?;
    Ok(PasswordHash::new(phc.to_string()))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, InfraError> {
        let password = password.expose().to_owned();
        self.run(move |params| hash_blocking(&params, password.as_bytes())).await?.map_err(InfraError::Unknown)
    }

    async fn verify(&self, candidate: &str, hash: Option<PasswordHash>) -> Result<bool, InfraError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.clone());
        let candidate = candidate.to_owned();
        let matches =
            self.run(move |params| argon2(params).verify_password(candidate.as_bytes(), hash.as_str()).is_ok()).await?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Argon2Hasher {
        Argon2Hasher::new(&HashingConfig { memory_kib: 256, iterations: 1, parallelism: 1, ..HashingConfig::default() })
            .expect("params")
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let h = fast();
        let pw = Password::new("correct horse battery staple".into()).expect("valid");
        let a = h.hash(&pw).await.expect("hash");
        let b = h.hash(&pw).await.expect("hash");
        assert!(a.as_str().starts_with("$argon2id$v=19$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(h.verify("correct horse battery staple", Some(a.clone())).await.expect("verify"));
        assert!(!h.verify("wrong horse battery staple", Some(a)).await.expect("verify"));
    }

    #[tokio::test]
    async fn unknown_users_never_match_even_the_dummy_password() {
        let h = fast();
        assert!(!h.verify("anything at all", None).await.expect("verify"));
    }

    #[test]
    fn defaults_are_owasp_parameters() {
        let c = HashingConfig::default();
        assert_eq!((c.memory_kib, c.iterations, c.parallelism), (19_456, 2, 1));
    }
}
