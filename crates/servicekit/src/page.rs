//! One pagination policy for every list route of every service: keyset pages of
//! `{"items": [...], "next_cursor": "..."}`, `limit` 1–200 (default 50), an opaque cursor. A bad
//! `limit` or `cursor` is 422 `invalid_query` naming the parameter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ApiError;
use crate::cursor;

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most items one page may hold.
pub const MAX_LIMIT: i64 = 200;

/// The query of a list route with no filters of its own. Routes with filters declare `limit`
/// and `cursor` in their own query struct (strict structs cannot flatten) and call
/// [`PageRequest::parse`].
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request: how many items, and after which `(timestamp, id)` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor`.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "invalid_query",
                Some("limit"),
                format!("limit must be 1 to {MAX_LIMIT}"),
            ));
        }
        let after = cursor.map(cursor::decode).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// From a [`PageQuery`].
    pub fn from_query(q: &PageQuery) -> Result<Self, ApiError> {
        Self::parse(q.limit, q.cursor.as_deref())
    }

    /// How many rows the store should fetch: one more than a page tells whether another exists.
    pub fn fetch_limit(&self) -> i64 {
        self.limit.saturating_add(1)
    }

    /// Cuts the rows (fetched with [`fetch_limit`](Self::fetch_limit), in key order) to one page;
    /// the cursor is the key of the page's last row when more rows exist.
    pub fn page<R, T>(
        &self,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> (DateTime<Utc>, Uuid),
        view: impl FnMut(R) -> T,
    ) -> Page<T> {
        let keep = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > keep {
            rows.truncate(keep);
            rows.last().map(|r| {
                let (at, id) = key(r);
                cursor::encode(at, id)
            })
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn limits_are_one_policy() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::parse(Some(200), None).unwrap().limit, 200);
        for bad in [0, -1, 201, i64::MAX] {
            let e = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(e.code(), "invalid_query");
            assert_eq!(e.problem()["field"], "limit");
        }
        let e = PageRequest::parse(None, Some("forged")).unwrap_err();
        assert_eq!(e.code(), "invalid_query");
        assert_eq!(e.problem()["field"], "cursor");
    }

    #[test]
    fn the_extra_row_makes_a_cursor_to_the_last_kept_row() {
        let req = PageRequest::parse(Some(2), None).unwrap();
        assert_eq!(req.fetch_limit(), 3);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let rows: Vec<(i64, Uuid)> = ids.iter().zip(0..).map(|(id, i)| (i, *id)).collect();
        let page = req.page(rows.clone(), |r| (at(r.0), r.1), |r| r.1);
        assert_eq!(page.items, ids[..2]);
        let next = PageRequest::parse(Some(2), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after, Some((at(1), ids[1])));
        let last = req.page(rows[..2].to_vec(), |r| (at(r.0), r.1), |r| r.1);
        assert_eq!(last.next_cursor, None);
    }
}
