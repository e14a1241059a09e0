//! The OpenAPI document: current in `docs/`, served as the CLI prints it, and describing
//! exactly the routes the code mounts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use provisiond::Role;
use serde_json::Value;

use crate::helpers::*;

const REGENERATE: &str = "cargo run -q -- openapi > docs/openapi.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    serde_json::from_str(provisiond::openapi::json()).expect("the document is JSON")
}

/// `(METHOD, path)` of every operation the document describes.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    operations
}

#[test]
fn document_in_docs_is_current() {
    let path = root().join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = provisiond::openapi::json();
    assert!(
        committed == generated,
        "docs/openapi.json is not the document the code generates; regenerate it with `{REGENERATE}` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_of_provisiond_and_every_reference_resolves() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "provisiond");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");
    let mut references = BTreeSet::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
    // serde writes `None` as `null`: such fields are present, so required.
    let schemas = &document["components"]["schemas"];
    let required = |schema: &str| schemas[schema]["required"].as_array().unwrap().clone();
    assert!(required("EventView").contains(&Value::from("reason")));
    assert!(!required("ReadinessChecks").contains(&Value::from("worker")));
    assert!(schemas["HoldDecisionRequest"].get("required").is_none());
    for (method, path) in documented(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let admin = path.starts_with("/admin/");
        assert_eq!(
            operation.get("security").is_some(),
            admin,
            "{method} {path}: only admin routes need the bearer token"
        );
        if admin {
            assert!(
                operation["responses"].get("401").is_some(),
                "{method} {path}"
            );
        }
        if admin && method == "POST" {
            assert!(
                operation["responses"].get("403").is_some(),
                "{method} {path}"
            );
        }
    }
}

fn collect_refs(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                into.insert(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

/// `(METHOD, path)` of every `.route("path", method(…))` under `src/` (the benchmark's
/// stand-in receiver and the operator console's HTML pages aside: the console is a web
/// page for people, docs/console.md, not part of the API), with the prefix `startup`
/// nests its module under.
fn mounted() -> BTreeSet<(String, String)> {
    let src = root().join("src");
    let startup = std::fs::read_to_string(src.join("startup.rs")).unwrap();
    let nests = nests(&startup);
    let mut routes = BTreeSet::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.components().next().unwrap().as_os_str();
        let module = module.to_str().unwrap().trim_end_matches(".rs");
        if module == "bench" || module == "console" {
            continue;
        }
        let prefix = nests
            .iter()
            .find(|(_, m)| m == module)
            .map_or("", |(p, _)| p.as_str());
        let text = std::fs::read_to_string(&file).unwrap();
        for (method, path) in routes_in(&text) {
            routes.insert((method, format!("{prefix}{path}")));
        }
    }
    routes
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first string literal at the start of `text` (after whitespace), and the rest.
fn literal(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start().strip_prefix('"')?;
    let end = text.find('"')?;
    Some((&text[..end], &text[end + 1..]))
}

/// `.nest("/prefix", crate::module::…)` → `("/prefix", "module")`.
fn nests(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(".nest(") {
        let Some((prefix, rest)) = literal(&text[at + ".nest(".len()..]) else {
            continue;
        };
        let rest = rest.trim_start().trim_start_matches(',').trim_start();
        if let Some(rest) = rest.strip_prefix("crate::") {
            let module: String = rest.chars().take_while(|c| *c != ':').collect();
            found.push((prefix.to_owned(), module));
        }
    }
    found
}

fn routes_in(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(".route(") {
        let call = &text[at + ".route(".len()..];
        let Some((path, _)) = literal(call) else {
            continue;
        };
        for method in methods(arguments(call)) {
            found.push((method, path.to_owned()));
        }
    }
    found
}

/// The text of a call's arguments: up to its closing parenthesis.
fn arguments(call: &str) -> &str {
    let mut depth = 0;
    for (i, c) in call.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &call[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    call
}

/// The methods of a method router such as `get(a).post(b)` or `axum::routing::get(a)`.
fn methods(router: &str) -> Vec<String> {
    let mut found = Vec::new();
    for method in ["get", "post", "put", "patch", "delete"] {
        for (at, _) in router.match_indices(&format!("{method}(")) {
            let before = router[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
                found.push(method.to_uppercase());
            }
        }
    }
    found
}

#[test]
fn the_route_scan_reads_method_chains_and_nests() {
    let text = r#"Router::new().route("/a/{id}", get(show).post(act))
        .route(
            "/b",
            axum::routing::delete(remove),
        )
        .nest("/console", crate::console::router(state))"#;
    let routes = routes_in(text);
    let expected = [("GET", "/a/{id}"), ("POST", "/a/{id}"), ("DELETE", "/b")];
    let expected: Vec<_> = expected.map(|(m, p)| (m.to_owned(), p.to_owned())).into();
    assert_eq!(routes, expected);
    assert_eq!(nests(text), [("/console".to_owned(), "console".to_owned())]);
}

#[test]
fn every_mounted_route_is_documented_and_nothing_else() {
    let mounted = mounted();
    assert!(mounted.contains(&("POST".into(), "/webhooks/{source}".into())));
    assert!(mounted.contains(&("GET".into(), "/admin/holds".into())));
    let documented = documented(&document());
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "mounted but not in the document (add #[utoipa::path] and list it in src/openapi/mod.rs): {undocumented:?}"
    );
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        unmounted.is_empty(),
        "documented but mounted nowhere: {unmounted:?}"
    );
}

/// A request to `path` with its placeholders filled in.
fn concrete(path: &str) -> String {
    path.replace("{source}", "hris")
        .replace("{employee_id}", "nobody")
        .replace("{id}", "987654321")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_answers_a_documented_status() {
    let app = spawn_app(Role::All).await;
    let document = document();
    for (method, path) in documented(&document) {
        let url = format!("{}{}", app.address, concrete(&path));
        let request = match method.as_str() {
            "GET" => app.client.get(url),
            "POST" => app.client.post(url),
            other => panic!("unexpected method {other}"),
        };
        let response = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.bytes().await.unwrap();
        // The router's own 404 and 405 have no body; a handler's 404 is a JSON error.
        assert_ne!(status, 405, "{method} {path} is not routed for {method}");
        if status == 404 {
            let error: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{method} {path}: the router's 404, not routed"));
            assert!(error["error"].is_string(), "{method} {path}: {error}");
        }
        let answers = &document["paths"][&path][method.to_lowercase()]["responses"];
        let answer = &answers[status.to_string()];
        assert!(
            answer.is_object(),
            "{method} {path} answered {status}, which the document does not list"
        );
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let declared = answer["content"].as_object().expect("a documented body");
        assert!(
            declared
                .keys()
                .any(|k| k.split(';').next().unwrap().trim() == media),
            "{method} {path} answered {status} as {content_type}, documented as {:?}",
            declared.keys().collect::<Vec<_>>()
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn openapi_json_is_served_without_a_token_and_is_what_the_cli_prints() {
    let app = spawn_app(Role::Receiver).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/json");
    let served = response.text().await.unwrap();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("openapi")
        .env_remove("PROVISIOND_CONFIG")
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert_eq!(served, String::from_utf8(printed.stdout).unwrap());
    assert_eq!(served, provisiond::openapi::json());
    app.cleanup().await;
}

/// Found by scripts/schemathesis: a query field given twice was answered with axum's
/// plain-text 400, not the documented JSON error.
#[tokio::test]
async fn a_query_the_handler_cannot_read_is_a_json_bad_request() {
    let app = spawn_app(Role::Receiver).await;
    for path in [
        "/admin/dead-letters?status=dead&status=dead",
        "/admin/holds?status=held&status=all",
        "/admin/audit/deprovision?sla=1h&sla=2h",
        "/admin/audit/deprovision.csv?since=1d&since=2d",
    ] {
        let response = app.admin_get(path).await;
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, "application/json", "{path}");
        let error = json_of(response, 400).await;
        assert_eq!(error["error"], "bad_request", "{path}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("duplicate field"), "{path}: {message}");
    }
    app.cleanup().await;
}

/// An admin body over axum's limit was answered with its plain-text 413.
#[tokio::test]
async fn an_admin_body_over_the_limit_is_a_json_413() {
    let app = spawn_app(Role::Receiver).await;
    let big = vec![b' '; 2 * 1024 * 1024 + 1];
    for path in ["/admin/holds/release", "/admin/dead-letters/replay"] {
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .bearer_auth(ADMIN_TOKEN)
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert_eq!(content_type, "application/json", "{path}");
        let error = json_of(response, 413).await;
        assert_eq!(error["error"], "payload_too_large", "{path}");
    }
    app.cleanup().await;
}
