//! The keyspaces of the one sled tree, and how keys inside each are spelled.
//!
//! Every keyspace is a one-byte tag in front of the key, so all of them live in one tree and
//! a commit that touches several is still one atomic batch.

use super::index_key;

/// A keyspace: the first byte of every key in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyspace {
    /// `o<platform>/<object id>` → an object's envelope.
    Object,
    /// `j<platform><index name>\0<object id>` → empty; lists scan these newest first. Each
    /// part is spelled compactly (see [`Key::index`]); the `i` tag held the earlier text
    /// layout, `i<platform>/<index name>/<object id>`, which opening a store rewrites.
    Index,
    /// `b<holder>/<currency>/<bucket>` → the balance as 8 big-endian bytes.
    Balance,
    /// `e<platform>/<entry id>` → a journal entry.
    Entry,
    /// `k<platform>/<idempotency key>` → the first request's fingerprint and outcome.
    Idempotency,
    /// `t<platform>/<due micros, 16 hex digits>/<kind>/<subject>` → a timer's payload. Each
    /// platform's timers sort together by due time, so one platform's simulated clock runs
    /// exactly its own due work.
    Timer,
    /// `a<the timer key without its tag>` → a timer set aside after failing every attempt,
    /// or one whose key cannot be read; the scheduler never runs it again.
    ParkedTimer,
    /// `s<secret key id>` → the platform and the hash of its secret key.
    SecretKey,
    /// `p<version hash>` → a policy's source.
    PolicySource,
    /// `c<sequence, 16 hex digits>` → the key (after its tag) of the chain's entry number
    /// `sequence`, so the chain can be walked in order.
    Chain,
    /// `x` → the whole ledger's running totals; `x<platform>` → one platform's.
    Totals,
    /// The webhook outbox. `we/<platform>/<event id>` → the event's type: an event not yet
    /// routed to endpoints, written in the event's own commit; `wd/<platform>/<endpoint>/
    /// <delivery id>` → empty: a delivery not yet acknowledged, in order per endpoint.
    Outbox,
    /// `m<name>` → settings the server keeps for itself (the simulated time, the demo platform).
    Meta,
}

impl Keyspace {
    pub fn tag(self) -> u8 {
        match self {
            Keyspace::Object => b'o',
            Keyspace::Index => b'j',
            Keyspace::Balance => b'b',
            Keyspace::Entry => b'e',
            Keyspace::Idempotency => b'k',
            Keyspace::Timer => b't',
            Keyspace::ParkedTimer => b'a',
            Keyspace::SecretKey => b's',
            Keyspace::PolicySource => b'p',
            Keyspace::Outbox => b'w',
            Keyspace::Meta => b'm',
            Keyspace::Chain => b'c',
            Keyspace::Totals => b'x',
        }
    }
}

/// A full key: keyspace tag plus the text after it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(keyspace: Keyspace, rest: &str) -> Key {
        let mut bytes = Vec::with_capacity(rest.len() + 1);
        bytes.push(keyspace.tag());
        bytes.extend_from_slice(rest.as_bytes());
        Key(bytes)
    }

    /// A key's record (`s…`), or a platform's own record: an object whose id is its
    /// platform's (`o<platform>/<platform>`).
    pub fn is_credential(&self) -> bool {
        match self.0.split_first() {
            Some((&tag, _)) if tag == Keyspace::SecretKey.tag() => true,
            Some((&tag, rest)) if tag == Keyspace::Object.tag() => {
                let half = rest.len() / 2;
                rest.len() % 2 == 1 && rest[half] == b'/' && rest[..half] == rest[half + 1..]
            }
            _ => false,
        }
    }

    pub fn object(platform: &str, id: &str) -> Key {
        Key::new(Keyspace::Object, &format!("{platform}/{id}"))
    }

    /// An entry of an index: the platform, each `:`-separated part of the index name and
    /// the object id, each part compact (see `index_key`), so ids of one index sort as their
    /// text does.
    pub fn index(platform: &str, index: &str, id: &str) -> Key {
        let mut key = Key::index_prefix(platform, index);
        index_key::push_last(&mut key.0, id);
        key
    }

    /// The bytes every entry of one index starts with.
    pub fn index_prefix(platform: &str, index: &str) -> Key {
        let mut bytes = Vec::with_capacity(64);
        bytes.push(Keyspace::Index.tag());
        index_key::push_part(&mut bytes, platform);
        for part in index.split(':') {
            index_key::push_part(&mut bytes, part);
        }
        bytes.push(index_key::NAME_END);
        Key(bytes)
    }

    /// The object id at the end of an index key that starts with a prefix of
    /// `prefix_length` bytes.
    pub fn index_id(key: &[u8], prefix_length: usize) -> Option<String> {
        index_key::read_last(key.get(prefix_length..)?)
    }

    pub fn entry(platform: &str, entry_id: &str) -> Key {
        Key::new(Keyspace::Entry, &format!("{platform}/{entry_id}"))
    }

    pub fn idempotency(platform: &str, idempotency_key: &str) -> Key {
        Key::new(
            Keyspace::Idempotency,
            &format!("{platform}/{idempotency_key}"),
        )
    }

    pub fn timer(due_micros: i64, kind: &str, platform: &str, subject: &str) -> Key {
        Key::new(
            Keyspace::Timer,
            &format!("{platform}/{}/{kind}/{subject}", timer_stamp(due_micros)),
        )
    }

    /// The start of one platform's timers.
    pub fn timer_prefix(platform: &str) -> Key {
        Key::new(Keyspace::Timer, &format!("{platform}/"))
    }

    /// Where a timer is set aside: the same bytes under the parked-timer tag.
    pub fn parked(&self) -> Key {
        let mut bytes = self.0.clone();
        if let Some(tag) = bytes.first_mut() {
            *tag = Keyspace::ParkedTimer.tag();
        }
        Key(bytes)
    }

    /// An event waiting to be routed to the endpoints that want it.
    pub fn outbox_event(platform: &str, event: &str) -> Key {
        Key::new(Keyspace::Outbox, &format!("e/{platform}/{event}"))
    }

    /// A delivery waiting to be acknowledged by its endpoint.
    pub fn outbox_delivery(platform: &str, endpoint: &str, delivery: &str) -> Key {
        Key::new(
            Keyspace::Outbox,
            &format!("d/{platform}/{endpoint}/{delivery}"),
        )
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Key {
        Key(bytes.to_vec())
    }

    /// The key as text for people (logs, tools): an index key in the earlier text layout,
    /// `j<platform>/<index>/<id>`, any other key as its text.
    pub fn describe(bytes: &[u8]) -> String {
        if let Some(rest) = bytes.strip_prefix(&[Keyspace::Index.tag()]) {
            if let Some((platform, index, id)) = index_key::read_key(rest) {
                return format!("j{platform}/{index}/{id}");
            }
        }
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// The text after the keyspace tag.
    pub fn rest(&self) -> &str {
        std::str::from_utf8(self.0.get(1..).unwrap_or_default()).unwrap_or_default()
    }
}

/// Sixteen hex digits of the due time, so timers sort by when they are due.
/// Times before the epoch are clamped to it.
pub fn timer_stamp(due_micros: i64) -> String {
    format!("{:016x}", due_micros.max(0))
}

/// The timer key of the earlier layout, `t<due>/<kind>/<platform>/<subject>`, in today's
/// layout; `None` for a key that is not in the earlier layout.
pub(super) fn timer_key_from_due_first_layout(key: &[u8]) -> Option<Key> {
    let rest = std::str::from_utf8(key.strip_prefix(&[Keyspace::Timer.tag()])?).ok()?;
    let (stamp, after) = rest.split_once('/')?;
    if stamp.len() != 16 || !stamp.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut parts = after.splitn(3, '/');
    let kind = parts.next()?;
    let platform = parts.next()?;
    let subject = parts.next()?;
    Some(Key::new(
        Keyspace::Timer,
        &format!("{platform}/{stamp}/{kind}/{subject}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_of_one_platform_sort_together_by_due_time() {
        let early = Key::timer(5, "release", "plat_b", "x");
        let late = Key::timer(7, "release", "plat_b", "a");
        let other = Key::timer(1, "release", "plat_c", "a");
        assert_eq!(early.rest(), "plat_b/0000000000000005/release/x");
        assert!(early < late && late < other);
        assert!(early
            .as_bytes()
            .starts_with(Key::timer_prefix("plat_b").as_bytes()));
        assert_eq!(early.parked().rest(), early.rest());
        assert_eq!(early.parked().as_bytes()[0], b'a');
    }

    #[test]
    fn credential_keys_are_key_records_and_platform_records_only() {
        assert!(Key::new(Keyspace::SecretKey, "skid_1").is_credential());
        assert!(Key::object("plat_b", "plat_b").is_credential());
        assert!(!Key::object("plat_b", "plat_c").is_credential());
        assert!(!Key::object("plat_b", "ch_1").is_credential());
        assert!(!Key::object("plat_bb", "plat_b").is_credential());
        assert!(!Key::new(Keyspace::Meta, "plat_b/plat_b").is_credential());
        assert!(!Key::index("plat_b", "charges", "plat_b").is_credential());
    }

    #[test]
    fn a_timer_key_of_the_earlier_layout_is_rewritten_in_place_of_its_platform() {
        let old = Key::new(Keyspace::Timer, "0000000000000005/release/plat_b/ent_1/5");
        assert_eq!(
            timer_key_from_due_first_layout(old.as_bytes()),
            Some(Key::timer(5, "release", "plat_b", "ent_1/5"))
        );
        let current = Key::timer(5, "release", "plat_b", "ent_1/5");
        assert_eq!(timer_key_from_due_first_layout(current.as_bytes()), None);
    }
}
