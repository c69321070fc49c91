//! Where a message is in its life. Like [`super::Role`], one type for every
//! layer: the database stores the same strings the API sends.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text_enum::text_enum;

/// `complete` (user messages always), `generating` while a reply is being
/// written (its content is the text so far), `stopped` when the user stopped
/// it (its content is what had been written).
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
pub enum MessageStatus {
    Complete,
    Generating,
    Stopped,
}

text_enum!(MessageStatus, "message status" {
    Complete => "complete",
    Generating => "generating",
    Stopped => "stopped",
});
