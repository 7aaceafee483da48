//! The keyspaces of the one sled tree, and how keys inside each are spelled.
//!
//! Every keyspace is a one-byte tag in front of the key, so all of them live in one tree and
//! a commit that touches several is still one atomic batch.

/// A keyspace: the first byte of every key in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyspace {
    /// `o<platform>/<object id>` → an object's envelope.
    Object,
    /// `i<platform>/<index name>/<object id>` → empty; lists scan these newest first.
    Index,
    /// `b<holder>/<currency>/<bucket>` → the balance as 8 big-endian bytes.
    Balance,
    /// `e<platform>/<entry id>` → a journal entry.
    Entry,
    /// `k<platform>/<idempotency key>` → the first request's fingerprint and outcome.
    Idempotency,
    /// `t<due micros, 16 hex digits>/<kind>/<platform>/<subject>` → a timer's payload.
    Timer,
    /// `s<secret key id>` → the platform and the hash of its secret key.
    SecretKey,
    /// `p<version hash>` → a policy's source.
    PolicySource,
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
            Keyspace::Index => b'i',
            Keyspace::Balance => b'b',
            Keyspace::Entry => b'e',
            Keyspace::Idempotency => b'k',
            Keyspace::Timer => b't',
            Keyspace::SecretKey => b's',
            Keyspace::PolicySource => b'p',
            Keyspace::Outbox => b'w',
            Keyspace::Meta => b'm',
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

    pub fn object(platform: &str, id: &str) -> Key {
        Key::new(Keyspace::Object, &format!("{platform}/{id}"))
    }

    pub fn index(platform: &str, index: &str, id: &str) -> Key {
        Key::new(Keyspace::Index, &format!("{platform}/{index}/{id}"))
    }

    pub fn index_prefix(platform: &str, index: &str) -> Key {
        Key::new(Keyspace::Index, &format!("{platform}/{index}/"))
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
            &format!("{}/{kind}/{platform}/{subject}", timer_stamp(due_micros)),
        )
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
