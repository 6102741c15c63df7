//! Cursor pages: `?limit=` (1..=500, default 50) and `?after=<cursor>` in, and
//! `{"data": [...], "next_cursor": "..." | null}` out.

use super::FieldErrors;
use brokerage_domain::paging::{MAX_LIMIT, Page, PageRequest};
use serde::{Deserialize, Serialize};
use std::fmt::Display;

const BAD_LIMIT: &str = "must be an integer from 1 to 500";
const BAD_CURSOR: &str = "is not a cursor from a previous page";

/// The paging parameters of a list without filters. Query values are read as text so that a
/// bad one is reported under its own name. Documented with an id (UUID) cursor; `GET
/// /positions`, whose cursor is a symbol, documents its own parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(value_type = Option<u16>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (an item's `id`).
    #[param(value_type = Option<uuid::Uuid>)]
    pub after: Option<String>,
}

/// An empty query value (`?after=`) counts as absent.
pub(crate) fn present(raw: Option<String>) -> Option<String> {
    raw.filter(|s| !s.is_empty())
}

/// Reads `limit` and `after`, recording bad values in `errors`.
pub(crate) fn page_request<C>(
    errors: &mut FieldErrors,
    limit: Option<String>,
    after: Option<String>,
    cursor: impl FnOnce(&str) -> Option<C>,
) -> Option<PageRequest<C>> {
    let limit = errors.check_opt("limit", present(limit), |raw| {
        raw.parse::<u16>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or(BAD_LIMIT)
    });
    let after = errors.check_opt("after", present(after), |raw| cursor(&raw).ok_or(BAD_CURSOR));
    PageRequest::new(limit?, after?)
}

impl PageQuery {
    pub fn try_into_domain<C>(
        self,
        cursor: impl FnOnce(&str) -> Option<C>,
    ) -> Result<PageRequest<C>, crate::errors::ApiError> {
        let mut errors = FieldErrors::default();
        let page = page_request(&mut errors, self.limit, self.after, cursor);
        errors.finish(page)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageResponse<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageResponse<T> {
    pub fn from_page<D, C: Display>(page: Page<D, C>, item: impl FnMut(D) -> T) -> Self {
        Self { data: page.items.into_iter().map(item).collect(), next_cursor: page.next_cursor.map(|c| c.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<&str>, after: Option<&str>) -> Result<PageRequest<u32>, crate::errors::ApiError> {
        PageQuery { limit: limit.map(Into::into), after: after.map(Into::into) }.try_into_domain(|c| c.parse().ok())
    }

    #[test]
    fn limit_defaults_to_50_and_is_bounded() {
        assert_eq!(page(None, None).map(|p| p.limit()), Ok(50));
        assert_eq!(page(Some("500"), Some("7")).map(|p| (p.limit(), p.after)), Ok((500, Some(7))));
        for bad in ["0", "501", "-1", "ten", "99999999"] {
            let err = page(Some(bad), None).expect_err(bad);
            assert_eq!((err.code(), err.details()[0].field.as_str()), ("validation_error", "limit"), "{bad}");
        }
    }

    #[test]
    fn a_bad_cursor_is_named() {
        let err = page(None, Some("not-a-cursor")).expect_err("bad cursor");
        assert_eq!(err.details()[0].field, "after");
        assert_eq!(page(Some(""), Some("")).map(|p| (p.limit(), p.after)), Ok((50, None)));
    }
}
