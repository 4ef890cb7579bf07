//! Where alerts go: a signed JSON webhook and Prometheus Alertmanager (API v2).
//!
//! Both speak HTTP/1.1 through `ureq` (blocking); HTTPS needs the crate feature `tls`. Both
//! retry connection errors, timeouts, `429` and `5xx` answers with exponential backoff and give
//! up with an [`Error::Io`] naming the URL (kind `TimedOut` when the last attempt timed out);
//! other `4xx` answers fail at once (a retry would get the same answer).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{rfc3339, Alert, AlertEvent, AlertState};
use crate::{Error, Result};

/// Delivers alerts.
///
/// # Contract
/// `send` is called after an evaluation with its transitions (`events`) and the alerts active
/// after it (`active`: pending and firing). It returns once the receiver accepted the
/// delivery, or with an error once it gave up; it never panics on a receiver's answer.
pub trait AlertSink: Send + Sync {
    /// Delivers one evaluation's alerts.
    ///
    /// # Errors
    /// Implementation-defined; the HTTP sinks return [`Error::Io`] (the URL as the path) once
    /// their retries are spent, and [`Error::InvalidInput`] when the receiver refuses the
    /// request (`4xx`).
    fn send(&self, events: &[AlertEvent], active: &[Alert]) -> Result<()>;
}

/// Retry policy and HTTP agent shared by the sinks.
#[derive(Debug, Clone)]
struct Transport {
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl Transport {
    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into()
    }

    /// POSTs `body` to `url` with `headers`, retrying as the module doc says; returns the
    /// number of attempts it took.
    fn post(&self, url: &str, body: &[u8], headers: &[(&str, String)]) -> Result<u32> {
        if cfg!(not(feature = "tls"))
            && url
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        {
            return Err(Error::invalid(
                format!("alert delivery to {url}"),
                "https needs mlops-monitor's `tls` feature",
            ));
        }
        let agent = self.agent();
        let attempts = self.retries.saturating_add(1);
        let mut last = String::new();
        let mut last_kind = std::io::ErrorKind::Other;
        for attempt in 1..=attempts {
            if attempt > 1 {
                let factor = 1u32.checked_shl(attempt - 2).unwrap_or(u32::MAX);
                std::thread::sleep(self.backoff.saturating_mul(factor));
            }
            let mut req = agent.post(url).header("Content-Type", "application/json");
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            match req.send(body) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        tracing::debug!(url, attempt, status, "delivered");
                        return Ok(attempt);
                    }
                    let text = resp
                        .body_mut()
                        .with_config()
                        .limit(4096)
                        .read_to_string()
                        .unwrap_or_default();
                    if status == 429 || status >= 500 {
                        last = format!("HTTP {status}: {}", text.trim());
                        last_kind = std::io::ErrorKind::Other;
                        tracing::warn!(url, attempt, status, "alert delivery failed, retrying");
                        continue;
                    }
                    return Err(Error::invalid(
                        format!("alert delivery to {url}"),
                        format!("HTTP {status}: {}", text.trim()),
                    ));
                }
                Err(ureq::Error::Timeout(t)) => {
                    last = format!("timed out ({t})");
                    last_kind = std::io::ErrorKind::TimedOut;
                }
                Err(
                    e @ (ureq::Error::BadUri(_)
                    | ureq::Error::Http(_)
                    | ureq::Error::InvalidProxyUrl
                    | ureq::Error::RedirectFailed
                    | ureq::Error::Tls(_)),
                ) => {
                    return Err(Error::invalid(
                        format!("alert delivery to {url}"),
                        e.to_string(),
                    ));
                }
                Err(e) => {
                    last_kind = match &e {
                        ureq::Error::Io(io) => io.kind(),
                        _ => std::io::ErrorKind::Other,
                    };
                    last = e.to_string();
                }
            }
            tracing::warn!(url, attempt, error = %last, "alert delivery failed");
        }
        Err(Error::io(
            url,
            std::io::Error::new(
                last_kind,
                format!("alert delivery gave up after {attempts} attempts: {last}"),
            ),
        ))
    }
}

/// `X-Mlops-Signature` value for `body`: `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cold]
fn unreachable_hmac() -> ! {
    // Proven invariant: `Hmac<D>` accepts every key length (longer keys are hashed).
    unreachable!("HMAC accepts keys of any length")
}

/// A generic webhook: POSTs `{"version":"1","events":[…],"alerts":[…]}` (see [`AlertEvent`],
/// [`Alert`] for the fields; times in ms since the epoch), signed with
/// `X-Mlops-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` when a secret is set.
/// It posts only when there is at least one event.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    url: String,
    secret: Option<Vec<u8>>,
    transport: Transport,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    version: &'static str,
    events: &'a [AlertEvent],
    alerts: &'a [Alert],
}

impl WebhookSink {
    /// A webhook to `url`: no secret, 10 s timeout per attempt, 3 retries, backoff 500 ms
    /// doubling.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookSink {
            url: url.into(),
            secret: None,
            transport: Transport {
                timeout: Duration::from_secs(10),
                retries: 3,
                backoff: Duration::from_millis(500),
            },
        }
    }

    /// Signs every body with this secret.
    pub fn with_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Timeout of one attempt (connect, send and answer).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.transport.timeout = timeout;
        self
    }

    /// Retries after the first attempt.
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.transport.retries = retries;
        self
    }

    /// Wait before the first retry; it doubles for each further one.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.transport.backoff = backoff;
        self
    }

    /// The JSON body for one delivery (what [`AlertSink::send`] posts and signs).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if serialization fails (it cannot for these types).
    pub fn body(events: &[AlertEvent], active: &[Alert]) -> Result<Vec<u8>> {
        serde_json::to_vec(&WebhookBody {
            version: "1",
            events,
            alerts: active,
        })
        .map_err(|e| Error::invalid("webhook body", e.to_string()))
    }
}

impl AlertSink for WebhookSink {
    #[tracing::instrument(skip_all, fields(url = %self.url, events = events.len()))]
    fn send(&self, events: &[AlertEvent], active: &[Alert]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let body = WebhookSink::body(events, active)?;
        let mut headers = Vec::new();
        if let Some(secret) = &self.secret {
            headers.push(("X-Mlops-Signature", signature(secret, &body)));
        }
        self.transport.post(&self.url, &body, &headers).map(|_| ())
    }
}

/// Prometheus Alertmanager: `POST {base_url}/api/v2/alerts`.
///
/// Like Prometheus, every call re-sends each firing alert (pending ones are not sent), with
/// `endsAt` = now + `valid_for` so that Alertmanager resolves it by itself if the sender
/// stops; resolved alerts in `events` are sent once with `endsAt` = their resolution time.
#[derive(Debug, Clone)]
pub struct AlertmanagerSink {
    base_url: String,
    generator_url: Option<String>,
    valid_for: Duration,
    transport: Transport,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert<'a> {
    labels: &'a std::collections::BTreeMap<String, String>,
    annotations: &'a std::collections::BTreeMap<String, String>,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL", skip_serializing_if = "Option::is_none")]
    generator_url: Option<&'a str>,
}

impl AlertmanagerSink {
    /// A sink for the Alertmanager at `base_url` (`http://host:9093`): 10 s timeout, 3 retries,
    /// 500 ms backoff doubling, firing alerts valid for 1 h (set it to about 4× your evaluation
    /// period, as Prometheus does).
    pub fn new(base_url: impl Into<String>) -> Self {
        AlertmanagerSink {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            generator_url: None,
            valid_for: Duration::from_secs(3600),
            transport: Transport {
                timeout: Duration::from_secs(10),
                retries: 3,
                backoff: Duration::from_millis(500),
            },
        }
    }

    /// The `generatorURL` of every alert (a dashboard, say).
    pub fn with_generator_url(mut self, url: impl Into<String>) -> Self {
        self.generator_url = Some(url.into());
        self
    }

    /// How long past now a firing alert stays valid without being re-sent.
    pub fn with_valid_for(mut self, valid_for: Duration) -> Self {
        self.valid_for = valid_for;
        self
    }

    /// Timeout of one attempt.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.transport.timeout = timeout;
        self
    }

    /// Retries after the first attempt and the first backoff (doubling).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.transport.retries = retries;
        self.transport.backoff = backoff;
        self
    }

    /// The JSON array posted for one call at wall time `now_ms`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if serialization fails (it cannot for these types).
    pub fn body(&self, events: &[AlertEvent], active: &[Alert], now_ms: i64) -> Result<Vec<u8>> {
        let valid_ms = i64::try_from(self.valid_for.as_millis()).unwrap_or(i64::MAX);
        let mut out: Vec<AmAlert<'_>> = Vec::new();
        for a in active.iter().filter(|a| a.state == AlertState::Firing) {
            out.push(AmAlert {
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: rfc3339(a.starts_at_ms),
                ends_at: rfc3339(now_ms.saturating_add(valid_ms).max(a.starts_at_ms)),
                generator_url: self.generator_url.as_deref(),
            });
        }
        for e in events.iter().filter(|e| e.to == AlertState::Resolved) {
            let a = &e.alert;
            let ends = a.ends_at_ms.unwrap_or(e.at_ms).max(a.starts_at_ms);
            out.push(AmAlert {
                labels: &a.labels,
                annotations: &a.annotations,
                starts_at: rfc3339(a.starts_at_ms),
                ends_at: rfc3339(ends),
                generator_url: self.generator_url.as_deref(),
            });
        }
        serde_json::to_vec(&out).map_err(|e| Error::invalid("alertmanager body", e.to_string()))
    }
}

impl AlertSink for AlertmanagerSink {
    #[tracing::instrument(skip_all, fields(url = %self.base_url, events = events.len(), active = active.len()))]
    fn send(&self, events: &[AlertEvent], active: &[Alert]) -> Result<()> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let body = self.body(events, active, now_ms)?;
        if body == b"[]" {
            return Ok(());
        }
        let url = format!("{}/api/v2/alerts", self.base_url);
        self.transport.post(&url, &body, &[]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
