use crate::ids::AccountId;
use crate::orders::EventKind;
use chrono::{DateTime, Utc};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use crate::ids::{DeliveryId, WebhookId};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A URL deliveries may be sent to: `https://host[:port][/path][?query]` with no credentials,
/// no fragment, no whitespace. Plain `http://` is accepted only for `127.0.0.1`/`localhost`
/// and only when the operator allows it (tests, local development); loopback, private and
/// link-local addresses are refused otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

/// Why a URL was refused (the message is shown to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    #[error("must be at most 2048 characters")]
    TooLong,
    #[error("must be an https:// URL")]
    NotHttps,
    #[error("must not contain credentials")]
    Credentials,
    #[error("must not contain whitespace, control characters or a fragment")]
    BadCharacters,
    #[error("must name a host")]
    NoHost,
    #[error("must not point to a loopback, private or link-local address")]
    PrivateHost,
}

impl WebhookUrl {
    /// Parses a URL; `allow_http_localhost` lets `http://127.0.0.1…` and `http://localhost…`
    /// (and the same hosts over https) through.
    pub fn parse(raw: &str, allow_http_localhost: bool) -> Result<Self, WebhookUrlError> {
        if raw.len() > MAX_URL_LEN {
            return Err(WebhookUrlError::TooLong);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\\') {
            return Err(WebhookUrlError::BadCharacters);
        }
        let lower = raw.to_ascii_lowercase();
        let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(WebhookUrlError::NotHttps);
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(WebhookUrlError::Credentials);
        }
        let host = host_of(authority).ok_or(WebhookUrlError::NoHost)?;
        let local = is_local_host(host);
        if local && !allow_http_localhost {
            return Err(WebhookUrlError::PrivateHost);
        }
        let plain_http_allowed = local && allow_http_localhost && matches!(host, "127.0.0.1" | "localhost");
        if !(https || plain_http_allowed) {
            return Err(WebhookUrlError::NotHttps);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A URL already validated when it was stored.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }
}

/// The host of `host[:port]` (IPv6 literals in brackets keep their brackets); `None` when
/// empty or when the port is not a number.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        (&authority[..=end], authority[end + 1..].strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) || port.parse::<u16>().is_err())
    {
        return None;
    }
    (!host.is_empty() && host != "[]").then_some(host)
}

/// Loopback, private (RFC 1918), link-local (cloud metadata), unspecified or IPv6 local:
/// addresses a customer's webhook must not make the server call.
fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return is_internal_ip(IpAddr::V4(v4));
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().map_or(true, |v6| is_internal_ip(IpAddr::V6(v6)));
    }
    false
}

/// Whether a webhook must not be sent to `ip`: loopback, private (RFC 1918, IPv6 unique
/// local), link-local (cloud metadata services), CGNAT, unspecified, broadcast or
/// multicast. The sender also applies it to the addresses a host name resolves to.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal_ip(IpAddr::V4(v4)))
        }
    }
}

/// The event kinds an endpoint subscribes to: at least one, each once, in [`EventKind::ALL`]
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKinds(Vec<EventKind>);

impl EventKinds {
    /// `None` when `kinds` is empty.
    pub fn new(kinds: impl IntoIterator<Item = EventKind>) -> Option<Self> {
        let wanted: Vec<EventKind> = kinds.into_iter().collect();
        let kinds: Vec<EventKind> = EventKind::ALL.into_iter().filter(|k| wanted.contains(k)).collect();
        (!kinds.is_empty()).then_some(Self(kinds))
    }

    /// Parses names (`new`, `fill`, …); `None` when one is unknown or none is given.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let kinds: Option<Vec<EventKind>> = names.into_iter().map(EventKind::parse).collect();
        Self::new(kinds?)
    }

    pub fn contains(&self, kind: EventKind) -> bool {
        self.0.contains(&kind)
    }

    pub fn kinds(&self) -> &[EventKind] {
        &self.0
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.as_str()).collect()
    }
}

/// A registered endpoint (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub url: WebhookUrl,
    pub events: EventKinds,
    pub created_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One event for one endpoint, as the deliveries log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub account_id: AccountId,
    pub event_seq: u64,
    pub event: EventKind,
    /// Attempts made so far.
    pub attempt: u32,
    pub status: DeliveryStatus,
    /// The HTTP status of the last answer, if any.
    pub response_status: Option<u16>,
    /// Why the last attempt failed, in our words (`timeout`, `connection failed`, `HTTP 500`).
    pub error: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery to create, with the exact body every attempt sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub account_id: AccountId,
    pub event_seq: u64,
    pub event: EventKind,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A due delivery claimed by one worker, with what it needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub url: WebhookUrl,
    pub sealed_secret: String,
    pub event_seq: u64,
    pub event: EventKind,
    pub body: String,
    /// Attempts made before this one.
    pub attempts_before: u32,
}

/// The result of one attempt, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// Attempts made, this one included.
    pub attempt: u32,
    pub status: DeliveryStatus,
    pub response_status: Option<u16>,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An HTTP request to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingWebhook {
    pub url: WebhookUrl,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// When failed attempts are retried: `base · 2^(attempt − 1)`, capped, at most
/// `max_attempts` attempts in all, then the delivery is `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s, … capped at 1 h; 10 attempts.
    fn default() -> Self {
        Self { base: Duration::from_secs(1), cap: Duration::from_secs(3600), max_attempts: 10 }
    }
}

impl Backoff {
    /// The wait after `attempts` failed attempts, or `None` when no attempt is left.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        if attempts == 0 || attempts >= self.max_attempts {
            return None;
        }
        let factor = 1u32.checked_shl(attempts - 1).unwrap_or(u32::MAX);
        Some(self.base.checked_mul(factor).map_or(self.cap, |d| d.min(self.cap)))
    }
}

/// The `X-Signature` header value: `t=<unix>,v1=<hex>`; what is signed is
/// `t + "." + body` (see [`signed_message`]).
pub fn signature_header(timestamp: i64, signature_hex: &str) -> String {
    format!("t={timestamp},v1={signature_hex}")
}

/// The bytes an endpoint's secret signs: `timestamp + "." + body`.
pub fn signed_message(timestamp: i64, body: &str) -> Vec<u8> {
    let mut m = timestamp.to_string().into_bytes();
    m.push(b'.');
    m.extend_from_slice(body.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_caps_and_stops() {
        let b = Backoff::default();
        assert_eq!(b.delay_after(1), Some(Duration::from_secs(1)));
        assert_eq!(b.delay_after(2), Some(Duration::from_secs(2)));
        assert_eq!(b.delay_after(5), Some(Duration::from_secs(16)));
        assert_eq!(b.delay_after(9), Some(Duration::from_secs(256)));
        assert_eq!(b.delay_after(10), None, "the 10th failure is final");
        let capped = Backoff { base: Duration::from_secs(60), cap: Duration::from_secs(3600), max_attempts: 40 };
        assert_eq!(capped.delay_after(7), Some(Duration::from_secs(3600)));
        assert_eq!(capped.delay_after(39), Some(Duration::from_secs(3600)), "no overflow");
    }

    #[test]
    fn signature_header_and_message_follow_the_contract() {
        assert_eq!(signature_header(1_700_000_000, "ab12"), "t=1700000000,v1=ab12");
        assert_eq!(signed_message(1_700_000_000, "{\"a\":1}"), b"1700000000.{\"a\":1}".to_vec());
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        let ok = |u: &str| WebhookUrl::parse(u, false).map(|u| u.as_str().to_owned());
        assert_eq!(ok("https://example.com/hooks?x=1"), Ok("https://example.com/hooks?x=1".to_owned()));
        assert_eq!(ok("https://example.com:8443"), Ok("https://example.com:8443".to_owned()));
        assert_eq!(ok("http://example.com/h"), Err(WebhookUrlError::NotHttps));
        assert_eq!(ok("ftp://example.com"), Err(WebhookUrlError::NotHttps));
        assert_eq!(ok("https://user:pw@example.com/"), Err(WebhookUrlError::Credentials));
        assert_eq!(ok("https://example.com/a b"), Err(WebhookUrlError::BadCharacters));
        assert_eq!(ok("https://example.com/#frag"), Err(WebhookUrlError::BadCharacters));
        assert_eq!(ok("https:///path"), Err(WebhookUrlError::NoHost));
        assert_eq!(ok("https://example.com:http/"), Err(WebhookUrlError::NoHost));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(ok(&long), Err(WebhookUrlError::TooLong));
        for private in [
            "https://127.0.0.1/",
            "https://localhost:8443/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "http://127.0.0.1:9000/",
        ] {
            assert_eq!(ok(private), Err(WebhookUrlError::PrivateHost), "{private}");
        }
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.0.0.8",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal_ip(internal.parse().expect("ip")), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:2800:220:1::", "::ffff:8.8.8.8"] {
            assert!(!is_internal_ip(public.parse().expect("ip")), "{public}");
        }
    }

    #[test]
    fn http_localhost_only_when_allowed() {
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost:9000/hook", true).is_ok());
        assert_eq!(WebhookUrl::parse("http://10.0.0.1/", true), Err(WebhookUrlError::NotHttps));
        assert_eq!(WebhookUrl::parse("http://example.com/", true), Err(WebhookUrlError::NotHttps));
    }

    #[test]
    fn event_kinds_are_deduplicated_and_known() {
        let kinds = EventKinds::parse(["fill", "new", "fill"]).map(|k| k.names());
        assert_eq!(kinds, Some(vec!["new", "fill"]));
        assert_eq!(EventKinds::parse(["filled"]), None);
        assert_eq!(EventKinds::parse([]), None);
    }
}
