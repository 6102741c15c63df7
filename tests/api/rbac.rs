//! Route × role: every API route, called with no credentials and as each role, answers as
//! the access table says (`brokerage_http::access::API_ROUTES`).

use brokerage_domain::rbac::permissions_of;
use brokerage_domain::users::Role;
use brokerage_e2e::{PASSWORD, TestApp};
use brokerage_http::access::{API_ROUTES, Access};
use reqwest::{Method, StatusCode};
use serde_json::json;

pub async fn every_route_answers_each_role_as_the_access_table_says(app: &TestApp) {
    let mut callers = vec![(None, None)];
    for role in Role::ALL {
        let user = app.user_with_role(role).await;
        callers.push((Some(role), Some(user)));
    }
    let mut checked = 0;
    for route in API_ROUTES {
        let path = route
            .path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{symbol}", "AAPL")
            .replace("{client_order_id}", "no-such-order");
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        let body = matches!(route.method, "POST" | "PATCH").then(|| json!({}));
        for (role, user) in &callers {
            // Logging out ends the session; use a fresh one so later routes keep theirs.
            let fresh;
            let token = match (user, route.path.ends_with("/logout")) {
                (Some(u), true) => {
                    fresh = app.login(&u.email, PASSWORD).await;
                    Some(fresh.token.as_str())
                }
                (Some(u), false) => Some(u.token.as_str()),
                (None, _) => None,
            };
            let reply = app.request(method.clone(), &path, token, body.clone()).await;
            let what = format!("{} {} as {role:?}: {} {:?}", route.method, route.path, reply.status, reply.body);
            match (route.access, role) {
                (Access::Public, _) => {
                    assert!(reply.status != StatusCode::FORBIDDEN, "{what}");
                }
                (Access::Needs(_), None) => {
                    assert_eq!((reply.status, reply.error()), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{what}");
                }
                (Access::Needs(permission), Some(role)) if permissions_of(*role).contains(&permission) => {
                    assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&reply.status), "{what}");
                    assert!(!reply.status.is_server_error(), "{what}");
                }
                (Access::Needs(_), Some(_)) => {
                    assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "forbidden"), "{what}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, API_ROUTES.len() * 4);
}
