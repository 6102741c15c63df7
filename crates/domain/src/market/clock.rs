//! The US regular trading session: 09:30–16:00 America/New_York on weekdays, minus holidays.
//!
//! US Eastern time is computed here without a timezone database, with the US DST rule in
//! force since 2007: daylight time (UTC−4) from the second Sunday of March at 02:00 local to
//! the first Sunday of November at 02:00 local, standard time (UTC−5) otherwise.
//!
//! With `always_open` (the simulated market, 24/7), `is_open` is always `true`,
//! `next_open` is `now` and `next_close` is `None`: the market never closes.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};

/// How far ahead `next_open`/`next_close` look for a trading day before giving up.
const SEARCH_DAYS: i64 = 800;

/// The market's hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketHours {
    /// New York dates without a session.
    pub holidays: Vec<NaiveDate>,
    /// The market is open at every instant (the simulated market).
    pub always_open: bool,
}

impl Default for MarketHours {
    fn default() -> Self {
        Self::always_open()
    }
}

/// The market's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketClock {
    pub timestamp: DateTime<Utc>,
    pub is_open: bool,
    /// The next session's open strictly after `timestamp` (`timestamp` itself when always open);
    /// `None` only when no session is found within ~2 years.
    pub next_open: Option<DateTime<Utc>>,
    /// The close of the current session when open, else of the next one; `None` when always open.
    pub next_close: Option<DateTime<Utc>>,
}

fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN);
    let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
    first + Duration::days(i64::from(to_sunday + 7 * (n - 1)))
}

/// Whether the New York local date is in daylight time at 09:30 (any time after 02:00).
fn dst_on(date: NaiveDate) -> bool {
    let start = nth_sunday(date.year(), 3, 2);
    let end = nth_sunday(date.year(), 11, 1);
    date >= start && date < end
}

/// New York's offset from UTC at a UTC instant, in hours (−4 or −5).
pub fn eastern_offset_hours(now: DateTime<Utc>) -> i64 {
    let year = now.year();
    // 02:00 EST = 07:00 UTC; 02:00 EDT = 06:00 UTC.
    let start = nth_sunday(year, 3, 2).and_time(NaiveTime::from_hms_opt(7, 0, 0).unwrap_or(NaiveTime::MIN)).and_utc();
    let end = nth_sunday(year, 11, 1).and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN)).and_utc();
    if now >= start && now < end { -4 } else { -5 }
}

/// New York local wall time at a UTC instant.
pub fn eastern_time(now: DateTime<Utc>) -> NaiveDateTime {
    now.naive_utc() + Duration::hours(eastern_offset_hours(now))
}

/// The UTC instant of a New York local time on `date` (never in a DST gap: sessions are at 09:30–16:00).
fn eastern_to_utc(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let offset = if dst_on(date) { 4 } else { 5 };
    Utc.from_utc_datetime(&(date.and_time(time) + Duration::hours(offset)))
}

fn open_time() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 30, 0).unwrap_or(NaiveTime::MIN)
}

fn close_time() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN)
}

impl MarketHours {
    /// The simulated market: open at every instant.
    pub fn always_open() -> Self {
        Self { holidays: Vec::new(), always_open: true }
    }

    /// The regular session with these holidays.
    pub fn regular(holidays: Vec<NaiveDate>) -> Self {
        Self { holidays, always_open: false }
    }

    fn is_trading_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&date)
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        if self.always_open {
            return true;
        }
        let local = eastern_time(now);
        self.is_trading_day(local.date()) && local.time() >= open_time() && local.time() < close_time()
    }

    /// The first session open strictly after `now`; `now` when always open.
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return Some(now);
        }
        self.next_boundary(now, open_time())
    }

    /// The first session close after `now` (today's when open); `None` when always open.
    pub fn next_close(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return None;
        }
        self.next_boundary(now, close_time())
    }

    /// The latest session close at or before `now`; `None` when always open. A day order
    /// submitted before it may be past its session (see `orders::triggers::Candidates`).
    pub fn last_close(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return None;
        }
        let today = eastern_time(now).date();
        (0..SEARCH_DAYS)
            .map(|n| today - Duration::days(n))
            .filter(|d| self.is_trading_day(*d))
            .map(|d| eastern_to_utc(d, close_time()))
            .find(|at| *at <= now)
    }

    fn next_boundary(&self, now: DateTime<Utc>, time: NaiveTime) -> Option<DateTime<Utc>> {
        let today = eastern_time(now).date();
        (0..SEARCH_DAYS)
            .map(|n| today + Duration::days(n))
            .filter(|d| self.is_trading_day(*d))
            .map(|d| eastern_to_utc(d, time))
            .find(|at| *at > now)
    }

    pub fn clock(&self, now: DateTime<Utc>) -> MarketClock {
        MarketClock {
            timestamp: now,
            is_open: self.is_open(now),
            next_open: self.next_open(now),
            next_close: self.next_close(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("rfc3339").with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn regular() -> MarketHours {
        MarketHours::regular(vec![date("2026-11-26"), date("2026-01-19")])
    }

    #[test]
    fn dst_transitions_2026() {
        // DST starts Sunday 2026-03-08 02:00 EST = 07:00 UTC.
        assert_eq!(eastern_offset_hours(utc("2026-03-08T06:59:59Z")), -5);
        assert_eq!(eastern_offset_hours(utc("2026-03-08T07:00:00Z")), -4);
        // DST ends Sunday 2026-11-01 02:00 EDT = 06:00 UTC.
        assert_eq!(eastern_offset_hours(utc("2026-11-01T05:59:59Z")), -4);
        assert_eq!(eastern_offset_hours(utc("2026-11-01T06:00:00Z")), -5);
        assert_eq!(nth_sunday(2027, 3, 2), date("2027-03-14"));
        assert_eq!(nth_sunday(2027, 11, 1), date("2027-11-07"));
    }

    #[test]
    fn session_around_dst_edges() {
        let h = regular();
        // Friday before DST starts: EST, open at 14:30 UTC.
        assert!(!h.is_open(utc("2026-03-06T14:29:59Z")));
        assert!(h.is_open(utc("2026-03-06T14:30:00Z")));
        // Monday after: EDT, open at 13:30 UTC, close at 20:00 UTC.
        assert!(h.is_open(utc("2026-03-09T13:30:00Z")));
        assert!(!h.is_open(utc("2026-03-09T20:00:00Z")));
        assert_eq!(h.next_open(utc("2026-03-07T12:00:00Z")), Some(utc("2026-03-09T13:30:00Z")));
        // Friday before DST ends: EDT; Monday after: EST.
        assert!(h.is_open(utc("2026-10-30T19:59:59Z")));
        assert_eq!(h.next_open(utc("2026-10-30T21:00:00Z")), Some(utc("2026-11-02T14:30:00Z")));
        assert_eq!(h.next_close(utc("2026-11-02T15:00:00Z")), Some(utc("2026-11-02T21:00:00Z")));
    }

    #[test]
    fn weekday_inside_and_outside_the_session() {
        let h = regular();
        // Wednesday 2026-11-25, EST.
        assert!(h.is_open(utc("2026-11-25T15:00:00Z")));
        assert_eq!(h.next_close(utc("2026-11-25T15:00:00Z")), Some(utc("2026-11-25T21:00:00Z")));
        assert_eq!(h.next_open(utc("2026-11-24T15:00:00Z")), Some(utc("2026-11-25T14:30:00Z")));
        assert!(!h.is_open(utc("2026-11-25T14:00:00Z")));
        assert_eq!(h.next_open(utc("2026-11-25T14:00:00Z")), Some(utc("2026-11-25T14:30:00Z")));
        assert!(!h.is_open(utc("2026-11-25T21:00:00Z")));
    }

    #[test]
    fn weekend_and_holiday_are_closed() {
        let h = regular();
        assert!(!h.is_open(utc("2026-11-28T15:00:00Z"))); // Saturday
        assert!(!h.is_open(utc("2026-11-29T15:00:00Z"))); // Sunday
        assert!(!h.is_open(utc("2026-11-26T15:00:00Z"))); // Thanksgiving
        assert!(MarketHours::regular(vec![]).is_open(utc("2026-11-26T15:00:00Z")));
    }

    #[test]
    fn next_open_skips_weekend_and_holiday() {
        // Friday 2026-01-16 after the close; Monday 2026-01-19 is a holiday.
        let h = regular();
        let now = utc("2026-01-16T22:00:00Z");
        assert_eq!(h.next_open(now), Some(utc("2026-01-20T14:30:00Z")));
        assert_eq!(h.next_close(now), Some(utc("2026-01-20T21:00:00Z")));
    }

    #[test]
    fn last_close_looks_back_over_weekend_and_holiday() {
        let h = regular();
        // Tuesday 2026-01-20 before the close: Friday's close (Monday was a holiday).
        assert_eq!(h.last_close(utc("2026-01-20T15:00:00Z")), Some(utc("2026-01-16T21:00:00Z")));
        // At and after the close: that close.
        assert_eq!(h.last_close(utc("2026-01-20T21:00:00Z")), Some(utc("2026-01-20T21:00:00Z")));
        assert_eq!(h.last_close(utc("2026-01-21T02:00:00Z")), Some(utc("2026-01-20T21:00:00Z")));
        assert_eq!(MarketHours::always_open().last_close(utc("2026-01-20T15:00:00Z")), None);
    }

    #[test]
    fn always_open() {
        let h = MarketHours::always_open();
        let now = utc("2026-11-28T03:00:00Z");
        assert_eq!(h.clock(now), MarketClock { timestamp: now, is_open: true, next_open: Some(now), next_close: None });
    }
}
