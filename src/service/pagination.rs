//! Keyset pagination with opaque cursors. A cursor names the last item of a
//! page by its sort key and id, so pages stay stable while rows are added and
//! every page costs one index range scan, however deep.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.key, self.id))
    }

    pub fn decode(raw: &str) -> Result<Self, AppError> {
        let invalid = || AppError::BadRequest("invalid cursor".into());
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (key, id) = text.split_once('|').ok_or_else(invalid)?;
        let key = key.parse().map_err(|_| invalid())?;
        uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Self {
            key,
            id: id.to_owned(),
        })
    }
}

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a list. The same shape serves every list of the API, so the
/// service layer's pages are also what handlers send (after mapping items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows in page order.
    pub fn from_rows(
        mut rows: Vec<T>,
        req: &PageRequest,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| cursor_of(last).encode())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with every item converted (rows to API types).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Which way a list runs through its sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest key first.
    #[default]
    Ascending,
    /// Largest key first.
    Descending,
}

/// Orders a boxed diesel query by `(key, id)` in `direction` and keeps only
/// the rows after the page's cursor — the keyset filter, written once for
/// every list. The columns must be those the cursor was made from.
macro_rules! keyset_page {
    ($query:expr, $page:expr, $direction:expr, $key:expr, $id:expr) => {{
        let query = $query.limit($page.fetch());
        let query = match $direction {
            $crate::service::pagination::Direction::Ascending => {
                query.order(($key.asc(), $id.asc()))
            }
            $crate::service::pagination::Direction::Descending => {
                query.order(($key.desc(), $id.desc()))
            }
        };
        match (&$page.after, $direction) {
            (None, _) => query,
            (Some(after), $crate::service::pagination::Direction::Ascending) => query.filter(
                $key.gt(after.key)
                    .or($key.eq(after.key).and($id.gt(after.id.clone()))),
            ),
            (Some(after), $crate::service::pagination::Direction::Descending) => query.filter(
                $key.lt(after.key)
                    .or($key.eq(after.key).and($id.lt(after.id.clone()))),
            ),
        }
    }};
}
pub(crate) use keyset_page;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            key: 1_700_000_000_000,
            id: "0190f1c2-7d3e-7a4b-8c9d-0e1f2a3b4c5d".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn garbage_cursors_are_bad_requests() {
        for bad in [
            "!!",
            "abc",
            &URL_SAFE_NO_PAD.encode("x|y"),
            &URL_SAFE_NO_PAD.encode("1|nope"),
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(AppError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_outside_1_to_200_are_rejected() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(201), None).is_err());
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 50);
    }
}
