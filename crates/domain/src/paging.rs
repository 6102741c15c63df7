//! Cursor pagination, shared by every list.

/// Default and bounds of `?limit=` (API.md: 1..500, default 50).
pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 500;

/// A validated page request: `limit` in 1..=500, and the cursor of the last item seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    limit: u16,
    pub after: Option<C>,
}

impl<C> PageRequest<C> {
    /// `None` when `limit` is out of 1..=500.
    pub fn new(limit: Option<u16>, after: Option<C>) -> Option<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        (1..=MAX_LIMIT).contains(&limit).then_some(Self { limit, after })
    }

    pub fn first(limit: u16) -> Option<Self> {
        Self::new(Some(limit), None)
    }

    pub fn limit(&self) -> u16 {
        self.limit
    }

    /// Adapters fetch one more row than the limit to learn whether another page exists.
    pub fn fetch_limit(&self) -> usize {
        usize::from(self.limit) + 1
    }

    /// Builds the page from up to `limit + 1` items fetched in page order.
    pub fn into_page<T>(&self, mut items: Vec<T>, cursor_of: impl Fn(&T) -> C) -> Page<T, C> {
        let has_more = items.len() > usize::from(self.limit);
        items.truncate(usize::from(self.limit));
        let next_cursor = if has_more { items.last().map(cursor_of) } else { None };
        Page { items, next_cursor }
    }
}

/// One page of a list and the cursor for the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next_cursor: Option<C>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds_follow_the_contract() {
        assert!(PageRequest::<u32>::new(Some(0), None).is_none());
        assert!(PageRequest::<u32>::new(Some(501), None).is_none());
        assert_eq!(PageRequest::<u32>::new(None, None).map(|p| p.limit()), Some(50));
        assert_eq!(PageRequest::<u32>::new(Some(500), None).map(|p| p.limit()), Some(500));
    }

    #[test]
    fn next_cursor_only_when_more_items_exist() {
        let req = PageRequest::<u32>::first(2).expect("valid");
        let page = req.into_page(vec![1, 2, 3], |x| *x);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(2));
        let last = req.into_page(vec![1, 2], |x| *x);
        assert_eq!(last.next_cursor, None);
    }
}
