//! The OpenAPI document and the router agree: every route of the router has
//! its path and methods in the document, and every documented operation is
//! routed. The router's paths are read from the built router itself (its
//! `Debug` lists its route table); its methods from how the served
//! application answers (405 for a method a path does not route).
//!
//! Also: `GET /api/v1/openapi.json` needs no credentials and serves that
//! document; `GET /api/docs` is a page built only from local assets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use alertledger_api::openapi;
use reqwest::Method;
use support::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The paths of the router `routes::all()` builds (and `router()` serves).
fn router_paths() -> BTreeSet<String> {
    let (router, _) = alertledger_api::routes::all().split_for_parts();
    let debug = format!("{router:?}");
    // axum's route table prints as `RouteId(N): "/path"`.
    let mut paths = BTreeSet::new();
    for piece in debug.split("RouteId(").skip(1) {
        if let Some(rest) = piece.split_once("): \"").map(|(_, rest)| rest) {
            if let Some((path, _)) = rest.split_once('"') {
                // axum's own catch-all of the fallback router is not a route.
                if !path.contains("__private__axum") {
                    paths.insert(path.to_owned());
                }
            }
        }
    }
    paths
}

/// Documented methods per path.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let document = serde_json::to_value(openapi::document()).unwrap();
    let paths = document["paths"].as_object().expect("paths").clone();
    paths
        .into_iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(|method| (*method).to_owned())
                .collect();
            (path, methods)
        })
        .collect()
}

#[test]
fn every_router_path_is_documented_and_every_documented_path_is_routed() {
    let routed = router_paths();
    assert!(
        routed.len() > 40,
        "the router's route table was not read: {routed:?}"
    );
    let documented: BTreeSet<String> = documented().into_keys().collect();
    let undocumented: Vec<&String> = routed.difference(&documented).collect();
    let unrouted: Vec<&String> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a path in the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented paths the router does not have: {unrouted:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_security_schemes_and_the_error_body() {
    let document = serde_json::to_value(openapi::document()).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    assert_eq!(schemes["bearer_jwt"]["bearerFormat"], "JWT");
    assert_eq!(schemes["api_key_header"]["name"], "X-API-Key");
    assert_eq!(schemes["api_key_query"]["in"], "query");
    let error = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"][0], "error");
    // Every operation documents at least one response, and every route with
    // credentials documents its 401.
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            let open = operation["security"]
                .as_array()
                .is_some_and(|alternatives| {
                    alternatives.iter().any(|s| s == &serde_json::json!({}))
                });
            if !open && path.starts_with("/api/v1/") {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} needs credentials but documents no 401"
                );
            }
        }
    }
}

#[tokio::test]
async fn documented_methods_are_routed_and_others_are_not() {
    let app = TestApp::spawn_without_background().await;
    let documented = documented();
    let filler = uuid::Uuid::new_v4().to_string();
    for path in router_paths() {
        let concrete: String = {
            let mut out = String::new();
            let mut rest = path.as_str();
            while let Some(start) = rest.find('{') {
                out.push_str(&rest[..start]);
                out.push_str(&filler);
                let end = rest[start..].find('}').unwrap();
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            out
        };
        for method in METHODS {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{}", app.address, concrete),
                )
                .send()
                .await
                .unwrap();
            let routed = response.status() != reqwest::StatusCode::METHOD_NOT_ALLOWED;
            let is_documented = documented.get(&path).is_some_and(|m| m.contains(method));
            // `/ws` answers 405 itself to a GET that is not an upgrade.
            if path == "/ws" && method == "get" {
                continue;
            }
            assert_eq!(
                routed, is_documented,
                "{method} {path}: routed {routed}, documented {is_documented}"
            );
        }
    }
}

#[tokio::test]
async fn the_document_is_served_without_credentials() {
    let app = TestApp::spawn_without_background().await;
    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served: serde_json::Value = response.json().await.unwrap();
    assert_eq!(served, serde_json::to_value(openapi::document()).unwrap());
    assert!(served["paths"]["/api/v1/incidents/{id}"]["get"].is_object());
}

#[tokio::test]
async fn the_docs_page_uses_only_local_assets() {
    let app = TestApp::spawn_without_background().await;
    let response = app
        .client
        .get(format!("{}/api/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !csp.contains("http"),
        "the policy allows another origin: {csp}"
    );
    assert!(csp.contains("script-src 'self'"));
    let html = response.text().await.unwrap();
    let mut references = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            references.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    assert!(references.len() >= 3, "the page references {references:?}");
    for reference in &references {
        assert!(
            reference.starts_with("/api/docs/"),
            "{reference} is not one of this service's assets"
        );
        let asset = app
            .client
            .get(format!("{}{}", app.address, reference))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{reference}");
        let body = asset.text().await.unwrap();
        assert!(!body.is_empty());
        if reference.ends_with("init.js") {
            assert!(body.contains("/api/v1/openapi.json"));
            assert!(!body.contains("http://") && !body.contains("https://"));
        }
    }
    let license = app
        .client
        .get(format!("{}/api/docs/LICENSE", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(license.status(), 200);
    assert!(license.text().await.unwrap().contains("Apache License"));
}
