//! A request id per HTTP request: logged with everything the request does (a tracing span),
//! sent back in `X-Request-Id` and in every error's `extensions.requestId`, so an operator
//! can find what a client saw without the client ever seeing internal details.

use rand::RngCore;

/// The response header that carries the id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// `req_` and 16 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn new() -> RequestId {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        RequestId(format!("req_{}", hex::encode(bytes)))
    }

    /// The id the request-id layer gave the request (the client's own, when usable), or a
    /// new one.
    pub fn from_header(given: Option<&str>) -> RequestId {
        match given {
            Some(id) if !id.is_empty() => RequestId(id.to_owned()),
            _ => RequestId::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The span every log line of the request is recorded in.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("request", request_id = %self.0)
    }
}

impl Default for RequestId {
    fn default() -> RequestId {
        RequestId::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let first = RequestId::new();
        let second = RequestId::new();
        assert!(first.as_str().starts_with("req_"));
        assert_eq!(first.as_str().len(), 4 + 16);
        assert_ne!(first, second);
    }
}
