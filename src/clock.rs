//! Business time, per platform: the system clock, or one simulated clock per platform (as
//! Stripe's test clocks) that only that platform's `advanceClock` moves.
//!
//! Every reading names the platform it is for, so no code can read "the" simulated time and
//! act on another platform's schedule. With the system clock every platform reads the same
//! wall time.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, TimeZone, Utc};

use crate::ids::PlatformId;

/// All business time (availability dates, deadlines, schedules) comes from here.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Simulated(Arc<SimulatedClocks>),
}

/// Every platform's simulated time, in microseconds since the epoch.
#[derive(Debug)]
pub struct SimulatedClocks {
    /// Where a platform's clock stands until it is first moved (or recorded at its creation).
    start_micros: i64,
    /// Platforms whose clock was recorded or moved; each moves only forward.
    platforms: RwLock<HashMap<PlatformId, i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("the clock is not simulated: start the server with --simulated-clock to move time")]
    NotSimulated,
    #[error("the clock never moves backwards: {requested} is before the current time {now}")]
    Backwards {
        requested: DateTime<Utc>,
        now: DateTime<Utc>,
    },
}

impl SimulatedClocks {
    /// A poisoned lock only means a reader panicked; the map itself is always whole.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<PlatformId, i64>> {
        self.platforms
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<PlatformId, i64>> {
        self.platforms
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock {
    /// Simulated clocks: every platform starts at `start`, except those in `saved`, which
    /// resume where they were left.
    pub fn simulated(
        start: DateTime<Utc>,
        saved: impl IntoIterator<Item = (PlatformId, DateTime<Utc>)>,
    ) -> Clock {
        let platforms = saved
            .into_iter()
            .map(|(platform, time)| (platform, time.timestamp_micros()))
            .collect();
        Clock::Simulated(Arc::new(SimulatedClocks {
            start_micros: start.timestamp_micros(),
            platforms: RwLock::new(platforms),
        }))
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Simulated(_))
    }

    /// The platform's business time.
    pub fn now(&self, platform: &PlatformId) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Simulated(clocks) => {
                let micros = clocks
                    .read()
                    .get(platform)
                    .copied()
                    .unwrap_or(clocks.start_micros);
                from_micros(micros)
            }
        }
    }

    /// Moves one platform's simulated clock forward to `to`; moving to its current time is a
    /// no-op. No other platform's clock changes.
    pub fn advance_to(
        &self,
        platform: &PlatformId,
        to: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Simulated(clocks) = self else {
            return Err(ClockError::NotSimulated);
        };
        let target = to.timestamp_micros();
        let mut platforms = clocks.write();
        let current = platforms
            .get(platform)
            .copied()
            .unwrap_or(clocks.start_micros);
        if current > target {
            return Err(ClockError::Backwards {
                requested: to,
                now: from_micros(current),
            });
        }
        platforms.insert(platform.clone(), target);
        Ok(to)
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
    use chrono::Duration;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date")
    }

    #[test]
    fn simulated_clock_moves_only_forward() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let clock = Clock::simulated(start(), []);
        assert_eq!(clock.now(&platform), start());
        let later = start() + Duration::days(2);
        assert_eq!(clock.advance_to(&platform, later), Ok(later));
        assert_eq!(clock.now(&platform), later);
        assert!(matches!(
            clock.advance_to(&platform, start()),
            Err(ClockError::Backwards { .. })
        ));
        assert_eq!(clock.now(&platform), later);
    }

    #[test]
    fn moving_one_platform_leaves_every_other_where_it_was() {
        let ids = IdGenerator::new();
        let moved: PlatformId = ids.next();
        let resumed: PlatformId = ids.next();
        let untouched: PlatformId = ids.next();
        let resumed_at = start() + Duration::days(5);
        let clock = Clock::simulated(start(), [(resumed.clone(), resumed_at)]);
        let later = start() + Duration::days(30);
        assert_eq!(clock.advance_to(&moved, later), Ok(later));
        assert_eq!(clock.now(&moved), later);
        assert_eq!(clock.now(&resumed), resumed_at);
        assert_eq!(clock.now(&untouched), start());
    }

    #[test]
    fn system_clock_cannot_be_moved() {
        let platform: PlatformId = IdGenerator::new().next();
        assert_eq!(
            Clock::System.advance_to(&platform, Utc::now()),
            Err(ClockError::NotSimulated)
        );
    }
}
