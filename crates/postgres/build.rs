//! `embed_migrations!` reads `migrations/` at compile time, but a proc macro cannot tell Cargo
//! to watch it: this script does, so a new or edited migration always rebuilds the crate.
//! It also fingerprints the migrations (FNV-1a over every file's path and bytes) into
//! `BROKERAGE_MIGRATIONS_HASH`, which names the test template database: a schema change gets
//! a fresh template instead of reusing a stale one.

use std::path::{Path, PathBuf};
use std::{env, fs, io};

fn main() -> io::Result<()> {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?).join("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files = Vec::new();
    collect(&dir, &mut files)?;
    files.sort();

    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for file in &files {
        let relative = file.strip_prefix(&dir).unwrap_or(file);
        feed(relative.to_string_lossy().as_bytes());
        feed(&[0]);
        feed(&fs::read(file)?);
        feed(&[0]);
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rustc-env=BROKERAGE_MIGRATIONS_HASH={:08x}", (hash >> 32) ^ (hash & 0xffff_ffff));
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
