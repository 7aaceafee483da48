//! The writer's connection: a group is one transaction. It first locks the chain's tip row
//! (`SELECT … FOR UPDATE`), so groups from several servers over one database are applied
//! one at a time and each reads the tip as the last one left it; then reads every key the
//! group's commits will read in one query; stages the commits in memory; writes with one
//! upsert and one delete; and commits. The commit returning is the durability point
//! (`synchronous_commit` is on). A transaction that lost a race (serialization failure,
//! deadlock) is run again, a bounded number of times.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement, Transaction};

use super::super::chain::{ChainTip, TIP_META};
use super::super::engine::{GroupFailure, GroupReads, GroupWriter, Overlay, StageFn};
use super::super::keys::{Key, Keyspace};
use super::super::StoreError;
use super::{failed, TABLE};

/// How many times a group is tried when its transaction loses a race or its connection.
pub const MAX_GROUP_ATTEMPTS: u32 = 6;
/// The wait before the second attempt; it doubles with each further one.
pub const RETRY_BASE_MILLISECONDS: u64 = 5;

/// Writes an overlay inside `transaction`: one upsert of every value, one delete.
pub(super) fn write_overlay(
    transaction: &mut Transaction<'_>,
    writes: Overlay,
) -> Result<(), postgres::Error> {
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(writes.len());
    let mut values: Vec<Vec<u8>> = Vec::with_capacity(writes.len());
    let mut deleted: Vec<Vec<u8>> = Vec::new();
    for (key, value) in writes {
        match value {
            Some(value) => {
                keys.push(key.as_bytes().to_vec());
                values.push(value);
            }
            None => deleted.push(key.as_bytes().to_vec()),
        }
    }
    if !keys.is_empty() {
        transaction.execute(
            &format!(
                "INSERT INTO {TABLE} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ),
            &[&keys, &values],
        )?;
    }
    if !deleted.is_empty() {
        transaction.execute(
            &format!("DELETE FROM {TABLE} WHERE k = ANY($1)"),
            &[&deleted],
        )?;
    }
    Ok(())
}

struct Statements {
    lock_tip: Statement,
    create_tip: Statement,
    get: Statement,
    get_many: Statement,
}

pub struct PostgresGroupWriter {
    config: postgres::Config,
    connection: Option<(Client, Statements)>,
}

/// How one attempt ended, when it did not apply the group.
enum AttemptFailure {
    /// Nothing was applied, and trying again may succeed.
    Retry(StoreError),
    Final(GroupFailure),
}

/// An error before the commit: nothing was applied.
fn before_commit(error: &postgres::Error) -> AttemptFailure {
    let retryable = error.is_closed()
        || error.code().is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        });
    if retryable {
        AttemptFailure::Retry(failed(error))
    } else {
        AttemptFailure::Final(GroupFailure::NotApplied(failed(error)))
    }
}

/// An error from the commit itself: an answer from the server means it rolled back; no
/// answer (the connection broke) leaves the outcome unknown.
fn at_commit(error: &postgres::Error) -> AttemptFailure {
    match error.code() {
        Some(code)
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            AttemptFailure::Retry(failed(error))
        }
        Some(_) => AttemptFailure::Final(GroupFailure::NotApplied(failed(error))),
        None => AttemptFailure::Final(GroupFailure::InDoubt(failed(error))),
    }
}

impl PostgresGroupWriter {
    pub fn new(config: postgres::Config) -> PostgresGroupWriter {
        PostgresGroupWriter {
            config,
            connection: None,
        }
    }

    fn connected(&mut self) -> Result<&mut (Client, Statements), postgres::Error> {
        let connection = match self.connection.take() {
            Some(connection) if !connection.0.is_closed() => connection,
            _ => {
                let mut client = self.config.connect(NoTls)?;
                // Acknowledged means on disk, whatever the database's default says.
                client.batch_execute("SET synchronous_commit TO on")?;
                let statements = Statements {
                    lock_tip: client
                        .prepare(&format!("SELECT v FROM {TABLE} WHERE k = $1 FOR UPDATE"))?,
                    create_tip: client.prepare(&format!(
                        "INSERT INTO {TABLE} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING"
                    ))?,
                    get: client.prepare(&format!("SELECT v FROM {TABLE} WHERE k = $1"))?,
                    get_many: client
                        .prepare(&format!("SELECT k, v FROM {TABLE} WHERE k = ANY($1)"))?,
                };
                (client, statements)
            }
        };
        Ok(self.connection.insert(connection))
    }

    fn attempt(&mut self, prefetch: &[Key], stage: &mut StageFn<'_>) -> Result<(), AttemptFailure> {
        let (client, statements) = self.connected().map_err(|error| before_commit(&error))?;
        let mut transaction = client
            .transaction()
            .map_err(|error| before_commit(&error))?;
        let tip_key = Key::new(Keyspace::Meta, TIP_META);
        let locked = transaction
            .query_opt(&statements.lock_tip, &[&tip_key.as_bytes()])
            .map_err(|error| before_commit(&error))?;
        if locked.is_none() {
            // A new database: the first group makes the row every later group locks.
            transaction
                .execute(
                    &statements.create_tip,
                    &[&tip_key.as_bytes(), &ChainTip::default().encode()],
                )
                .and_then(|_| transaction.query_opt(&statements.lock_tip, &[&tip_key.as_bytes()]))
                .map_err(|error| before_commit(&error))?;
        }
        let wanted: Vec<&[u8]> = prefetch.iter().map(Key::as_bytes).collect();
        let rows = transaction
            .query(&statements.get_many, &[&wanted])
            .map_err(|error| before_commit(&error))?;
        let mut known: HashMap<Vec<u8>, Option<Vec<u8>>> =
            wanted.iter().map(|key| (key.to_vec(), None)).collect();
        for row in rows {
            known.insert(row.get::<_, Vec<u8>>(0), Some(row.get::<_, Vec<u8>>(1)));
        }
        let mut reads = TransactionReads {
            transaction: &mut transaction,
            get: &statements.get,
            known,
            failure: None,
        };
        let staged = stage(&mut reads);
        if let Some(error) = reads.failure.take() {
            return Err(before_commit(&error));
        }
        let writes =
            staged.map_err(|error| AttemptFailure::Final(GroupFailure::NotApplied(error)))?;
        if writes.is_empty() {
            // Nothing to write (replays, refusals): the lock goes with the rollback.
            return transaction
                .rollback()
                .map_err(|error| before_commit(&error));
        }
        write_overlay(&mut transaction, writes).map_err(|error| before_commit(&error))?;
        transaction.commit().map_err(|error| at_commit(&error))
    }
}

impl GroupWriter for PostgresGroupWriter {
    fn apply_group(
        &mut self,
        prefetch: &[Key],
        stage: &mut StageFn<'_>,
    ) -> Result<(), GroupFailure> {
        let mut attempt = 1;
        loop {
            match self.attempt(prefetch, stage) {
                Ok(()) => return Ok(()),
                Err(AttemptFailure::Final(failure)) => return Err(failure),
                Err(AttemptFailure::Retry(error)) if attempt >= MAX_GROUP_ATTEMPTS => {
                    return Err(GroupFailure::NotApplied(error));
                }
                Err(AttemptFailure::Retry(error)) => {
                    tracing::warn!(%error, attempt, "a write group is tried again");
                    metrics::counter!("tollgate_writer_group_retries").increment(1);
                    std::thread::sleep(Duration::from_millis(
                        RETRY_BASE_MILLISECONDS << (attempt - 1),
                    ));
                    attempt += 1;
                }
            }
        }
    }
}

/// The group's reads: from what was read at once, else one query in the transaction.
struct TransactionReads<'a, 't> {
    transaction: &'a mut Transaction<'t>,
    get: &'a Statement,
    known: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// A failed read aborts the transaction; the attempt ends with it.
    failure: Option<postgres::Error>,
}

impl GroupReads for TransactionReads<'_, '_> {
    fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.known.get(key.as_bytes()) {
            return Ok(value.clone());
        }
        match self.transaction.query_opt(self.get, &[&key.as_bytes()]) {
            Ok(row) => {
                let value = row.map(|row| row.get::<_, Vec<u8>>(0));
                self.known.insert(key.as_bytes().to_vec(), value.clone());
                Ok(value)
            }
            Err(error) => {
                let reported = failed(&error);
                self.failure = Some(error);
                Err(reported)
            }
        }
    }
}
