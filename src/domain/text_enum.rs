//! Enums stored as text: one macro gives a unit-variant enum its string,
//! and diesel's `ToSql`/`FromSql` for `Text` on every backend, so the database
//! holds the same strings the API sends.

/// `text_enum!(Type, "what" { Variant => "string", ... })` implements
/// `as_str` and diesel's text mapping for `Type` (which derives
/// `AsExpression` and `FromSqlRow` with `#[diesel(sql_type = Text)]`).
macro_rules! text_enum {
    ($name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB>
            for $name
        where
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB>
            for $name
        where
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                match String::from_sql(bytes)?.as_str() {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other).into()),
                }
            }
        }
    };
}
pub(crate) use text_enum;
