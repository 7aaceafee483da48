//! Webhook endpoints (where a platform wants its events sent, and which ones), deliveries
//! (one event to one endpoint, with its attempts), which addresses may be called, and the
//! retry schedule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::events::is_cataloged;
use crate::ids::{EventId, WebhookDeliveryId, WebhookEndpointId};

/// The most event types one endpoint may list.
pub const MAX_ENABLED_EVENTS: usize = 50;
/// The longest endpoint URL accepted.
pub const MAX_WEBHOOK_URL_CHARS: usize = 2048;
/// The event type that means "every event".
pub const ALL_EVENTS: &str = "*";
/// The wait before the first retry; each later retry waits twice as long as the one before.
pub const FIRST_RETRY_SECONDS: i64 = 30;
/// The longest wait between two attempts.
pub const MAX_RETRY_INTERVAL_SECONDS: i64 = 3600;
/// How long an endpoint may fail every attempt before it is disabled.
pub const DISABLE_AFTER_FAILING_DAYS: i64 = 3;
/// How long a rolled secret keeps signing beside the new one.
pub const PREVIOUS_SECRET_HOURS: i64 = 24;
/// The longest delivery error kept (the rest is cut).
pub const MAX_DELIVERY_ERROR_CHARS: usize = 500;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub enabled_events: Vec<String>,
    /// The signing secret (`whsec_…`); shown only when it is made.
    pub secret: String,
    /// The secret before the last roll, and until when it still signs.
    #[serde(default)]
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    /// A disabled endpoint gets no deliveries.
    #[serde(default)]
    pub disabled: bool,
    pub created: DateTime<Utc>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled
            && self
                .enabled_events
                .iter()
                .any(|enabled| enabled == ALL_EVENTS || enabled == event_type)
    }

    /// The secrets that sign a delivery at `now`: the current one, then a rolled one that
    /// has not expired.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret {
            if now < *until {
                secrets.push(previous.as_str());
            }
        }
        secrets
    }

    /// The endpoint as events show it: never its secrets.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "url": self.url,
            "enabled_events": self.enabled_events,
            "disabled": self.disabled,
            "created": self.created,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not acknowledged yet: waiting to be sent, or for its next retry.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Given up: the endpoint was disabled or deleted first.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One event's delivery to one endpoint, with its latest attempt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub endpoint: WebhookEndpointId,
    pub event: EventId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub response_code: Option<u16>,
    pub error: Option<String>,
    /// Business time of the latest attempt.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Business time of the next attempt, while a retry is scheduled.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Business time of the first failed attempt of the current run of failures.
    pub failing_since: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    /// The claim of the server sending the next attempt, while it sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<DeliveryLease>,
}

/// A server's claim on a delivery's next attempt: no other server sends it until the claim
/// runs out (wall time, since it guards real sending whatever the business clock says). A
/// server that dies mid-attempt leaves a claim that runs out, and another sends it again:
/// delivery is at least once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLease {
    pub server: String,
    pub until: DateTime<Utc>,
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Acknowledged { status: u16 },
    /// Any other answer (redirects are not followed).
    Refused { status: u16 },
    /// No answer: refused address, connection failure, timeout.
    Unreachable { error: String },
}

/// What the delivery becomes after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The endpoint has failed for long enough: disable it.
    DisableEndpoint,
}

impl WebhookDelivery {
    /// Whether a server other than `server` holds a claim on the delivery at wall time `now`.
    pub fn claimed_by_another(&self, server: &str, now: DateTime<Utc>) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|lease| lease.server != server && lease.until > now)
    }

    /// The delivery claimed by `server` until `until`.
    pub fn claimed(&self, server: &str, until: DateTime<Utc>) -> WebhookDelivery {
        WebhookDelivery {
            lease: Some(DeliveryLease {
                server: server.to_owned(),
                until,
            }),
            ..self.clone()
        }
    }

    /// Records an attempt made at `now` and says what happens next; the claim ends with it.
    pub fn record(&mut self, outcome: &AttemptOutcome, now: DateTime<Utc>) -> AfterAttempt {
        self.lease = None;
        self.attempts = self.attempts.saturating_add(1);
        self.last_attempt_at = Some(now);
        match outcome {
            AttemptOutcome::Acknowledged { status } => {
                self.response_code = Some(*status);
                self.error = None;
                self.status = DeliveryStatus::Succeeded;
                self.next_retry_at = None;
                return AfterAttempt::Delivered;
            }
            AttemptOutcome::Refused { status } => {
                self.response_code = Some(*status);
                self.error = Some(format!("the endpoint answered {status}"));
            }
            AttemptOutcome::Unreachable { error } => {
                self.response_code = None;
                self.error = Some(error.chars().take(MAX_DELIVERY_ERROR_CHARS).collect());
            }
        }
        let failing_since = *self.failing_since.get_or_insert(now);
        if now - failing_since >= Duration::days(DISABLE_AFTER_FAILING_DAYS) {
            self.next_retry_at = None;
            return AfterAttempt::DisableEndpoint;
        }
        let retry_at = now + retry_delay(self.attempts);
        self.next_retry_at = Some(retry_at);
        AfterAttempt::RetryAt(retry_at)
    }
}

/// The wait after the `failures`-th failed attempt: 30 s, 60 s, 120 s … up to an hour.
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let seconds = FIRST_RETRY_SECONDS
        .saturating_mul(1i64 << doublings)
        .min(MAX_RETRY_INTERVAL_SECONDS);
    Duration::seconds(seconds)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "the url must be an absolute http(s) URL of at most {MAX_WEBHOOK_URL_CHARS} characters"
    )]
    BadUrl,
    #[error("the url points at a loopback, private, link-local, multicast or unspecified address; webhooks go only to public addresses")]
    PrivateAddress,
    #[error("enabledEvents must list 1 to {MAX_ENABLED_EVENTS} event types from the event catalogue (such as charge.succeeded), or \"*\"")]
    BadEvents,
    #[error(
        "unknown event type {0:?}: enabledEvents takes types from the event catalogue, or \"*\""
    )]
    UnknownEvent(String),
}

impl WebhookError {
    pub fn param(&self) -> &'static str {
        match self {
            WebhookError::BadUrl | WebhookError::PrivateAddress => "url",
            WebhookError::BadEvents | WebhookError::UnknownEvent(_) => "enabledEvents",
        }
    }
}

/// Parses an endpoint URL: http or https, with a host that is not a refused address.
/// IPv4 written in decimal, hex or octal is read as the address it means.
pub fn parse_url(url: &str, allow_private: bool) -> Result<String, WebhookError> {
    if url.chars().count() > MAX_WEBHOOK_URL_CHARS {
        return Err(WebhookError::BadUrl);
    }
    let parsed = url::Url::parse(url).map_err(|_| WebhookError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::BadUrl);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookError::BadUrl);
    }
    let refused = match parsed.host() {
        None => return Err(WebhookError::BadUrl),
        Some(url::Host::Ipv4(address)) => is_refused_address(IpAddr::V4(address)),
        Some(url::Host::Ipv6(address)) => is_refused_address(IpAddr::V6(address)),
        Some(url::Host::Domain(name)) => is_local_name(name),
    };
    if refused && !allow_private {
        return Err(WebhookError::PrivateAddress);
    }
    Ok(parsed.to_string())
}

/// Names that always mean this machine.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Loopback, private, shared (carrier-grade NAT), link-local, multicast, unspecified,
/// broadcast, documentation and other non-public addresses.
pub fn is_refused_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(address) => is_refused_v4(address),
        IpAddr::V6(address) => is_refused_v6(address),
    }
}

fn is_refused_v4(address: Ipv4Addr) -> bool {
    let [first, second, ..] = address.octets();
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_multicast()
        || address.is_unspecified()
        || address.is_broadcast()
        || address.is_documentation()
        || first == 0
        // 100.64.0.0/10: shared address space.
        || (first == 100 && (64..128).contains(&second))
        // 198.18.0.0/15: benchmarking; 240.0.0.0/4: reserved.
        || (first == 198 && (18..20).contains(&second))
        || first >= 240
}

fn is_refused_v6(address: Ipv6Addr) -> bool {
    if let Some(mapped) = address.to_ipv4_mapped() {
        return is_refused_v4(mapped);
    }
    let first = address.segments()[0];
    address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && address.segments()[1] == 0x0db8)
        // 64:ff9b::/96 NAT64 and ::/96 IPv4-compatible could reach any IPv4 address.
        || (first == 0x0064 && address.segments()[1] == 0xff9b)
        || address.segments()[..6].iter().all(|segment| *segment == 0)
}

/// Checks an endpoint's event types against the catalogue; sorted, without duplicates.
pub fn parse_enabled_events(events: Vec<String>) -> Result<Vec<String>, WebhookError> {
    if events.is_empty() || events.len() > MAX_ENABLED_EVENTS {
        return Err(WebhookError::BadEvents);
    }
    if let Some(unknown) = events
        .iter()
        .find(|event| event.as_str() != ALL_EVENTS && !is_cataloged(event))
    {
        return Err(WebhookError::UnknownEvent(
            unknown
                .chars()
                .take(crate::domain::events::MAX_EVENT_TYPE_CHARS)
                .collect(),
        ));
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_event_lists_are_checked() {
        assert_eq!(
            parse_url("https://hooks.example/tollgate", false),
            Ok("https://hooks.example/tollgate".into())
        );
        assert_eq!(
            parse_url("ftp://hooks.example", false),
            Err(WebhookError::BadUrl)
        );
        assert_eq!(parse_url("not a url", false), Err(WebhookError::BadUrl));
        assert_eq!(parse_enabled_events(vec![]), Err(WebhookError::BadEvents));
        assert_eq!(
            parse_enabled_events(vec!["charge.succeded".into()]),
            Err(WebhookError::UnknownEvent("charge.succeded".into()))
        );
        assert_eq!(
            parse_enabled_events(vec![
                "payout.paid".into(),
                "charge.succeeded".into(),
                "payout.paid".into()
            ]),
            Ok(vec![
                "charge.succeeded".to_owned(),
                "payout.paid".to_owned()
            ])
        );
    }

    #[test]
    fn every_form_of_a_private_address_is_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0.0.0.0/",
            "http://0/",
            "http://10.0.0.1/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[ff02::1]/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
        ] {
            assert_eq!(
                parse_url(url, false),
                Err(WebhookError::PrivateAddress),
                "{url}"
            );
            assert!(parse_url(url, true).is_ok(), "{url}");
        }
        for url in [
            "https://93.184.215.14/",
            "https://[2606:4700::1111]/",
            "https://example.com/",
        ] {
            assert!(parse_url(url, false).is_ok(), "{url}");
        }
    }

    #[test]
    fn retries_back_off_to_an_hour_and_give_up_after_three_days() {
        assert_eq!(retry_delay(1), Duration::seconds(30));
        assert_eq!(retry_delay(2), Duration::seconds(60));
        assert_eq!(retry_delay(7), Duration::seconds(1920));
        assert_eq!(retry_delay(8), Duration::seconds(3600));
        assert_eq!(retry_delay(u32::MAX), Duration::seconds(3600));
        let start = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut delivery = WebhookDelivery {
            id: crate::ids::IdGenerator::new().next(),
            endpoint: crate::ids::IdGenerator::new().next(),
            event: crate::ids::IdGenerator::new().next(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            response_code: None,
            error: None,
            last_attempt_at: None,
            next_retry_at: None,
            failing_since: None,
            created: start,
            lease: None,
        };
        let refused = AttemptOutcome::Refused { status: 500 };
        assert_eq!(
            delivery.record(&refused, start),
            AfterAttempt::RetryAt(start + Duration::seconds(30))
        );
        assert_eq!(
            delivery.record(&refused, start + Duration::days(3) - Duration::seconds(1)),
            AfterAttempt::RetryAt(start + Duration::days(3) + Duration::seconds(59))
        );
        assert_eq!(
            delivery.record(&refused, start + Duration::days(3)),
            AfterAttempt::DisableEndpoint
        );
        assert_eq!(delivery.attempts, 3);
        assert_eq!(
            delivery.record(&AttemptOutcome::Acknowledged { status: 204 }, start),
            AfterAttempt::Delivered
        );
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    }

    #[test]
    fn a_claim_holds_off_other_servers_until_it_runs_out_and_ends_with_the_attempt() {
        let start = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let ids = crate::ids::IdGenerator::new();
        let delivery = WebhookDelivery {
            id: ids.next(),
            endpoint: ids.next(),
            event: ids.next(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            response_code: None,
            error: None,
            last_attempt_at: None,
            next_retry_at: None,
            failing_since: None,
            created: start,
            lease: None,
        };
        assert!(!delivery.claimed_by_another("srv_b", start));
        let mut claimed = delivery.claimed("srv_a", start + Duration::seconds(60));
        assert!(!claimed.claimed_by_another("srv_a", start));
        assert!(claimed.claimed_by_another("srv_b", start + Duration::seconds(59)));
        assert!(!claimed.claimed_by_another("srv_b", start + Duration::seconds(60)));
        claimed.record(&AttemptOutcome::Acknowledged { status: 200 }, start);
        assert_eq!(claimed.lease, None);
    }
}
