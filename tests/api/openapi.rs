use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app};

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
    // `Message` is one of its shapes by role and status; each has every field.
    let schemas = &spec["components"]["schemas"];
    for shape in ["UserMessage", "CompleteReply", "IncompleteReply"] {
        let message = &schemas[shape];
        for field in ["status", "superseded_by", "feedback"] {
            assert!(message["properties"][field].is_object(), "{shape}.{field}");
            assert!(
                message["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == field),
                "{shape}.{field} is always present"
            );
        }
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

/// `Message` is typed by role and status: a generated client narrows on
/// `role`, then a reply on `status`, and a finished reply's `model`,
/// `confidence` and `latency_ms` are never null.
#[test]
fn messages_are_typed_by_role_and_status() {
    let spec: Value =
        serde_json::from_str(&richesreach_chat::openapi::spec_json()).expect("the spec is JSON");
    let schemas = &spec["components"]["schemas"];
    let refs = |schema: &Value| -> Vec<String> {
        schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["$ref"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        refs(&schemas["Message"]),
        [
            "#/components/schemas/UserMessage",
            "#/components/schemas/AssistantMessage"
        ]
    );
    assert_eq!(
        refs(&schemas["AssistantMessage"]),
        [
            "#/components/schemas/CompleteReply",
            "#/components/schemas/IncompleteReply"
        ]
    );
    assert_eq!(
        schemas["AssistantMessage"]["discriminator"]["propertyName"],
        "status"
    );
    let field = |shape: &str, name: &str| schemas[shape]["properties"][name].clone();
    assert_eq!(
        field("UserMessage", "role")["enum"],
        serde_json::json!(["user"])
    );
    assert_eq!(
        field("UserMessage", "status")["enum"],
        serde_json::json!(["complete"])
    );
    assert_eq!(
        field("UserMessage", "fallback")["enum"],
        serde_json::json!([false])
    );
    for shape in ["CompleteReply", "IncompleteReply"] {
        assert_eq!(
            field(shape, "role")["enum"],
            serde_json::json!(["assistant"])
        );
    }
    assert_eq!(
        field("CompleteReply", "status")["enum"],
        serde_json::json!(["complete"])
    );
    assert_eq!(
        field("IncompleteReply", "status")["enum"],
        serde_json::json!(["generating", "stopped"])
    );
    for name in ["model", "confidence", "latency_ms"] {
        let complete = field("CompleteReply", name)["type"].clone();
        assert!(
            complete.is_string() && complete != "null",
            "CompleteReply.{name} is never null: {complete}"
        );
        let incomplete = field("IncompleteReply", name)["type"].clone();
        assert!(
            incomplete
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "null")),
            "IncompleteReply.{name} may be null: {incomplete}"
        );
    }
    let exchange = &schemas["MessageExchange"]["properties"];
    assert_eq!(
        exchange["user_message"]["$ref"],
        "#/components/schemas/UserMessage"
    );
    assert_eq!(
        exchange["assistant_message"]["$ref"],
        "#/components/schemas/AssistantMessage"
    );
}

/// True when a media type shows at least one named example (OpenAPI 3.1
/// `examples` map) and every one of them has a value.
fn has_examples(media: &Value) -> bool {
    media["examples"].as_object().is_some_and(|examples| {
        !examples.is_empty()
            && examples
                .values()
                .all(|e| e.get("value").is_some() || e.get("externalValue").is_some())
    })
}

/// Every operation shows a frontend what to send and what comes back: a
/// JSON request body has a named example, and so has every 2xx JSON or SSE
/// answer. tests/sdk/run.sh checks each example against its schema (Redocly,
/// `no-invalid-media-type-examples` as an error).
/// The document is a resource like the API's others: JSON, and a method it
/// does not take is a 405 that says which it does.
#[tokio::test]
async fn the_spec_is_served_as_json_and_only_to_get() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    for method in [Method::POST, Method::DELETE] {
        let response = app.request(method, "/openapi.json", None, None).await;
        assert_eq!(response.headers()["allow"], "GET");
        assert_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn every_operation_has_request_and_response_examples() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    let mut missing = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let operation_id = operation["operationId"].as_str().unwrap_or("?");
            let name = format!("{} {path} ({operation_id})", method.to_uppercase());
            if let Some(media) = operation["requestBody"]["content"].get("application/json") {
                if !has_examples(media) {
                    missing.push(format!("{name}: its JSON request body has no example"));
                }
            }
            for (status, answer) in operation["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                let Some(content) = answer["content"].as_object() else {
                    continue;
                };
                for (media_type, media) in content {
                    let shown =
                        media_type == "application/json" || media_type == "text/event-stream";
                    if shown && !has_examples(media) {
                        missing.push(format!(
                            "{name}: its {status} {media_type} answer has no example"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without examples — give each a named example in its #[utoipa::path]: \
         `request_body(content = T, examples((\"name\" = (summary = \"…\", value = json!(examples::…())))))` \
         and `(status = 200, body = T, examples(…))`, with the values in src/routes/examples.rs:\n  {}",
        missing.join("\n  ")
    );
}

/// Where the document still uses `example` (deprecated on schemas in OpenAPI
/// 3.1): JSON pointers below `at`.
fn singular_examples(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                // A property may be called `example`; its schema is no example.
                if key == "example" && !at.ends_with("/properties") {
                    found.push(pointer.clone());
                }
                singular_examples(child, &pointer, found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                singular_examples(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_uses_examples_not_the_deprecated_example() {
    let spec: Value =
        serde_json::from_str(&richesreach_chat::openapi::spec_json()).expect("the spec is JSON");
    let mut found = Vec::new();
    singular_examples(&spec, "#", &mut found);
    assert!(
        found.is_empty(),
        "use `examples(...)` (OpenAPI 3.1) instead of `example = ...` at:\n  {}",
        found.join("\n  ")
    );
}
