//! The outbound side of webhooks: the HTTP client (rustls with the web PKI roots and any
//! extra CA, no redirects, no proxies, connect and total timeouts, a small idle pool), the
//! resolver that refuses non-public addresses after DNS, one attempt, and the signature.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::Sha256;

use crate::config::{
    WEBHOOK_CONNECT_TIMEOUT_SECONDS, WEBHOOK_IDLE_CONNECTION_SECONDS, WEBHOOK_TIMEOUT_SECONDS,
};
use crate::domain::webhooks::{is_refused_address, AttemptOutcome};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Tollgate-Signature";
/// How many idle connections are kept per endpoint host.
const IDLE_CONNECTIONS_PER_HOST: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum WebhookClientError {
    #[error("could not read the extra CA file {path}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("the extra CA file {path} holds no usable PEM certificate: {reason}")]
    BadCa { path: String, reason: String },
    #[error("could not build the webhook HTTP client: {0}")]
    Build(String),
}

/// The client every delivery goes through.
pub fn webhook_client(
    allow_private: bool,
    extra_ca: Option<&Path>,
) -> Result<reqwest::Client, WebhookClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(WEBHOOK_CONNECT_TIMEOUT_SECONDS))
        .timeout(Duration::from_secs(WEBHOOK_TIMEOUT_SECONDS))
        .pool_idle_timeout(Duration::from_secs(WEBHOOK_IDLE_CONNECTION_SECONDS))
        .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST)
        .user_agent(concat!("tollgate-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PublicResolver { allow_private }));
    if let Some(path) = extra_ca {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| WebhookClientError::ReadCa {
            path: shown.clone(),
            source,
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            WebhookClientError::BadCa {
                path: shown.clone(),
                reason: error.to_string(),
            }
        })?;
        if certificates.is_empty() {
            return Err(WebhookClientError::BadCa {
                path: shown,
                reason: "no certificate found".into(),
            });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|error| WebhookClientError::Build(error.to_string()))
}

/// Resolves names with the system resolver and keeps only public addresses, so a name
/// that points (or is re-pointed) at an internal address is never connected to.
struct PublicResolver {
    allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to refused (loopback, private, link-local, multicast or unspecified) addresses")]
struct RefusedHost {
    host: String,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved = resolve_public(&host, allow_private).await?;
            Ok(Box::new(resolved.into_iter()) as Addrs)
        })
    }
}

/// The addresses a name resolves to that webhooks may connect to; an error when there is
/// none.
pub async fn resolve_public(
    host: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await?
        .filter(|address| allow_private || !is_refused_address(address.ip()))
        .collect();
    if resolved.is_empty() {
        return Err(Box::new(RefusedHost {
            host: host.to_owned(),
        }));
    }
    Ok(resolved)
}

/// The signature header for a body sent at `timestamp` (unix wall seconds): one `v1` per
/// secret, so a receiver holding either secret during a roll accepts it.
pub fn signature_header(
    secrets: &[&str],
    timestamp: i64,
    body: &str,
) -> Result<String, hmac::digest::InvalidLength> {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())?;
        mac.update(format!("{timestamp}.{body}").as_bytes());
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    Ok(header)
}

/// One POST of a signed body. An IP-literal host is checked here; a name is checked by
/// the resolver after DNS. The answer's body is never read.
pub async fn send_attempt(
    client: &reqwest::Client,
    url: &str,
    allow_private: bool,
    body: String,
    signature: &str,
) -> AttemptOutcome {
    let literal = match url::Url::parse(url)
        .ok()
        .and_then(|url| url.host().map(|host| host.to_owned()))
    {
        None => {
            return AttemptOutcome::Unreachable {
                error: "the endpoint URL has no host".into(),
            }
        }
        Some(url::Host::Ipv4(address)) => Some(IpAddr::V4(address)),
        Some(url::Host::Ipv6(address)) => Some(IpAddr::V6(address)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(address) = literal.filter(|address| !allow_private && is_refused_address(*address))
    {
        return AttemptOutcome::Unreachable {
            error: format!("{address} is a refused (loopback, private, link-local, multicast or unspecified) address"),
        };
    }
    let sent = client
        .post(url)
        .header(SIGNATURE_HEADER, signature)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => AttemptOutcome::Acknowledged {
            status: response.status().as_u16(),
        },
        Ok(response) => AttemptOutcome::Refused {
            status: response.status().as_u16(),
        },
        Err(error) => AttemptOutcome::Unreachable {
            error: error_chain(&error),
        },
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the header is not of the form t=<unix seconds>,v1=<hex>[,v1=<hex>]")]
    Malformed,
    #[error("the timestamp is {age_seconds} s from now, more than the tolerance of {tolerance_seconds} s")]
    OutsideTolerance {
        age_seconds: i64,
        tolerance_seconds: i64,
    },
    #[error("no v1 signature matches the body signed with this secret")]
    NoMatch,
}

/// Checks a `Tollgate-Signature` header as a receiver would: the timestamp within
/// `tolerance_seconds` of `now` (unix seconds) and one `v1` equal to the HMAC of
/// "t.body" under `secret`, compared in constant time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &str,
    tolerance_seconds: i64,
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age_seconds = now.saturating_sub(timestamp);
    if age_seconds.saturating_abs() > tolerance_seconds {
        return Err(SignatureError::OutsideTolerance {
            age_seconds,
            tolerance_seconds,
        });
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|_| SignatureError::Malformed)?;
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected = mac.finalize().into_bytes();
    let matches = signatures.iter().any(|signature| {
        hex::decode(signature).is_ok_and(|given| {
            subtle::ConstantTimeEq::ct_eq(given.as_slice(), expected.as_slice()).into()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// An error with its causes, which name the real reason (refused address, timeout, TLS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_accepts_either_secret_within_the_tolerance() {
        let header =
            signature_header(&["whsec_new", "whsec_old"], 1_000, "{\"a\":1}").unwrap_or_default();
        let body = "{\"a\":1}";
        assert_eq!(
            verify_signature("whsec_new", &header, body, 300, 1_100),
            Ok(())
        );
        assert_eq!(
            verify_signature("whsec_old", &header, body, 300, 1_100),
            Ok(())
        );
        assert_eq!(
            verify_signature("whsec_other", &header, body, 300, 1_100),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature("whsec_new", &header, "{}", 300, 1_100),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature("whsec_new", &header, body, 300, 1_301),
            Err(SignatureError::OutsideTolerance {
                age_seconds: 301,
                tolerance_seconds: 300
            })
        );
        assert_eq!(
            verify_signature("whsec_new", "v1=00", body, 300, 1_000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn every_secret_signs_the_same_payload() {
        let header =
            signature_header(&["whsec_a", "whsec_b"], 1_700_000_000, "{}").unwrap_or_default();
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "t=1700000000");
        assert!(parts[1].starts_with("v1=") && parts[2].starts_with("v1="));
        assert_ne!(parts[1], parts[2]);
    }
}
