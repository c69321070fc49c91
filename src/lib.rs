//! RichesReach Chat: the chat backend of a personal-finance and
//! investing-education app. See `docs/ARCHITECTURE.md` for the layout.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod listener;
pub mod llm;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod security_headers;
pub mod service;
pub mod startup;
pub mod state;
pub mod telemetry;
