//! Versioned codecs: every stored object is an envelope of codec version, revision and JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// The codec version written by this build. Readers accept every version up to it.
pub const CODEC_VERSION: u8 = 1;
const HEADER_BYTES: usize = 9;

/// Encodes a value as the JSON payload of an envelope.
pub fn to_payload<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Codec(error.to_string()))
}

pub fn from_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(payload).map_err(|error| StoreError::Codec(error.to_string()))
}

/// `[version][revision: u64 big-endian][payload]`.
pub fn seal(revision: u64, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.push(CODEC_VERSION);
    bytes.extend_from_slice(&revision.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Splits an envelope into its revision and payload.
pub fn open(bytes: &[u8]) -> Result<(u64, &[u8]), StoreError> {
    let (header, payload) = bytes
        .split_at_checked(HEADER_BYTES)
        .ok_or_else(|| StoreError::Codec("envelope shorter than its header".into()))?;
    let (&version, revision) = header
        .split_first()
        .ok_or_else(|| StoreError::Codec("empty envelope".into()))?;
    if version == 0 || version > CODEC_VERSION {
        return Err(StoreError::Codec(format!(
            "codec version {version} is newer than this build reads ({CODEC_VERSION})"
        )));
    }
    let revision: [u8; 8] = revision
        .try_into()
        .map_err(|_| StoreError::Codec("bad revision bytes".into()))?;
    Ok((u64::from_be_bytes(revision), payload))
}

pub fn encode_i64(value: i64) -> [u8; 8] {
    value.to_be_bytes()
}

pub fn decode_i64(bytes: &[u8]) -> Result<i64, StoreError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Codec("a stored integer is not 8 bytes".into()))?;
    Ok(i64::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        let sealed = seal(7, b"{\"a\":1}");
        let (revision, payload) = open(&sealed).expect("open");
        assert_eq!(revision, 7);
        assert_eq!(payload, b"{\"a\":1}");
    }

    #[test]
    fn unknown_versions_and_short_envelopes_are_refused() {
        let mut sealed = seal(1, b"{}");
        sealed[0] = CODEC_VERSION + 1;
        assert!(open(&sealed).is_err());
        assert!(open(&[1, 0, 0]).is_err());
    }
}
