//! Versioned codecs: every stored object is an envelope of codec version, revision and
//! payload; version 1 payloads are JSON, version 2 payloads are the same JSON compressed with
//! zstd against a fixed dictionary of this store's own records (field names, enum values,
//! id prefixes), which is what makes records of a few hundred bytes compress well.

use std::cell::RefCell;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::StoreError;

/// The newest codec version; readers accept every version up to it.
pub const CODEC_VERSION: u8 = 2;
/// An envelope whose payload is JSON.
const JSON_VERSION: u8 = 1;
/// An envelope whose payload is JSON compressed against [`VALUE_DICTIONARY`].
const COMPRESSED_VERSION: u8 = 2;
const HEADER_BYTES: usize = 9;
/// Records compressed with version 2 depend on these exact bytes: they never change (a new
/// dictionary is a new codec version, and the old one stays to read what it wrote).
const VALUE_DICTIONARY: &[u8] = include_bytes!("value_dictionary.json");
/// zstd's level for stored values: its default, fast on records this small.
const COMPRESSION_LEVEL: i32 = 3;
/// The largest value a compressed payload may claim to expand to.
const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Encodes a value as the JSON payload of an envelope.
pub fn to_payload<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Codec(error.to_string()))
}

pub fn from_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(payload).map_err(|error| StoreError::Codec(error.to_string()))
}

fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static PREPARED: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    PREPARED.get_or_init(|| EncoderDictionary::copy(VALUE_DICTIONARY, COMPRESSION_LEVEL))
}

fn decoder_dictionary() -> &'static DecoderDictionary<'static> {
    static PREPARED: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    PREPARED.get_or_init(|| DecoderDictionary::copy(VALUE_DICTIONARY))
}

thread_local! {
    // A compression context is worth keeping: making one per record costs more than the
    // compression of a small record.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn codec_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Codec(error.to_string())
}

/// Compresses bytes against the value dictionary.
pub fn compress(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(
                zstd::bulk::Compressor::with_prepared_dictionary(encoder_dictionary())
                    .map_err(codec_error)?,
            ),
        };
        compressor.compress(bytes).map_err(codec_error)
    })
}

/// The bytes [`compress`] compressed.
pub fn decompress(compressed: &[u8]) -> Result<Vec<u8>, StoreError> {
    let size = zstd::zstd_safe::get_frame_content_size(compressed)
        .ok()
        .flatten()
        .filter(|size| *size <= MAX_DECOMPRESSED_BYTES)
        .ok_or_else(|| StoreError::Codec("a compressed value has no valid size".into()))?;
    let capacity = usize::try_from(size).map_err(codec_error)?;
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match slot.as_mut() {
            Some(decompressor) => decompressor,
            None => slot.insert(
                zstd::bulk::Decompressor::with_prepared_dictionary(decoder_dictionary())
                    .map_err(codec_error)?,
            ),
        };
        decompressor
            .decompress(compressed, capacity)
            .map_err(codec_error)
    })
}

/// Encodes an object for [`super::Write::Object`]: its codec version, then its payload.
pub fn encode_object<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let json = to_payload(value)?;
    let compressed = compress(&json)?;
    let mut bytes = Vec::with_capacity(1 + compressed.len());
    bytes.push(COMPRESSED_VERSION);
    bytes.extend_from_slice(&compressed);
    Ok(bytes)
}

/// `[version][revision: u64 big-endian][payload]`, from an object [`encode_object`] encoded.
pub fn seal(revision: u64, encoded: &[u8]) -> Result<Vec<u8>, StoreError> {
    let (&version, payload) = encoded
        .split_first()
        .ok_or_else(|| StoreError::Codec("an encoded object without its version".into()))?;
    check_version(version)?;
    let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
    bytes.push(version);
    bytes.extend_from_slice(&revision.to_be_bytes());
    bytes.extend_from_slice(payload);
    Ok(bytes)
}

fn check_version(version: u8) -> Result<(), StoreError> {
    if version == 0 || version > CODEC_VERSION {
        return Err(StoreError::Codec(format!(
            "codec version {version} is newer than this build reads ({CODEC_VERSION})"
        )));
    }
    Ok(())
}

/// Splits an envelope into its codec version, revision and payload.
fn split(bytes: &[u8]) -> Result<(u8, u64, &[u8]), StoreError> {
    let (header, payload) = bytes
        .split_at_checked(HEADER_BYTES)
        .ok_or_else(|| StoreError::Codec("envelope shorter than its header".into()))?;
    let (&version, revision) = header
        .split_first()
        .ok_or_else(|| StoreError::Codec("empty envelope".into()))?;
    check_version(version)?;
    let revision: [u8; 8] = revision
        .try_into()
        .map_err(|_| StoreError::Codec("bad revision bytes".into()))?;
    Ok((version, u64::from_be_bytes(revision), payload))
}

/// The revision of an envelope.
pub fn revision(bytes: &[u8]) -> Result<u64, StoreError> {
    split(bytes).map(|(_, revision, _)| revision)
}

/// An envelope's revision and the object it holds, in whichever version it was written.
pub fn open<T: DeserializeOwned>(bytes: &[u8]) -> Result<(u64, T), StoreError> {
    let (version, revision, payload) = split(bytes)?;
    let value = match version {
        JSON_VERSION => from_payload(payload)?,
        _ => from_payload(&decompress(payload)?)?,
    };
    Ok((revision, value))
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
    use serde_json::{json, Value};

    #[test]
    fn envelopes_round_trip() {
        let object = json!({"id": "ch_1", "amount": 100});
        let sealed = seal(7, &encode_object(&object).expect("encode")).expect("seal");
        assert_eq!(sealed[0], COMPRESSED_VERSION);
        assert_eq!(revision(&sealed), Ok(7));
        assert_eq!(open::<Value>(&sealed), Ok((7, object)));
    }

    #[test]
    fn envelopes_of_the_json_version_still_open() {
        let mut sealed = vec![JSON_VERSION];
        sealed.extend_from_slice(&3u64.to_be_bytes());
        sealed.extend_from_slice(b"{\"a\":1}");
        assert_eq!(open::<Value>(&sealed), Ok((3, json!({"a": 1}))));
    }

    #[test]
    fn unknown_versions_and_short_envelopes_are_refused() {
        let mut sealed = seal(1, &encode_object(&json!({})).expect("encode")).expect("seal");
        sealed[0] = CODEC_VERSION + 1;
        assert!(open::<Value>(&sealed).is_err());
        assert!(open::<Value>(&[1, 0, 0]).is_err());
        assert!(seal(1, &[CODEC_VERSION + 1, b'{', b'}']).is_err());
        let mut garbled = seal(1, &encode_object(&json!({})).expect("encode")).expect("seal");
        garbled.truncate(HEADER_BYTES + 2);
        assert!(open::<Value>(&garbled).is_err());
    }

    #[test]
    fn the_dictionary_is_the_one_values_were_compressed_with() {
        use sha2::{Digest, Sha256};
        // Changing it makes every value of version 2 unreadable: see `VALUE_DICTIONARY`.
        assert_eq!(
            hex::encode(Sha256::digest(VALUE_DICTIONARY)),
            "47c53d8149e50f2378ff26d86986d934bf46930d20176f94e8eb9ded9c087208"
        );
    }
}
