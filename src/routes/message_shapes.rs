//! The documented shapes of a [`Message`]: one struct goes over the wire,
//! but the document says what each role and status guarantees, so that a
//! generated client narrows `role` (and, for a reply, `status`) and gets
//! exact types — a finished reply's `model` is a `string`, a user message's
//! is `null`.
//!
//! ```text
//! Message          oneOf, told apart by `role`
//! ├─ UserMessage                          role "user", status "complete"
//! └─ AssistantMessage  oneOf, discriminator `status`
//!    ├─ CompleteReply                     model, confidence, latency_ms set
//!    └─ IncompleteReply                   generating or stopped: as far as known
//! ```
//!
//! The structs here only describe; [`Message`] is what handlers send. Their
//! fields mirror its fields one for one, which the tests of the served
//! document check against real answers (and the fuzz run against every
//! answer).

// Read by nothing: these structs exist for their `ToSchema` derive.
#![allow(dead_code)]

use std::borrow::Cow;

use utoipa::openapi::schema::{
    ArrayBuilder, Discriminator, Object, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::messages::{Feedback, Message, Source, Usage};

/// A string that can only be `value`.
fn literal(value: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
        .build()
}

fn user_role() -> Object {
    literal("user")
}

fn assistant_role() -> Object {
    literal("assistant")
}

fn complete() -> Object {
    literal("complete")
}

fn incomplete() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["generating", "stopped"]))
        .build()
}

fn never_fallback() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([false]))
        .build()
}

fn no_sources() -> utoipa::openapi::schema::Array {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("Source"))
        .max_items(Some(0))
        .build()
}

/// A message the user wrote: always `complete`, no sources, and `model`,
/// `confidence`, `usage`, `latency_ms` and `feedback` always null. (Typed
/// nullable rather than `type: null`: openapi-fetch 0.17 drops properties
/// whose only type is `null` from the answers it types.)
#[derive(ToSchema)]
pub struct UserMessage {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    session_id: String,
    #[schema(schema_with = user_role)]
    role: String,
    /// The question, as stored (trimmed).
    #[schema(examples("How big should my emergency fund be?"))]
    content: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// Always null for a user message.
    #[schema(required = true)]
    model: Option<String>,
    /// Always null for a user message.
    #[schema(required = true)]
    confidence: Option<f64>,
    /// Always null for a user message.
    #[schema(required = true)]
    usage: Option<Usage>,
    /// Always null for a user message.
    #[schema(required = true)]
    latency_ms: Option<i64>,
    #[schema(schema_with = never_fallback)]
    fallback: bool,
    #[schema(schema_with = no_sources)]
    sources: Vec<Source>,
    #[schema(schema_with = complete)]
    status: String,
    /// The id of the message that replaced this one (an edit).
    #[schema(required = true, format = Uuid)]
    superseded_by: Option<String>,
    /// Always null for a user message.
    #[schema(required = true)]
    feedback: Option<Feedback>,
}

/// A finished reply: `model`, `confidence` and `latency_ms` are always set.
#[derive(ToSchema)]
pub struct CompleteReply {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    session_id: String,
    #[schema(schema_with = assistant_role)]
    role: String,
    /// The reply's whole text.
    content: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// The model that wrote it (`"fallback"` for the offline responder).
    #[schema(examples("gpt-4o-mini", "fallback"))]
    model: String,
    /// How sure the assistant is of its answer, 0–1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: f64,
    /// When the provider reported it.
    #[schema(required = true)]
    usage: Option<Usage>,
    /// How long the reply took to produce.
    #[schema(minimum = 0)]
    latency_ms: i64,
    /// True when the offline responder answered.
    fallback: bool,
    /// What the reply drew on (may be empty).
    sources: Vec<Source>,
    #[schema(schema_with = complete)]
    status: String,
    /// The id of the reply that replaced this one (a regenerate or an edit).
    #[schema(required = true, format = Uuid)]
    superseded_by: Option<String>,
    /// The user's rating.
    #[schema(required = true)]
    feedback: Option<Feedback>,
}

/// A reply being written (`generating`: `content` is the text so far) or
/// stopped by the user (`content` is what had been written). `model`,
/// `confidence`, `usage` and `latency_ms` are set as far as known: a stopped
/// reply has its `latency_ms`.
#[derive(ToSchema)]
pub struct IncompleteReply {
    #[schema(format = Uuid)]
    id: String,
    #[schema(format = Uuid)]
    session_id: String,
    #[schema(schema_with = assistant_role)]
    role: String,
    /// The text written so far.
    content: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// The model that writes it, once known.
    #[schema(required = true)]
    model: Option<String>,
    #[schema(required = true, minimum = 0.0, maximum = 1.0)]
    confidence: Option<f64>,
    #[schema(required = true)]
    usage: Option<Usage>,
    /// How long it ran until it was stopped.
    #[schema(required = true, minimum = 0)]
    latency_ms: Option<i64>,
    fallback: bool,
    sources: Vec<Source>,
    #[schema(schema_with = incomplete)]
    status: String,
    /// The id of the reply that replaced this one (a regenerate or an edit).
    #[schema(required = true, format = Uuid)]
    superseded_by: Option<String>,
    /// The user's rating.
    #[schema(required = true)]
    feedback: Option<Feedback>,
}

const SCHEMAS: &str = "#/components/schemas/";

/// `oneOf` the named component schemas, told apart by `property`, whose
/// values map to those schemas.
fn tagged(property: &str, description: &str, mapping: &[(&str, &str)]) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new().description(Some(description));
    let mut seen: Vec<&str> = Vec::new();
    for (_, schema) in mapping {
        if !seen.contains(schema) {
            seen.push(schema);
            one_of = one_of.item(Ref::from_schema_name(*schema));
        }
    }
    let discriminator = Discriminator::with_mapping(
        property,
        mapping
            .iter()
            .map(|(value, schema)| (*value, format!("{SCHEMAS}{schema}"))),
    );
    one_of.discriminator(Some(discriminator)).into()
}

/// An assistant message: complete, or generating or stopped.
pub struct AssistantMessage;

impl PartialSchema for AssistantMessage {
    fn schema() -> RefOr<Schema> {
        tagged(
            "status",
            "A reply of the assistant. Narrow on `status`: a `complete` reply has its `model`, \
`confidence` and `latency_ms`; a `generating` or `stopped` one has them as far as known.",
            &[
                ("complete", "CompleteReply"),
                ("generating", "IncompleteReply"),
                ("stopped", "IncompleteReply"),
            ],
        )
    }
}

impl ToSchema for AssistantMessage {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AssistantMessage")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (CompleteReply::name(), CompleteReply::schema()),
            (IncompleteReply::name(), IncompleteReply::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        CompleteReply::schemas(schemas);
        IncompleteReply::schemas(schemas);
    }
}

impl PartialSchema for Message {
    fn schema() -> RefOr<Schema> {
        // No `discriminator` here: its `assistant` would map to a `oneOf`,
        // which the mapping rules of openapi-typescript (and other
        // generators) reject with a warning on every generation. The
        // literal `role` of each side is what TypeScript narrows on.
        OneOfBuilder::new()
            .item(Ref::from_schema_name("UserMessage"))
            .item(Ref::from_schema_name("AssistantMessage"))
            .description(Some(
                "A message of either role. Narrow on `role` (and a reply on `status`): a user \
message has `model`, `confidence`, `usage`, `latency_ms` and `feedback` null, `fallback: false` \
and no sources.",
            ))
            .into()
    }
}

impl ToSchema for Message {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Message")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (UserMessage::name(), UserMessage::schema()),
            (AssistantMessage::name(), AssistantMessage::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
        UserMessage::schemas(schemas);
        AssistantMessage::schemas(schemas);
    }
}
