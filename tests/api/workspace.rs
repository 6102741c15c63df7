//! The architecture's one hard rule, checked: the domain crate depends on no I/O crate.

#[test]
fn the_domain_crate_depends_on_no_io_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-e", "normal", "-p", "brokerage-domain", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for forbidden in ["actix", "diesel", "redis", "bb8", "reqwest", "hyper", "tokio-postgres", "tokio"] {
            assert!(!name.starts_with(forbidden), "the domain depends on {name}");
        }
    }
}
