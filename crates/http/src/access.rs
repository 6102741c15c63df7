//! Who may call which route: the route side of RBAC. Each API route names the permission it
//! needs (from the domain's single role → permission table, `brokerage_domain::rbac`); the
//! services enforce it, and the route × role test in `tests/api/rbac.rs` walks this table
//! with every role and with no credentials. The OpenAPI test checks that this table and the
//! documented routes are the same set, so a new route cannot skip it.

use brokerage_domain::Permission;

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no credentials (register, login, refresh, health, docs).
    Public,
    /// An authenticated caller holding this permission.
    Needs(Permission),
}

/// One API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAccess {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> RouteAccess {
    RouteAccess { method, path, access }
}

use Access::{Needs, Public};
use Permission::{Administer, MoveFunds, ReadAll, ReadOwn, Trade};

/// Every `/api/v1` route.
pub const API_ROUTES: &[RouteAccess] = &[
    route("POST", "/api/v1/auth/register", Public),
    route("POST", "/api/v1/auth/login", Public),
    route("POST", "/api/v1/auth/refresh", Public),
    route("POST", "/api/v1/auth/logout", Needs(ReadOwn)),
    route("POST", "/api/v1/auth/password", Needs(ReadOwn)),
    route("POST", "/api/v1/auth/2fa/setup", Needs(ReadOwn)),
    route("POST", "/api/v1/auth/2fa/enable", Needs(ReadOwn)),
    route("POST", "/api/v1/auth/2fa/disable", Needs(ReadOwn)),
    route("GET", "/api/v1/me", Needs(ReadOwn)),
    route("POST", "/api/v1/api-keys", Needs(ReadOwn)),
    route("GET", "/api/v1/api-keys", Needs(ReadOwn)),
    route("DELETE", "/api/v1/api-keys/{id}", Needs(ReadOwn)),
    // Webhooks deliver only what the caller may already read (its own trade updates) and
    // move nothing: ReadOwn, so a read-scoped API key can register its program's endpoint.
    route("POST", "/api/v1/webhooks", Needs(ReadOwn)),
    route("GET", "/api/v1/webhooks", Needs(ReadOwn)),
    route("DELETE", "/api/v1/webhooks/{id}", Needs(ReadOwn)),
    route("GET", "/api/v1/webhooks/{id}/deliveries", Needs(ReadOwn)),
    // The funding provider proves itself with its `X-Signature` (see `funding`), not a session.
    route("POST", "/api/v1/webhooks/funding", Public),
    route("GET", "/api/v1/account", Needs(ReadOwn)),
    route("POST", "/api/v1/account/deposits", Needs(MoveFunds)),
    route("POST", "/api/v1/account/withdrawals", Needs(MoveFunds)),
    route("GET", "/api/v1/account/activities", Needs(ReadOwn)),
    route("POST", "/api/v1/orders", Needs(Trade)),
    route("GET", "/api/v1/orders", Needs(ReadOwn)),
    route("GET", "/api/v1/orders/{id}", Needs(ReadOwn)),
    route("GET", "/api/v1/orders/by-client-id/{client_order_id}", Needs(ReadOwn)),
    route("DELETE", "/api/v1/orders/{id}", Needs(Trade)),
    route("PATCH", "/api/v1/orders/{id}", Needs(Trade)),
    route("DELETE", "/api/v1/orders", Needs(Trade)),
    route("GET", "/api/v1/events", Needs(ReadOwn)),
    route("GET", "/api/v1/positions", Needs(ReadOwn)),
    route("GET", "/api/v1/positions/{symbol}", Needs(ReadOwn)),
    route("DELETE", "/api/v1/positions/{symbol}", Needs(Trade)),
    route("GET", "/api/v1/portfolio", Needs(ReadOwn)),
    route("GET", "/api/v1/market-data/quotes/{symbol}", Needs(ReadOwn)),
    route("GET", "/api/v1/market-data/clock", Needs(ReadOwn)),
    route("GET", "/api/v1/admin/users", Needs(ReadAll)),
    route("PATCH", "/api/v1/admin/users/{id}", Needs(Administer)),
    route("GET", "/api/v1/admin/orders", Needs(ReadAll)),
    route("POST", "/api/v1/admin/symbols/{symbol}/halt", Needs(Administer)),
    route("POST", "/api/v1/admin/symbols/{symbol}/resume", Needs(Administer)),
];

/// The route a request is for, matching `{param}` segments against any non-empty segment.
/// A path that some route names literally (`/webhooks/funding`) is that route's only: it is
/// never taken for a `{param}` (`/webhooks/{id}`), as the router does.
pub fn route_for(method: &str, path: &str) -> Option<&'static RouteAccess> {
    let literal = API_ROUTES.iter().any(|r| r.path == path);
    API_ROUTES
        .iter()
        .find(|r| r.method == method && if literal { r.path == path } else { pattern_matches(r.path, path) })
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_patterns_only() {
        let id = "01a214a0-7fc8-7419-a042-74b5683c0dbd";
        assert_eq!(route_for("GET", &format!("/api/v1/orders/{id}")).map(|r| r.path), Some("/api/v1/orders/{id}"));
        assert_eq!(
            route_for("GET", "/api/v1/orders/by-client-id/abc").map(|r| r.path),
            Some("/api/v1/orders/by-client-id/{client_order_id}")
        );
        assert_eq!(route_for("GET", "/api/v1/orders/").map(|r| r.path), None, "an empty id is no id");
        assert_eq!(route_for("PUT", "/api/v1/orders").map(|r| r.path), None);
        assert_eq!(route_for("GET", "/api/v1/orders/a/b").map(|r| r.path), None);
        assert_eq!(route_for("POST", "/api/v1/webhooks/funding").map(|r| r.access), Some(Access::Public));
        assert_eq!(route_for("DELETE", "/api/v1/webhooks/funding").map(|r| r.path), None, "not a webhook id");
    }

    /// The OpenAPI tests prove every route the app answers is documented; this proves every
    /// documented `/api/v1` operation has an entry here, and nothing else does.
    #[test]
    fn the_access_table_lists_exactly_the_documented_api_operations() {
        let doc = serde_json::to_value(crate::openapi::document()).expect("serialisable");
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "patch", "delete"] {
                if path.starts_with("/api/v1") && item.get(method).is_some() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let table: std::collections::BTreeSet<_> =
            API_ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
        assert_eq!(table, documented, "add each new route to API_ROUTES with the permission it needs");
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, a) in API_ROUTES.iter().enumerate() {
            assert!(API_ROUTES[i + 1..].iter().all(|b| (a.method, a.path) != (b.method, b.path)), "{a:?}");
        }
    }
}
