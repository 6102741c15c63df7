//! The [`WebhookSender`] port over reqwest (the rustls stack the market-data client already
//! uses): one POST, a short timeout, no redirects followed (a 3xx is a failed attempt, so a
//! customer's endpoint cannot bounce the server to another host), and the answer's body is
//! never read. Host names are resolved by [`PublicOnly`], which drops internal addresses, so a
//! customer's DNS name cannot point the server at its own network (IP literals were refused
//! when the endpoint was registered).

use async_trait::async_trait;
use brokerage_domain::webhooks::{OutgoingWebhook, SendFailure, WebhookSender, is_internal_ip};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Resolves with the system resolver, keeping public addresses only (and loopback when
/// local endpoints are allowed: tests and local development).
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (host.as_str(), 0).to_socket_addrs().map(Iterator::collect))
                    .await??;
            let usable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| !is_internal_ip(a.ip()) || (allow_loopback && a.ip().is_loopback()))
                .collect();
            if usable.is_empty() {
                return Err("the host has no public address".into());
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone)]
pub struct ReqwestWebhookSender {
    client: reqwest::Client,
}

impl ReqwestWebhookSender {
    /// `timeout` bounds the whole attempt (connect, send, answer's head); `allow_loopback`
    /// lets host names resolving to loopback through (`webhooks.allow_http_localhost`).
    pub fn new(timeout: Duration, allow_loopback: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .dns_resolver(PublicOnly { allow_loopback })
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("brokerage-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookSender for ReqwestWebhookSender {
    async fn send(&self, request: &OutgoingWebhook) -> Result<u16, SendFailure> {
        let mut builder = self.client.post(request.url.as_str()).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        match builder.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            // Our own words only: the log is shown to the endpoint's owner.
            Err(e) if e.is_timeout() => Err(SendFailure("timeout".to_owned())),
            Err(e) if e.is_connect() => Err(SendFailure("connection failed".to_owned())),
            Err(e) if e.is_builder() => Err(SendFailure("invalid url".to_owned())),
            Err(e) => {
                tracing::debug!(error = %e, "webhook request failed");
                Err(SendFailure("request failed".to_owned()))
            }
        }
    }
}
