use crate::common::env;
use brokerage_domain::market::{ASSET_LIST, AssetStore, Symbol};

#[tokio::test]
async fn the_migration_seeds_exactly_the_domain_asset_list() {
    let env = env().await;
    let stored = env
        .db
        .texts("SELECT symbol || '|' || name || '|' || tradable || '|' || fractionable AS value FROM assets ORDER BY symbol")
        .await
        .expect("assets readable");
    let stored: Vec<String> = stored.into_iter().map(|v| v.expect("no null")).collect();
    // ASSET_LIST is sorted by symbol (a domain test checks it), like the query.
    let expected: Vec<String> =
        ASSET_LIST.iter().map(|a| format!("{}|{}|{}|{}", a.symbol, a.name, a.tradable, a.fractionable)).collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn assets_are_read_by_symbol() {
    let env = env().await;
    let get = |s: &str| {
        let store = env.store.clone();
        let symbol = Symbol::parse(s).expect("valid");
        async move { store.get(&symbol).await.expect("readable") }
    };
    let brk = get("BRK.B").await.expect("listed");
    assert_eq!((brk.name.as_str(), brk.tradable, brk.fractionable), ("Berkshire Hathaway Inc. Class B", true, true));
    let mcd = get("MCD").await.expect("listed");
    assert_eq!(mcd.name, "McDonald's Corporation");
    let tqqq = get("TQQQ").await.expect("listed");
    assert!(tqqq.tradable && !tqqq.fractionable);
    assert!(!get("TWTR").await.expect("listed").tradable);
    assert_eq!(get("ZZZZ").await, None);
}
