//! Business time, per platform: the system clock, or one simulated clock per platform (as
//! Stripe's test clocks) that only that platform's `advanceClock` moves.
//!
//! Every reading names the platform it is for, so no code can read "the" simulated time and
//! act on another platform's schedule. With the system clock every platform reads the same
//! wall time and nothing is read from the store. A simulated clock lives in the store (one
//! record per platform), and every reading is one point read of it: every server over one
//! store reads the same time, so an advance made through one server is seen by the next
//! request and the next scheduler pass of every other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use crate::ids::PlatformId;
use crate::store::{Key, Keyspace, Store, StoreError};

/// The meta key of the one simulated time earlier versions kept for the whole server: where
/// every platform without a clock of its own starts.
pub const CLOCK_META: &str = "simulated_clock_micros";
/// The meta keys of each platform's simulated time: `platform_clock:<platform id>` → a
/// sealed record of its microseconds, whose revision lets a move expect what it read.
pub const PLATFORM_CLOCK_PREFIX: &str = "platform_clock:";
/// The earlier layout of the same: `clock:<platform id>` → 8 big-endian bytes of
/// microseconds. Read when a platform has no record in today's layout; its first move
/// replaces it.
pub const EARLIER_PLATFORM_CLOCK_PREFIX: &str = "clock:";

/// All business time (availability dates, deadlines, schedules) comes from here.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Simulated(Arc<SimulatedClocks>),
}

/// Every platform's simulated time, read from the store.
pub struct SimulatedClocks {
    /// Where a platform's clock stands until it is first recorded or moved.
    start_micros: i64,
    store: Store,
    /// The time last read for each platform: answered, with the error logged, on the rare
    /// reading the store cannot serve, so time never jumps back to the start.
    last_read: Mutex<HashMap<PlatformId, i64>>,
}

/// A platform's simulated time as stored, with what moving it must expect to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClock {
    pub now: DateTime<Utc>,
    /// The revision of the platform's record; `None` when it has none in today's layout.
    pub revision: Option<u64>,
    /// The time came from a record of the earlier layout, which moving it replaces.
    pub earlier_layout: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the clock is not simulated: start the server with --simulated-clock to move time")]
    NotSimulated,
    #[error("the simulated clock could not be read: {0}")]
    Store(#[from] StoreError),
}

/// The key of one platform's simulated time.
pub fn platform_clock_key(platform: &PlatformId) -> Key {
    Key::new(
        Keyspace::Meta,
        &format!("{PLATFORM_CLOCK_PREFIX}{platform}"),
    )
}

/// The key of one platform's simulated time in the earlier layout.
pub fn earlier_platform_clock_key(platform: &PlatformId) -> Key {
    Key::new(
        Keyspace::Meta,
        &format!("{EARLIER_PLATFORM_CLOCK_PREFIX}{platform}"),
    )
}

impl SimulatedClocks {
    fn read(&self, platform: &PlatformId) -> Result<StoredClock, StoreError> {
        if let Some(found) = self
            .store
            .get_sealed::<i64>(&platform_clock_key(platform))?
        {
            return Ok(StoredClock {
                now: from_micros(found.value),
                revision: Some(found.revision),
                earlier_layout: false,
            });
        }
        let earlier = self
            .store
            .get_raw(&earlier_platform_clock_key(platform))?
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(i64::from_be_bytes);
        Ok(StoredClock {
            now: from_micros(earlier.unwrap_or(self.start_micros)),
            revision: None,
            earlier_layout: earlier.is_some(),
        })
    }

    fn now(&self, platform: &PlatformId) -> DateTime<Utc> {
        let read = self.read(platform);
        // A poisoned lock only means a reader panicked; the map itself is always whole.
        let mut last_read = self
            .last_read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match read {
            Ok(stored) => {
                let micros = stored.now.timestamp_micros();
                match last_read.get_mut(platform) {
                    Some(last) => *last = micros,
                    None => {
                        last_read.insert(platform.clone(), micros);
                    }
                }
                stored.now
            }
            Err(error) => {
                let last = last_read.get(platform).copied();
                drop(last_read);
                tracing::error!(%platform, %error, "the simulated clock could not be read; using the time read last");
                from_micros(last.unwrap_or(self.start_micros))
            }
        }
    }
}

impl std::fmt::Debug for SimulatedClocks {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SimulatedClocks")
            .field("start_micros", &self.start_micros)
            .finish_non_exhaustive()
    }
}

impl Clock {
    /// Simulated clocks kept in `store`: a platform without a record of its time stands
    /// at `start` (until its creation or first move records one).
    pub fn simulated(start: DateTime<Utc>, store: Store) -> Clock {
        Clock::Simulated(Arc::new(SimulatedClocks {
            start_micros: start.timestamp_micros(),
            store,
            last_read: Mutex::default(),
        }))
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Simulated(_))
    }

    /// The platform's business time.
    pub fn now(&self, platform: &PlatformId) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Simulated(clocks) => clocks.now(platform),
        }
    }

    /// The platform's simulated time with the revision a move expects; refused on the
    /// system clock.
    pub fn stored(&self, platform: &PlatformId) -> Result<StoredClock, ClockError> {
        match self {
            Clock::System => Err(ClockError::NotSimulated),
            Clock::Simulated(clocks) => Ok(clocks.read(platform)?),
        }
    }
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;
    use crate::store::{encode_object, Commit, Expect, Write};
    use chrono::Duration;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date")
    }

    fn record(platform: &PlatformId, time: DateTime<Utc>, expect: Expect) -> Commit {
        let mut commit = Commit::new(None);
        commit.writes.push(Write::Object {
            key: platform_clock_key(platform),
            payload: encode_object(&time.timestamp_micros()).expect("payload"),
            expect,
        });
        commit
    }

    #[tokio::test]
    async fn every_handle_reads_the_time_recorded_through_any_other() {
        let temp = tempfile::tempdir().expect("temp dir");
        let (store, writer) = Store::open(temp.path()).expect("store");
        let ids = IdGenerator::new();
        let (moved, earlier, untouched): (PlatformId, PlatformId, PlatformId) =
            (ids.next(), ids.next(), ids.next());
        let one = Clock::simulated(start(), store.with_own_read_count());
        let other = Clock::simulated(start() + Duration::days(9), store.clone());
        let later = start() + Duration::days(2);
        store
            .commit(record(&moved, later, Expect::Absent))
            .await
            .expect("record");
        let mut commit = Commit::new(None);
        let resumed_at = start() + Duration::days(5);
        commit.writes.push(Write::Raw {
            key: earlier_platform_clock_key(&earlier),
            value: resumed_at.timestamp_micros().to_be_bytes().to_vec(),
        });
        store.commit(commit).await.expect("earlier layout");

        for clock in [&one, &other] {
            assert_eq!(clock.now(&moved), later);
            assert_eq!(clock.now(&earlier), resumed_at);
        }
        // Without a record, each stands where it started.
        assert_eq!(one.now(&untouched), start());
        assert_eq!(
            one.stored(&moved).expect("stored"),
            StoredClock {
                now: later,
                revision: Some(1),
                earlier_layout: false
            }
        );
        assert_eq!(
            one.stored(&earlier).expect("stored"),
            StoredClock {
                now: resumed_at,
                revision: None,
                earlier_layout: true
            }
        );
        // A move that expects a revision another move replaced is refused.
        store
            .commit(record(
                &moved,
                later + Duration::days(1),
                Expect::Revision(1),
            ))
            .await
            .expect("move");
        assert!(store
            .commit(record(&moved, later, Expect::Revision(1)))
            .await
            .is_err());
        assert_eq!(other.now(&moved), later + Duration::days(1));
        drop((one, other));
        store.close();
        writer.join();
    }

    #[test]
    fn the_system_clock_has_nothing_stored() {
        let platform: PlatformId = IdGenerator::new().next();
        assert_eq!(
            Clock::System.stored(&platform),
            Err(ClockError::NotSimulated)
        );
        assert!(
            (Clock::System.now(&platform) - Utc::now())
                .num_seconds()
                .abs()
                < 60
        );
    }
}
