//! How the parts of an index key are spelled: ids as their 16 bytes, the common words of
//! index names as one byte, anything else as length-prefixed text.
//!
//! A part of the platform or the index name is self-delimiting, so no index's entries can
//! be mistaken for another's, and the name ends with [`NAME_END`], a byte no part starts
//! with. The object id is the key's last part; a typed id (`txn_…`) is its prefix, `_` and
//! the 16 bytes of its body, which sort exactly as the text did, so lists stay newest first
//! and a cursor (the id's text) finds its place in the index.

use crate::ids::{body_from_bytes, body_to_bytes};

/// Ends the index name: no part starts with it.
pub const NAME_END: u8 = 0x00;
/// A typed id: `<prefix>_` then the 16 bytes of its body.
const PART_ID: u8 = 0x01;
/// Text: its length (one byte below 128, else two) then its bytes; at the end of a key, its
/// bytes alone.
const PART_TEXT: u8 = 0x02;
/// A word of [`WORDS`]: this bit, or'ed with the word's position.
const PART_WORD: u8 = 0x80;
/// The longest prefix of a typed id ("skid", "link", …).
const MAX_PREFIX_CHARS: usize = 8;
/// The longest text part: two length bytes of seven bits each.
const MAX_TEXT_BYTES: usize = (1 << 14) - 1;

/// Index names' words spelled as one byte. Fixed for this layout: a word added here would
/// spell differently the keys already written with it as text, so the list only grows
/// with a new layout and its migration.
pub const WORDS: [&str; 60] = [
    "events",
    "events_acct",
    "events_type",
    "txns",
    "txns_type",
    "charges",
    "charges_acct",
    "charges_group",
    "transfers",
    "transfers_dest",
    "transfers_group",
    "refunds_charge",
    "payouts",
    "payouts_status",
    "payouts_holder",
    "payouts_holder_status",
    "disputes",
    "disputes_status",
    "accounts",
    "accounts_type",
    "account_debits_acct",
    "platforms",
    "connections",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_pending",
    "restricted_keys",
    "retired_secret_keys",
    "policy_backtests",
    "CHARGE",
    "PAYMENT",
    "REFUND",
    "PAYMENT_REFUND",
    "APPLICATION_FEE",
    "APPLICATION_FEE_REFUND",
    "TRANSFER",
    "TRANSFER_REVERSAL",
    "PAYOUT",
    "PAYOUT_FAILURE",
    "PAYOUT_CANCEL",
    "DISPUTE",
    "DISPUTE_REVERSAL",
    "ACCOUNT_DEBIT",
    "TOPUP",
    "ADJUSTMENT",
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
    "charge.refunded",
    "charge.dispute.created",
    "transfer.created",
    "transfer.reversed",
    "application_fee.created",
    "application_fee.refunded",
    "balance.available",
    "payout.created",
    "payout.paid",
    "payout.failed",
    "account.updated",
    "topup.succeeded",
];

/// `(prefix, body bytes)` of a typed id such as `txn_…`.
fn typed_id(text: &str) -> Option<(&str, [u8; 16])> {
    let (prefix, body) = text.split_once('_')?;
    let plain_prefix = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_CHARS
        && prefix.bytes().all(|byte| byte.is_ascii_lowercase());
    if !plain_prefix {
        return None;
    }
    Some((prefix, body_to_bytes(body)?))
}

fn push_id(out: &mut Vec<u8>, prefix: &str, body: &[u8; 16]) {
    out.push(PART_ID);
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'_');
    out.extend_from_slice(body);
}

/// Appends one part of the platform or the index name.
pub fn push_part(out: &mut Vec<u8>, part: &str) {
    if let Some(position) = WORDS.iter().position(|word| *word == part) {
        // Fewer than 128 words, so the position fits beside the flag bit.
        out.push(PART_WORD | position as u8);
    } else if let Some((prefix, body)) = typed_id(part) {
        push_id(out, prefix, &body);
    } else {
        out.push(PART_TEXT);
        // Longer text (never written by this code: names are ids and fixed words) is cut
        // at the limit and still spelled the same way every time.
        let bytes = part.as_bytes();
        let bytes = bytes.get(..MAX_TEXT_BYTES).unwrap_or(bytes);
        if bytes.len() < 0x80 {
            out.push(bytes.len() as u8);
        } else {
            out.push(0x80 | (bytes.len() >> 7) as u8);
            out.push((bytes.len() & 0x7F) as u8);
        }
        out.extend_from_slice(bytes);
    }
}

/// Appends the object id, the key's last part.
pub fn push_last(out: &mut Vec<u8>, id: &str) {
    match typed_id(id) {
        Some((prefix, body)) => push_id(out, prefix, &body),
        None => {
            out.push(PART_TEXT);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

/// The text of the part that `bytes` starts with, and the bytes after it.
fn read_part(bytes: &[u8]) -> Option<(String, &[u8])> {
    let (&kind, rest) = bytes.split_first()?;
    if kind & PART_WORD != 0 {
        let word = WORDS.get(usize::from(kind & !PART_WORD))?;
        return Some(((*word).to_owned(), rest));
    }
    match kind {
        PART_ID => {
            let split = rest.iter().position(|&byte| byte == b'_')?;
            let end = split + 1 + 16;
            let id = read_last(bytes.get(..end + 1)?)?;
            Some((id, rest.get(end..)?))
        }
        PART_TEXT => {
            let (&first, after) = rest.split_first()?;
            let (length, after) = if first < 0x80 {
                (usize::from(first), after)
            } else {
                let (&second, after) = after.split_first()?;
                (
                    (usize::from(first & 0x7F) << 7) | usize::from(second),
                    after,
                )
            };
            let (text, after) = after.split_at_checked(length)?;
            Some((String::from_utf8(text.to_vec()).ok()?, after))
        }
        _ => None,
    }
}

/// `(platform, index name, object id)` of an index key's bytes after its tag.
pub fn read_key(bytes: &[u8]) -> Option<(String, String, String)> {
    let (platform, mut rest) = read_part(bytes)?;
    let mut parts = Vec::new();
    while rest.first() != Some(&NAME_END) {
        let (part, after) = read_part(rest)?;
        parts.push(part);
        rest = after;
    }
    let id = read_last(rest.get(1..)?)?;
    Some((platform, parts.join(":"), id))
}

/// The object id that [`push_last`] wrote as `bytes`.
pub fn read_last(bytes: &[u8]) -> Option<String> {
    let (&kind, rest) = bytes.split_first()?;
    match kind {
        PART_ID => {
            let split = rest.iter().position(|&byte| byte == b'_')?;
            let (prefix, body) = rest.split_at(split);
            let body: &[u8; 16] = body.get(1..)?.try_into().ok()?;
            let prefix = std::str::from_utf8(prefix).ok()?;
            Some(format!("{prefix}_{}", body_from_bytes(body)))
        }
        PART_TEXT => String::from_utf8(rest.to_vec()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    #[test]
    fn the_word_list_is_the_one_keys_were_written_with() {
        // Changing the list changes how stored keys are spelled: see `WORDS`.
        let joined = WORDS.join(",");
        assert_eq!(joined.len(), 848);
        assert_eq!(WORDS[0], "events");
        assert_eq!(WORDS[45], "charge.succeeded");
        assert_eq!(WORDS[59], "topup.succeeded");
        let mut seen = std::collections::BTreeSet::new();
        assert!(WORDS.iter().all(|word| seen.insert(*word)));
    }

    #[test]
    fn ids_at_the_end_round_trip_and_keep_their_order() {
        let ids = IdGenerator::new();
        let mut made: Vec<String> = (0..50).map(|_| format!("txn_{}", ids.body())).collect();
        made.extend((0..50).map(|_| format!("tr_{}", ids.body())));
        made.extend((0..50).map(|_| format!("trr_{}", ids.body())));
        made.extend(["plain-text".to_owned(), "x".to_owned()]);
        for id in &made {
            let mut bytes = Vec::new();
            push_last(&mut bytes, id);
            assert_eq!(read_last(&bytes).as_deref(), Some(id.as_str()));
        }
        let typed: Vec<&String> = made.iter().filter(|id| typed_id(id).is_some()).collect();
        let mut by_text = typed.clone();
        by_text.sort();
        let mut by_key = typed.clone();
        by_key.sort_by_key(|id| {
            let mut bytes = Vec::new();
            push_last(&mut bytes, id);
            bytes
        });
        assert_eq!(by_text, by_key);
    }

    #[test]
    fn parts_are_words_ids_or_text_and_never_run_into_each_other() {
        let ids = IdGenerator::new();
        let account = format!("acct_{}", ids.body());
        let spell = |parts: &[&str]| {
            let mut bytes = Vec::new();
            for part in parts {
                push_part(&mut bytes, part);
            }
            bytes.push(NAME_END);
            bytes
        };
        assert_eq!(spell(&["txns"]), vec![PART_WORD | 3, NAME_END]);
        assert_eq!(spell(&["txns", &account]).len(), 1 + 1 + 5 + 16 + 1);
        assert_eq!(spell(&["group a"]), b"\x02\x07group a\x00".to_vec());
        let long = "g".repeat(300);
        assert_eq!(
            &spell(&[&long])[..3],
            &[PART_TEXT, 0x80 | 2, (300 & 0x7F) as u8]
        );
        // "txns" must not be a prefix of "txns:acct_…", nor "a" of "ab".
        assert!(!spell(&["txns", &account]).starts_with(&spell(&["txns"])));
        assert!(!spell(&["ab"]).starts_with(&spell(&["a"])));
        assert_ne!(spell(&["a:b"]), spell(&["a", "b"]));
    }

    #[test]
    fn whole_keys_read_back_as_their_parts() {
        let ids = IdGenerator::new();
        let platform = format!("plat_{}", ids.body());
        let index = format!("txns_type:acct_{}:APPLICATION_FEE", ids.body());
        let id = format!("txn_{}", ids.body());
        let long_group = format!("charges_group:{}", "g".repeat(200));
        for (platform, index, id) in [
            (platform.as_str(), index.as_str(), id.as_str()),
            ("", "platforms", platform.as_str()),
            (platform.as_str(), "charges_group:order 7:a", "ch_x"),
            (platform.as_str(), long_group.as_str(), id.as_str()),
        ] {
            let mut bytes = Vec::new();
            push_part(&mut bytes, platform);
            for part in index.split(':') {
                push_part(&mut bytes, part);
            }
            bytes.push(NAME_END);
            push_last(&mut bytes, id);
            assert_eq!(
                read_key(&bytes),
                Some((platform.to_owned(), index.to_owned(), id.to_owned()))
            );
        }
    }
}
