//! What operators ask of a running server: whether it can serve (the writer takes commits,
//! the store reads, policies are loaded, the scheduler keeps up), a verification and a
//! backup of one consistent state. The HTTP layer only reports them.

use super::{ServiceError, Services};
use crate::clock::CLOCK_META;
use crate::config::MAX_READY_SCHEDULER_LAG_SECONDS;
use crate::store::{Key, Keyspace};

/// Each readiness check's result.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub writer_alive: bool,
    pub store_open: bool,
    pub policies_loaded: usize,
    /// `None` when the timers could not be read.
    pub scheduler_lag_seconds: Option<i64>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.writer_alive
            && self.store_open
            && self.policies_loaded > 0
            && self
                .scheduler_lag_seconds
                .is_some_and(|lag| lag <= MAX_READY_SCHEDULER_LAG_SECONDS)
    }
}

impl Services {
    /// How long the earliest due timer has waited, in whole seconds (0 when none is due).
    /// On simulated clocks timers run only with advanceClock, so nothing can lag.
    pub fn scheduler_lag_seconds(&self) -> Result<i64, ServiceError> {
        if self.clock.is_simulated() {
            return Ok(0);
        }
        let now_micros = chrono::Utc::now().timestamp_micros();
        let earliest = self.store.earliest_timer_micros()?;
        Ok(earliest.map_or(0, |due_micros| {
            now_micros.saturating_sub(due_micros).max(0) / 1_000_000
        }))
    }

    /// Commits waiting for the writer to take them.
    pub fn writer_queue_depth(&self) -> usize {
        self.store.writer_queue_depth()
    }

    /// Proves every platform's ledger with writes paused, so it sees one consistent state.
    pub fn verify_paused(&self) -> Result<super::ledger_check::LedgerReport, ServiceError> {
        self.store
            .with_writes_paused(super::ledger_check::verify_store)
    }

    /// Writes a backup of one consistent, durable state to `out`; the records written.
    pub fn write_backup(&self, out: &mut impl std::io::Write) -> Result<u64, ServiceError> {
        self.store
            .with_writes_paused(|store| store.write_backup(out))
            .map_err(ServiceError::from)
    }

    /// One stored object of a platform by id, without scope: for loaders whose keys were
    /// already scoped by the request that asked for them.
    pub fn stored_object<T: serde::de::DeserializeOwned>(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Option<T>, ServiceError> {
        Ok(self
            .store
            .get_object::<T>(platform, id)?
            .map(|object| object.value))
    }

    pub fn readiness(&self) -> Readiness {
        let store_open = self
            .store
            .get_raw(&Key::new(Keyspace::Meta, CLOCK_META))
            .inspect_err(|error| tracing::error!(%error, "readiness: the store cannot be read"))
            .is_ok();
        let scheduler_lag_seconds = self
            .scheduler_lag_seconds()
            .inspect_err(|error| tracing::error!(%error, "readiness: timers cannot be read"))
            .ok();
        Readiness {
            writer_alive: self.store.writer_alive(),
            store_open,
            policies_loaded: self.policies.status().len(),
            scheduler_lag_seconds,
        }
    }
}
