//! Business time: the system clock, or a simulated clock that only `advanceClock` moves.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

/// All business time (availability dates, deadlines, schedules) comes from here.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// Microseconds since the epoch; moved forward only by `advance_to`.
    Simulated(Arc<AtomicI64>),
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

impl Clock {
    pub fn simulated(start: DateTime<Utc>) -> Clock {
        Clock::Simulated(Arc::new(AtomicI64::new(start.timestamp_micros())))
    }

    pub fn is_simulated(&self) -> bool {
        matches!(self, Clock::Simulated(_))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Simulated(micros) => from_micros(micros.load(Ordering::SeqCst)),
        }
    }

    /// Moves a simulated clock forward to `to`; moving to the current time is a no-op.
    pub fn advance_to(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Simulated(micros) = self else {
            return Err(ClockError::NotSimulated);
        };
        let target = to.timestamp_micros();
        let previous = micros.fetch_max(target, Ordering::SeqCst);
        if previous > target {
            return Err(ClockError::Backwards {
                requested: to,
                now: from_micros(previous),
            });
        }
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
    use chrono::Duration;

    #[test]
    fn simulated_clock_moves_only_forward() {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        let clock = Clock::simulated(start);
        assert_eq!(clock.now(), start);
        let later = start + Duration::days(2);
        assert_eq!(clock.advance_to(later), Ok(later));
        assert_eq!(clock.now(), later);
        assert!(matches!(
            clock.advance_to(start),
            Err(ClockError::Backwards { .. })
        ));
        assert_eq!(clock.now(), later);
    }

    #[test]
    fn system_clock_cannot_be_moved() {
        assert_eq!(
            Clock::System.advance_to(Utc::now()),
            Err(ClockError::NotSimulated)
        );
    }
}
