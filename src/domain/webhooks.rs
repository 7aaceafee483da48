//! Webhook endpoints: where a platform wants its events sent, and which ones.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::WebhookEndpointId;

/// The most event types one endpoint may list.
pub const MAX_ENABLED_EVENTS: usize = 50;
/// The longest endpoint URL accepted.
pub const MAX_WEBHOOK_URL_CHARS: usize = 2048;
/// The event type that means "every event".
pub const ALL_EVENTS: &str = "*";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub enabled_events: Vec<String>,
    /// The signing secret (`whsec_…`); shown only when the endpoint is created.
    pub secret: String,
    pub created: DateTime<Utc>,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled_events
            .iter()
            .any(|enabled| enabled == ALL_EVENTS || enabled == event_type)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "the url must be an absolute http(s) URL of at most {MAX_WEBHOOK_URL_CHARS} characters"
    )]
    BadUrl,
    #[error("enabledEvents must list 1 to {MAX_ENABLED_EVENTS} event types such as charge.succeeded, or \"*\"")]
    BadEvents,
}

impl WebhookError {
    pub fn param(&self) -> &'static str {
        match self {
            WebhookError::BadUrl => "url",
            WebhookError::BadEvents => "enabledEvents",
        }
    }
}

pub fn parse_url(url: &str) -> Result<String, WebhookError> {
    if url.chars().count() > MAX_WEBHOOK_URL_CHARS {
        return Err(WebhookError::BadUrl);
    }
    let parsed = url::Url::parse(url).map_err(|_| WebhookError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(WebhookError::BadUrl);
    }
    Ok(parsed.to_string())
}

pub fn parse_enabled_events(events: Vec<String>) -> Result<Vec<String>, WebhookError> {
    let valid = |event: &String| {
        event == ALL_EVENTS
            || (!event.is_empty()
                && event.len() <= 64
                && event
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'))
    };
    if events.is_empty() || events.len() > MAX_ENABLED_EVENTS || !events.iter().all(valid) {
        return Err(WebhookError::BadEvents);
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
            parse_url("https://hooks.example/tollgate"),
            Ok("https://hooks.example/tollgate".into())
        );
        assert_eq!(parse_url("ftp://hooks.example"), Err(WebhookError::BadUrl));
        assert_eq!(parse_url("not a url"), Err(WebhookError::BadUrl));
        assert_eq!(parse_enabled_events(vec![]), Err(WebhookError::BadEvents));
        assert_eq!(
            parse_enabled_events(vec!["Charge.Succeeded".into()]),
            Err(WebhookError::BadEvents)
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
}
