use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

const COMMITTED: &str = "openapi/openapi.json";

/// The committed spec must equal what the code generates. To accept an
/// intended API change: `UPDATE_OPENAPI=1 cargo test --test api openapi`.
#[test]
fn the_committed_spec_matches_the_code() {
    let generated = richesreach_chat::openapi::spec_json() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the spec");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} differs from the spec the code generates.\n\
         If the API change is intended, regenerate it with:\n    UPDATE_OPENAPI=1 cargo test --test api openapi\n\
         and commit the file."
    );
}

#[tokio::test]
async fn the_served_spec_is_openapi_3_1_and_covers_the_contract() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The OpenAPI document is not one of the API's types: it is read as raw
    // JSON on purpose.
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed: Value = serde_json::from_str(&richesreach_chat::openapi::spec_json()).unwrap();
    assert_eq!(spec, committed);

    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/auth/register", &["post"][..]),
        ("/auth/token", &["post"]),
        ("/auth/refresh", &["post"]),
        ("/auth/me", &["get"]),
        ("/sessions", &["get", "post"]),
        ("/sessions/{id}", &["get", "patch", "delete"]),
        ("/sessions/{id}/messages", &["get", "post"]),
        ("/admin/stats", &["get"]),
        ("/admin/users", &["get"]),
        ("/admin/users/{id}", &["patch"]),
        ("/admin/sessions", &["get"]),
        ("/admin/sessions/{id}/messages", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} is documented"
            );
        }
    }
    assert!(
        !paths.contains_key("/admin/"),
        "the console's HTML page is not an API operation (no SDK method for it)"
    );
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["responses"]["default"].is_object(),
                "{method} {path} documents a default error response"
            );
        }
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        paths["/sessions"]["get"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    let send = &paths["/sessions/{id}/messages"]["post"]["responses"];
    // The streamed form is documented on its twin, so clients generated
    // from the document type each form on its own.
    let twin = &paths["/sessions/{id}/messages/stream"]["post"]["responses"];
    assert!(
        twin["200"]["content"]["text/event-stream"].is_object(),
        "the SSE response is documented"
    );
    assert!(send["200"].is_null());
    assert!(send["201"]["content"]["application/json"].is_object());
    for schema in [
        "User",
        "Session",
        "Message",
        "Source",
        "TokenPair",
        "ErrorResponse",
        "Stats",
    ] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

/// The durable-reply additions: endpoints, fields, headers and events.
#[test]
fn the_document_describes_durable_replies() {
    let spec: Value =
        serde_json::from_str(&richesreach_chat::openapi::spec_json()).expect("the spec is JSON");
    let paths = &spec["paths"];
    for (path, method) in [
        ("/sessions/{id}/messages/stream", "post"),
        ("/sessions/{id}/messages/{message_id}", "get"),
        ("/sessions/{id}/messages/{message_id}/events", "get"),
        ("/sessions/{id}/messages/{message_id}/stop", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    let header_params = |path: &str, method: &str| -> Vec<String> {
        paths[path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (path, method) in [
        ("/sessions", "post"),
        ("/sessions/{id}/messages", "post"),
        ("/sessions/{id}/messages/stream", "post"),
    ] {
        assert_eq!(header_params(path, method), ["Idempotency-Key"]);
        let responses = &paths[path][method]["responses"];
        let success = if method == "post" && path.ends_with("stream") {
            "200"
        } else {
            "201"
        };
        assert!(
            responses[success]["headers"]["Idempotent-Replayed"].is_object(),
            "{path}"
        );
        assert!(responses["409"].is_object(), "{path}: idempotency_conflict");
    }
    assert_eq!(
        header_params("/sessions/{id}/messages/{message_id}/events", "get"),
        ["Last-Event-ID"]
    );
    let message = &spec["components"]["schemas"]["Message"];
    for field in ["status", "superseded_by", "feedback"] {
        assert!(message["properties"][field].is_object(), "Message.{field}");
        assert!(
            message["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == field),
            "Message.{field} is always present"
        );
    }
    let twin = &paths["/sessions/{id}/messages/stream"]["post"]["responses"]["200"]["content"];
    assert_eq!(
        twin["text/event-stream"]["schema"]["$ref"],
        "#/components/schemas/ReplyStreamEvent"
    );
    let events: Vec<&str> = spec["components"]["schemas"]["ReplyStreamEvent"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["properties"]["event"]["enum"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "user_message",
            "reply_started",
            "delta",
            "assistant_message",
            "error"
        ]
    );
}
