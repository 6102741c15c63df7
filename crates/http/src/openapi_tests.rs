//! The OpenAPI document against the application it describes: every route the app answers is
//! documented (and nothing else), the statuses it answers are documented, the error codes of
//! `errors.rs` are listed, the checked-in `docs/openapi.json` is current, and the Swagger UI is
//! served from the binary.

use crate::api_tests::Mocks;
use crate::openapi::{self, ERROR_CODES};
use crate::{ApiError, HttpConfig, app};
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::test::{self, TestRequest};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p brokerage-http openapi";

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn document_json() -> Value {
    serde_json::to_value(openapi::document()).expect("the document serialises")
}

#[test]
fn openapi_checked_in_document_is_up_to_date() {
    let current = openapi::pretty_json().expect("the document serialises");
    let path = checked_in_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).expect("write docs/openapi.json");
        eprintln!("wrote {}", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != current {
        let line = checked_in
            .lines()
            .zip(current.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| checked_in.lines().count().min(current.lines().count()) + 1, |i| i + 1);
        panic!(
            "docs/openapi.json is out of date with the code (first difference at line {line}).\n\
             Regenerate it and commit the result:\n\n    {REGENERATE}\n"
        );
    }
}

// ---- the routes the application answers ------------------------------------------------------

async fn resource_map(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().body(format!("{:#?}", req.resource_map()))
}

const PROBE_PATH: &str = "/__test/resource-map";

/// Full patterns of the leaves of actix's resource tree, read from its `Debug` output
/// (actix has no public iterator over routes). Scopes nest: a leaf's pattern is its scopes'
/// patterns followed by its own.
fn leaf_patterns(debug: &str) -> Vec<String> {
    let lines: Vec<&str> = debug.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    // (indent of the `ResourceMap {` line, its own pattern)
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut leaves = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.ends_with("ResourceMap {") {
            let level = indent(line);
            stack.retain(|(l, _)| *l < level);
            stack.push((level, String::new()));
        } else if trimmed == "patterns: Single(" {
            let pattern =
                lines.get(i + 1).map(|l| l.trim().trim_end_matches(',').trim_matches('"')).unwrap_or_default();
            if let Some(top) = stack.last_mut() {
                top.1 = pattern.to_owned();
            }
        } else if trimmed.starts_with("patterns: List(") {
            panic!("a resource with several patterns: teach leaf_patterns to read it");
        } else if trimmed == "nodes: None," {
            leaves.push(stack.iter().map(|(_, p)| p.as_str()).collect::<String>());
        }
    }
    leaves
}

/// A concrete path for a pattern: every `{param}` becomes `0`.
fn sample_path(pattern: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in pattern.chars() {
        match c {
            '{' => in_param = true,
            '}' if in_param => {
                in_param = false;
                out.push('0');
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// Every `(method, pattern)` the application routes, with the status it answers a request
/// without credentials or body: a method it does not route answers 405.
async fn routed_operations() -> BTreeMap<(String, String), u16> {
    let svc = test::init_service(
        app(Mocks::new().state(), &HttpConfig::default()).service(web::resource(PROBE_PATH).to(resource_map)),
    )
    .await;
    let debug = test::call_and_read_body(&svc, TestRequest::get().uri(PROBE_PATH).to_request()).await;
    let debug = String::from_utf8(debug.to_vec()).expect("utf-8");
    let patterns: Vec<String> =
        leaf_patterns(&debug).into_iter().filter(|p| p != PROBE_PATH && !p.starts_with(openapi::DOCS_PATH)).collect();
    assert!(patterns.len() >= 20, "the resource map walk found too few routes: {patterns:?}");

    let mut routed = BTreeMap::new();
    for pattern in patterns {
        let path = sample_path(&pattern);
        let mut answered = false;
        for method in METHODS {
            let res = svc.call(TestRequest::default().method(method.clone()).uri(&path).to_request()).await;
            let status = res.expect("the app answers").status();
            if status != StatusCode::METHOD_NOT_ALLOWED {
                answered = true;
                routed.insert((method.as_str().to_ascii_lowercase(), pattern.clone()), status.as_u16());
            }
        }
        assert!(answered, "{pattern} (probed as {path}) answers no method: is the pattern constrained?");
    }
    routed
}

/// Every `(method, path)` of the document, with its documented statuses.
fn documented_operations() -> BTreeMap<(String, String), BTreeSet<String>> {
    let doc = document_json();
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                ops.insert((method.clone(), path.clone()), responses.keys().cloned().collect());
            }
        }
    }
    ops
}

#[actix_web::test]
async fn openapi_documents_every_route_the_app_answers_and_nothing_else() {
    let routed = routed_operations().await;
    let documented = documented_operations();
    let undocumented: Vec<_> = routed.keys().filter(|k| !documented.contains_key(*k)).collect();
    assert!(
        undocumented.is_empty(),
        "routes the app answers but the OpenAPI document lacks: {undocumented:?}\n\
         Put #[utoipa::path(...)] on each handler, list it in `paths(...)` of ApiDoc \
         (crates/http/src/openapi.rs), then run {REGENERATE}"
    );
    let phantom: Vec<_> = documented.keys().filter(|k| !routed.contains_key(*k)).collect();
    assert!(phantom.is_empty(), "documented operations the app does not route: {phantom:?}");
}

#[actix_web::test]
async fn openapi_documents_what_each_route_answers_without_credentials() {
    let documented = documented_operations();
    for (op, status) in routed_operations().await {
        let Some(statuses) = documented.get(&op) else { continue };
        assert!(
            statuses.contains(&status.to_string()),
            "{op:?} answers {status} to a request without credentials or body, but documents only {statuses:?}"
        );
    }
}

// ---- the document's shape -------------------------------------------------------------------

#[test]
fn openapi_operations_have_unique_ids_a_tag_and_a_success_answer() {
    let mut ids = BTreeSet::new();
    for ((method, path), _) in documented_operations() {
        let op = &document_json()["paths"][&path][&method];
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operation_id"));
        assert!(ids.insert(id.to_owned()), "operation_id {id} is used twice");
        assert!(op["tags"].as_array().is_some_and(|t| t.len() == 1), "{method} {path} needs one tag");
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path} documents no success");
        for (status, response) in responses {
            let described = response.get("description").is_some() || response.get("$ref").is_some();
            assert!(described, "{method} {path} {status} has no description");
        }
    }
}

#[test]
fn openapi_authenticated_operations_declare_bearer_and_api_key_security() {
    let doc = document_json();
    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    let public = ["register", "login", "refresh"];
    for ((method, path), _) in documented_operations() {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().unwrap_or_default();
        if path.starts_with("/api/v1/") && !public.contains(&id) {
            let security = op["security"].as_array().map(Vec::len).unwrap_or_default();
            assert!(security > 0, "{method} {path} needs security((\"bearer\" = []), (\"api_key\" = []))");
            assert!(op["responses"].get("401").is_some(), "{method} {path} must document 401");
        }
    }
}

#[test]
fn openapi_error_schema_is_the_envelope_the_server_writes() {
    let doc = document_json();
    let schema = &doc["components"]["schemas"]["Error"];
    let documented: BTreeSet<&str> =
        schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
    let res = ApiError::not_found().error_response();
    let body = futures_util::FutureExt::now_or_never(actix_web::body::to_bytes(res.into_body()))
        .expect("ready")
        .expect("body");
    let written: Value = serde_json::from_slice(&body).expect("json");
    let written: BTreeSet<&str> = written.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(documented, written);
    let code_ref = schema["properties"]["error"]["$ref"].as_str().expect("a reference to the codes");
    let code_schema = &doc["components"]["schemas"][code_ref.trim_start_matches("#/components/schemas/")];
    let codes: Vec<&str> = code_schema["enum"].as_array().expect("codes").iter().filter_map(Value::as_str).collect();
    assert!(codes.contains(&"insufficient_buying_power") && codes.contains(&"validation_error"), "{codes:?}");
}

/// Every `$ref` in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_references_all_resolve() {
    let doc = document_json();
    let mut refs = Vec::new();
    references(&doc, &mut refs);
    assert!(refs.len() > 50, "{}", refs.len());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not a local reference"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{r} points nowhere: register the schema in `components(schemas(...))`"
        );
    }
}

/// `StatusCode` constant names as `errors.rs` writes them.
fn status_of(name: &str) -> u16 {
    match name {
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "CONFLICT" => 409,
        "PAYLOAD_TOO_LARGE" => 413,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        "UNPROCESSABLE_ENTITY" => 422,
        "TOO_MANY_REQUESTS" => 429,
        "INTERNAL_SERVER_ERROR" => 500,
        "SERVICE_UNAVAILABLE" => 503,
        "GATEWAY_TIMEOUT" => 504,
        other => panic!("StatusCode::{other} in errors.rs: add it to status_of"),
    }
}

/// The `(status, code)` pairs `errors.rs` can answer, read from its source: `StatusCode::X,
/// "code"`, `StatusCode::X => ("code"`, `unprocessable("code"` and the fallback `_ => ("code"`.
fn codes_in_errors_rs() -> BTreeSet<(u16, String)> {
    let source = include_str!("errors.rs");
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted = |rest: &str| -> Option<String> {
        let rest = rest.strip_prefix('"')?;
        let code = &rest[..rest.find('"')?];
        code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_').then(|| code.to_owned())
    };
    let mut found = BTreeSet::new();
    for (at, _) in flat.match_indices("StatusCode::") {
        let rest = &flat[at + "StatusCode::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
        let after = &rest[name.len()..];
        let code = after.strip_prefix(", ").and_then(quoted).or_else(|| after.strip_prefix(" => (").and_then(quoted));
        if let Some(code) = code {
            found.insert((status_of(&name), code));
        }
    }
    for (at, _) in flat.match_indices("unprocessable(") {
        if let Some(code) = quoted(&flat[at + "unprocessable(".len()..]) {
            found.insert((422, code));
        }
    }
    for (at, _) in flat.match_indices("_ => (") {
        if let Some(code) = quoted(&flat[at + "_ => (".len()..]) {
            found.insert((0, code));
        }
    }
    found
}

#[test]
fn openapi_lists_every_error_code_errors_rs_produces() {
    let found = codes_in_errors_rs();
    assert!(found.len() >= 15, "the scan of errors.rs found too little: {found:?}");
    for (status, code) in &found {
        let listed = ERROR_CODES.iter().any(|(s, codes)| s == status && codes.contains(&code.as_str()));
        assert!(listed, "errors.rs answers {status} `{code}`: add it to ERROR_CODES in openapi.rs");
    }
}

// ---- serving it ------------------------------------------------------------------------------

async fn get(path: &str) -> ServiceResponse<impl MessageBody> {
    let svc = test::init_service(app(Mocks::new().state(), &HttpConfig::default())).await;
    svc.call(TestRequest::get().uri(path).to_request()).await.expect("the app answers")
}

fn header_of<B>(res: &ServiceResponse<B>, name: header::HeaderName) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[actix_web::test]
async fn openapi_document_is_served_as_json() {
    let res = get("/api-docs/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(&res, header::CONTENT_TYPE).starts_with("application/json"));
    let served: Value = serde_json::from_slice(&test::read_body(res).await).expect("json");
    assert_eq!(served, document_json());
    assert_eq!(served["openapi"], "3.1.0");
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary() {
    let res = get("/api-docs").await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header_of(&res, header::LOCATION), "/api-docs/");

    let res = get("/api-docs/").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(&res, header::CONTENT_TYPE).starts_with("text/html"));
    let page = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8");
    assert!(page.contains("swagger-ui-bundle.js"), "{page}");
    assert!(!page.contains("https://"), "the page must not load anything from the internet");

    let res = get("/api-docs/swagger-initializer.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    let script = String::from_utf8(test::read_body(res).await.to_vec()).expect("utf-8");
    assert!(script.contains("/api-docs/openapi.json"), "{script}");

    let res = get("/api-docs/swagger-ui-bundle.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(test::read_body(res).await.len() > 100_000, "the bundled UI script");
}

#[test]
fn openapi_idempotency_key_is_a_header_parameter_ready_for_handlers() {
    use utoipa::IntoParams;
    let params = openapi::IdempotencyKey::into_params(|| None);
    let json = serde_json::to_value(&params).expect("serialises");
    assert_eq!(json[0]["name"], "Idempotency-Key");
    assert_eq!(json[0]["in"], "header");
    assert_eq!(json[0]["required"], false);
    assert_eq!(json[0]["schema"]["maxLength"], 255);
}

#[test]
fn openapi_documents_idempotency_key_where_it_is_honoured() {
    let doc = document_json();
    for path in crate::idempotency::IDEMPOTENT_POSTS {
        let op = &doc["paths"][path]["post"];
        assert!(op.is_object(), "POST {path} is not documented");
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        assert!(
            params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"),
            "POST {path} must document the Idempotency-Key header"
        );
        let conflict = op["responses"]["409"]["description"].as_str().unwrap_or_default();
        let reused = op["responses"]["422"]["description"].as_str().unwrap_or_default();
        assert!(conflict.contains("idempotency_key_in_use") && reused.contains("idempotency_key_reused"), "{path}");
    }
}
