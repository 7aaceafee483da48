//! Relay-style pages over the store's newest-first indexes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::ServiceError;
use crate::config::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// A validated page request: `first` in 1..=100 and an opaque `after` cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub first: usize,
    pub after: Option<String>,
}

impl PageRequest {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<PageRequest, ServiceError> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(value) => usize::try_from(value)
                .ok()
                .filter(|value| (1..=MAX_PAGE_SIZE).contains(value))
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "first",
                        format!("first must be between 1 and {MAX_PAGE_SIZE}, not {value}"),
                    )
                })?,
        };
        let after = after.map(decode_cursor).transpose()?;
        Ok(PageRequest { first, after })
    }
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, ServiceError> {
    let invalid = || ServiceError::invalid("after", "after is not a cursor returned by this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let id = String::from_utf8(bytes).map_err(|_| invalid())?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(invalid());
    }
    Ok(id)
}

/// One page of objects, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self
                .items
                .into_iter()
                .map(|(cursor, item)| (cursor, f(item)))
                .collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}
