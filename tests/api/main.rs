//! Integration tests: each starts the real server on a random port with a
//! fresh database and talks HTTP to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account;
mod admin;
mod auth;
mod concurrency;
mod console;
mod durable;
mod editing;
mod errors;
mod export;
mod feedback;
mod grounding;
mod helpers;
mod idempotency;
mod messages;
mod openapi;
mod ops;
mod outage;
mod provider;
mod quotas;
mod replicas;
mod restarts;
mod retention;
mod retrieval;
mod search;
mod security;
mod sessions;
mod slow_upstream;
mod sse;
mod streaming;
