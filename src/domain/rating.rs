//! A user's rating of a reply. Like [`super::Role`], one type for every
//! layer: the database stores the same strings the API sends.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text_enum::text_enum;
use crate::error::FieldError;

/// `up` or `down`.
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
pub enum Rating {
    Up,
    Down,
}

text_enum!(Rating, "rating" {
    Up => "up",
    Down => "down",
});

impl Rating {
    /// Read as text, so that another value is a 422 (a rule broken), not a
    /// 400 (a malformed body).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "up" => Ok(Self::Up),
            "down" => Ok(Self::Down),
            _ => Err(FieldError::new("rating", "must be \"up\" or \"down\"")),
        }
    }
}
