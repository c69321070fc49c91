//! Where a message is in its life. Like [`super::Role`], one type for every
//! layer: the database stores the same strings the API sends.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Generating => "generating",
            Self::Stopped => "stopped",
        }
    }
}

impl<DB: Backend> ToSql<Text, DB> for MessageStatus
where
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.as_str().to_sql(out)
    }
}

impl<DB: Backend> FromSql<Text, DB> for MessageStatus
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        match String::from_sql(bytes)?.as_str() {
            "complete" => Ok(Self::Complete),
            "generating" => Ok(Self::Generating),
            "stopped" => Ok(Self::Stopped),
            other => Err(format!("unknown message status {other:?}").into()),
        }
    }
}
