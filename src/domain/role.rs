//! Who wrote a message. One type for every layer: the database stores it as
//! text (`"user"` / `"assistant"`), the API sends the same strings, and the
//! LLM module maps it to the provider's roles.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text_enum::text_enum;

/// Who wrote a message.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    AsExpression,
    FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = Text)]
pub enum Role {
    User,
    Assistant,
}

text_enum!(Role, "message role" {
    User => "user",
    Assistant => "assistant",
});
