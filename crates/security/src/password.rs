use crate::hash_pool::HashPool;
use argon2::password_hash::phc::{self, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use brokerage_domain::InfraError;
use brokerage_domain::users::{Password, PasswordHash, PasswordHasher};
use std::cell::RefCell;

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
    /// The most of a core a hashing thread uses while the cores are contended (it rests
    /// between hashes to keep to it; `hash_pool.rs`). 1: no limit.
    pub contended_share: f64,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            // One core stays free of hashing: a login storm slows logins, not trading.
            max_concurrent: std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
            max_queued: 128,
            nice: 10,
            contended_share: 0.2,
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
        let pool = HashPool::start(config)?;
        let dummy_password = uuid::Uuid::now_v7().to_string();
        // On a hashing thread, whose argon2 memory stays for later hashes; on the calling
        // thread it would keep 19 MiB for the life of the process.
        let dummy = {
            let params = params.clone();
            pool.run_and_wait(move || hash_blocking(&params, dummy_password.as_bytes()))??
        };
        Ok(Self { params, pool, dummy })
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(Params) -> T + Send + 'static) -> Result<T, InfraError> {
        let params = self.params.clone();
        self.pool.run(move || job(params)).await
    }
}

thread_local! {
    /// Each hashing thread's argon2 working memory (19 MiB at the defaults), allocated at its
    /// first hash and reused: a fresh block per hash cost page faults, zeroing and an
    /// mmap/munmap pair each time, and the kernel's memory-map lock they take is shared with
    /// the threads serving trading. argon2 writes every block before reading it, so reuse is
    /// sound (the crate's own allocation-free entry point exists for exactly this).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes argon2 into `out` with this thread's reused memory.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> anyhow::Result<()> {
    MEMORY.with(|memory| {
        let mut memory = memory.try_borrow_mut().map_err(|_| anyhow::anyhow!("argon2 memory already in use"))?;
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let blocks = memory.get_mut(..blocks).ok_or_else(|| anyhow::anyhow!("argon2 memory too small"))?;
        argon2.hash_password_into_with_memory(password, salt, out, blocks).map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
}

fn hash_blocking(params: &Params, password: &[u8]) -> anyhow::Result<PasswordHash> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2_into(&argon2, params, password, &salt, &mut out)?;
    let phc = phc::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(PasswordHash::new(phc.to_string()))
}

/// Whether `password` matches the PHC string `stored`, with the parameters stored in it
/// (hashes made under older settings still verify). The comparison is constant-time.
fn verify_blocking(password: &[u8], stored: &str) -> bool {
    let matches = || -> anyhow::Result<bool> {
        let parsed = phc::PasswordHash::new(stored).map_err(|e| anyhow::anyhow!("{e}"))?;
        let algorithm = Algorithm::new(parsed.algorithm.as_str()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let version = parsed.version.map(Version::try_from).transpose().map_err(|e| anyhow::anyhow!("{e}"))?;
        let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return Ok(false) };
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
        argon2_into(&argon2, &params, password, salt.as_ref(), &mut out)?;
        Ok(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))? == expected)
    };
    matches().unwrap_or(false)
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
        let matches = self.run(move |_| verify_blocking(candidate.as_bytes(), hash.as_str())).await?;
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
    fn hashes_are_interchangeable_with_the_argon2_crates_own_phc_strings() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let small = Params::new(256, 1, 1, None).expect("params");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, small.clone())
            .hash_password(b"stored before this change")
            .expect("hash")
            .to_string();
        assert!(verify_blocking(b"stored before this change", &theirs), "older stored hashes still verify");
        assert!(!verify_blocking(b"stored before this chang", &theirs));
        // Ours, at two sizes on one thread (the reused memory is bigger than the second needs).
        for params in [Params::new(1024, 1, 1, None).expect("params"), small] {
            let ours = hash_blocking(&params, b"made here").expect("hash");
            let parsed = phc::PasswordHash::new(ours.as_str()).expect("a PHC string");
            assert!(Argon2::default().verify_password(b"made here", &parsed).is_ok(), "{}", ours.as_str());
            assert!(verify_blocking(b"made here", ours.as_str()));
        }
        for garbage in
            ["", "$argon2id$v=19$m=256,t=1,p=1$", "plain text", "$argon2id$v=99$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA"]
        {
            assert!(!verify_blocking(b"x", garbage), "{garbage:?}");
        }
    }

    #[test]
    fn defaults_are_owasp_parameters() {
        let c = HashingConfig::default();
        assert_eq!((c.memory_kib, c.iterations, c.parallelism), (19_456, 2, 1));
    }
}
