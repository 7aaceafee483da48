//! Moving a platform's simulated clock (`advanceClock`, as Stripe's test clocks): the new
//! time is recorded first, expecting the clock's record as it was read, then everything due
//! for that platform by then runs.

use chrono::{DateTime, Utc};

use super::idempotency::MAX_COMMIT_ATTEMPTS;
use super::{Caller, Draft, ServiceError, Services};
use crate::clock::{earlier_platform_clock_key, platform_clock_key, StoredClock};
use crate::config::MAX_CLOCK_ADVANCE_DAYS;
use crate::ids::PlatformId;
use crate::store::{Condition, Expect, StoreError};

/// Where an advance from `now` goes: exactly one of `to` or `seconds`, never backwards and
/// at most `MAX_CLOCK_ADVANCE_DAYS` at once.
fn advance_target(
    now: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    seconds: Option<i64>,
) -> Result<DateTime<Utc>, ServiceError> {
    let target = match (to, seconds) {
        (Some(to), None) => to,
        (None, Some(seconds)) if seconds >= 0 => chrono::Duration::try_seconds(seconds)
            .and_then(|step| now.checked_add_signed(step))
            .ok_or_else(|| ServiceError::invalid("input.seconds", "seconds is too large"))?,
        (None, Some(_)) => {
            return Err(ServiceError::invalid(
                "input.seconds",
                "The clock never moves backwards: seconds must be 0 or more",
            ))
        }
        _ => {
            return Err(ServiceError::invalid(
                "input",
                "Give exactly one of `to` (a time) or `seconds` (how far to move)",
            ))
        }
    };
    if target < now {
        return Err(ServiceError::invalid(
            "input.to",
            format!("The clock never moves backwards: {target} is before the current time {now}"),
        ));
    }
    if target - now > chrono::Duration::days(MAX_CLOCK_ADVANCE_DAYS) {
        return Err(ServiceError::invalid(
            "input",
            format!("One advance may move the clock at most {MAX_CLOCK_ADVANCE_DAYS} days"),
        ));
    }
    Ok(target)
}

/// Records a platform's simulated time as `to`, expecting its record as `stored` read it; a
/// record of the earlier layout is replaced, on the condition that it is still there.
pub(super) fn record_clock(
    draft: &mut Draft,
    platform: &PlatformId,
    stored: &StoredClock,
    to: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let expect = match stored.revision {
        Some(revision) => Expect::Revision(revision),
        None => Expect::Absent,
    };
    if stored.earlier_layout {
        let earlier = earlier_platform_clock_key(platform);
        draft.condition(
            Condition::Exists {
                key: earlier.clone(),
            },
            ServiceError::already_handled("clock", "moved meanwhile"),
        );
        draft.delete(earlier);
    }
    draft.record(platform_clock_key(platform), &to.timestamp_micros(), expect)
}

impl Services {
    /// Moves the caller's platform's simulated clock (never backwards) and runs everything
    /// due for that platform by then. Other platforms' clocks and timers are untouched.
    ///
    /// The move expects the clock's record as it was read, so two servers moving one clock
    /// at once never move it backwards: the later move reads the time again and applies its
    /// own step from there.
    pub async fn advance_clock(
        &self,
        caller: &Caller,
        to: Option<DateTime<Utc>>,
        seconds: Option<i64>,
    ) -> Result<DateTime<Utc>, ServiceError> {
        if !self.clock.is_simulated() {
            return Err(ServiceError::forbidden(
                None,
                "advanceClock works only when the server runs with --simulated-clock",
            ));
        }
        let platform = &caller.platform.id;
        let _guard = self.scheduler_lock.lock().await;
        let mut moved = None;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let stored = self
                .clock
                .stored(platform)
                .map_err(|error| ServiceError::internal("clock", error))?;
            let target = advance_target(stored.now, to, seconds)?;
            // Persist first: after a crash the clock is never earlier than work already done.
            let mut draft = Draft::new(platform, stored.now);
            record_clock(&mut draft, platform, &stored, target)?;
            match self.store.commit(draft.commit).await {
                Ok(_) => {
                    moved = Some(target);
                    break;
                }
                // Another server moved the clock first: read it again.
                Err(StoreError::RevisionConflict { .. } | StoreError::ConditionFailed { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        let target = moved.ok_or_else(|| {
            ServiceError::internal("advanceClock", "the clock kept moving under this advance")
        })?;
        self.run_due_work_of(platform.as_ref(), target).await?;
        Ok(target)
    }
}
