//! The admin API: administrators only, statistics checked against a known
//! data set, user management (deactivation, the last-admin rule), and every
//! user's sessions and conversations.

mod access;
mod conversations;
mod feedback;
mod last_admin;
mod page;
mod sessions;
mod stats;
mod user_updates;
mod users;

use std::collections::BTreeSet;

use reqwest::Response;
use serde_json::Value;

use crate::helpers::{TestApp, TestUser, User, UserActivity};

async fn update_user(app: &TestApp, admin: &TestUser, id: &str, body: Value) -> Response {
    app.patch(&format!("/admin/users/{id}"), &admin.token, body)
        .await
}

fn find_by_id<'a>(items: &'a [UserActivity], id: &str) -> &'a UserActivity {
    items
        .iter()
        .find(|i| i.user.id == id)
        .unwrap_or_else(|| panic!("{id} is not among {items:?}"))
}

/// The fields an administrator's view shares with what the user sees at `/auth/me`.
fn as_user(view: &UserActivity) -> User {
    view.user.clone()
}

/// Asserts that every item of a list answer has exactly these fields. This
/// is about the wire shape (every field present, even when null), so it
/// reads raw JSON rather than a typed page.
fn assert_item_fields(page: &Value, fields: &[&str]) {
    let expected: BTreeSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    for item in page["items"].as_array().expect("items is a list") {
        let keys: BTreeSet<String> = item
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, expected, "{item}");
    }
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
