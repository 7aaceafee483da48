//! The writer's connection: a group is one transaction in two round trips. The first
//! message begins it, locks the chain's tip row (`SELECT … FOR UPDATE`), so groups from
//! several servers over one database are applied one at a time and each reads the tip as
//! the last one left it, and then reads every key the group's commits will read (a
//! statement of its own, so its snapshot is taken once the lock is held). The commits are
//! staged in memory (a key the prefetch missed costs one query); the second message writes
//! with one upsert and one delete and commits. The values travel as hex literals in the
//! simple query protocol, which is what lets several statements share one round trip. The
//! commit returning is the durability point (`synchronous_commit` is on, unless the store's
//! URL sets it in its `options`). A transaction that lost a race (serialization failure,
//! deadlock) or a connection before its commit was sent is run again, a bounded number of
//! times; a connection lost while the commit was on its way leaves the group in doubt.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls, SimpleQueryMessage, Statement, Transaction};

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

/// `bytes` as an SQL literal of type `bytea` (hex digits only, so nothing needs escaping;
/// `standard_conforming_strings` is on for the writer's connection).
fn literal(bytes: &[u8], sql: &mut String) {
    use std::fmt::Write as _;
    sql.push_str("'\\x");
    for byte in bytes {
        let _ = write!(sql, "{byte:02x}");
    }
    sql.push_str("'::bytea");
}

/// `keys` as a comma-separated list of literals.
fn literals<'k>(keys: impl IntoIterator<Item = &'k [u8]>, sql: &mut String) {
    for (index, key) in keys.into_iter().enumerate() {
        if index > 0 {
            sql.push(',');
        }
        literal(key, sql);
    }
}

/// A `bytea` column's text (`\x` and hex digits: `bytea_output` is `hex`).
fn from_hex(text: Option<&str>) -> Result<Vec<u8>, StoreError> {
    let digits = text
        .and_then(|text| text.strip_prefix("\\x"))
        .ok_or_else(|| StoreError::Io("PostgreSQL: a value that is not hex bytea".into()))?;
    let digits = digits.as_bytes();
    if digits.len() % 2 != 0 {
        return Err(StoreError::Io(
            "PostgreSQL: an odd number of hex digits".into(),
        ));
    }
    let nibble = |digit: u8| -> Result<u8, StoreError> {
        match digit {
            b'0'..=b'9' => Ok(digit - b'0'),
            b'a'..=b'f' => Ok(digit - b'a' + 10),
            b'A'..=b'F' => Ok(digit - b'A' + 10),
            _ => Err(StoreError::Io(
                "PostgreSQL: a value that is not hex bytea".into(),
            )),
        }
    };
    digits
        .chunks_exact(2)
        .map(|pair| Ok((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// The statements that lock the tip and then read `prefetch`, each statement with its own
/// snapshot (so the reads see every group committed before the lock was granted).
fn lock_and_read(tip: &[u8], prefetch: &[Key], sql: &mut String) {
    sql.push_str(&format!("SELECT v FROM {TABLE} WHERE k = "));
    literal(tip, sql);
    sql.push_str(" FOR UPDATE;");
    if !prefetch.is_empty() {
        sql.push_str(&format!("SELECT k, v FROM {TABLE} WHERE k IN ("));
        literals(prefetch.iter().map(Key::as_bytes), sql);
        sql.push_str(");");
    }
}

/// The keys a group has read, with their values (`None`: absent).
type Known = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// What the lock-and-read statements answered: whether the tip row was there (and so is
/// now locked), and the prefetched keys' values.
fn lock_and_read_answer(
    messages: Vec<SimpleQueryMessage>,
    prefetch: &[Key],
) -> Result<(bool, Known), StoreError> {
    let mut locked = false;
    let mut known: Known = prefetch
        .iter()
        .map(|key| (key.as_bytes().to_vec(), None))
        .collect();
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            // The lock's row has one column (v); the prefetch's rows have two (k, v).
            if row.len() == 1 {
                locked = true;
            } else {
                known.insert(from_hex(row.get(0))?, Some(from_hex(row.get(1))?));
            }
        }
    }
    Ok((locked, known))
}

pub struct PostgresGroupWriter {
    config: postgres::Config,
    connection: Option<(Client, Statement)>,
}

/// How one attempt ended, when it did not apply the group.
enum AttemptFailure {
    /// Nothing was applied, and trying again may succeed.
    Retry(StoreError),
    Final(GroupFailure),
}

/// Whether `error` is a lost race that a new attempt may win.
fn lost_race(error: &postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// An error before the commit was sent: nothing was applied.
fn before_commit(error: &postgres::Error) -> AttemptFailure {
    if error.is_closed() || lost_race(error) {
        AttemptFailure::Retry(failed(error))
    } else {
        AttemptFailure::Final(GroupFailure::NotApplied(failed(error)))
    }
}

/// An error from the message that ends with the commit: an answer from the server means
/// the transaction did not commit; no answer (the connection broke) leaves the outcome
/// unknown.
fn at_commit(error: &postgres::Error) -> AttemptFailure {
    if lost_race(error) {
        return AttemptFailure::Retry(failed(error));
    }
    match error.code() {
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

    fn connected(&mut self) -> Result<&mut (Client, Statement), postgres::Error> {
        let connection = match self.connection.take() {
            Some(connection) if !connection.0.is_closed() => connection,
            _ => {
                let mut client = self.config.connect(NoTls)?;
                // Acknowledged means on disk, whatever the database's default says, unless
                // the store's URL itself asks otherwise (`options=-c synchronous_commit=…`);
                // and the writer's SQL spells values as hex literals.
                let synchronous = if asks_for_synchronous_commit(&self.config) {
                    ""
                } else {
                    "SET synchronous_commit TO on;"
                };
                client.batch_execute(&format!(
                    "{synchronous}SET standard_conforming_strings TO on;SET bytea_output TO hex"
                ))?;
                let get = client.prepare(&format!("SELECT v FROM {TABLE} WHERE k = $1"))?;
                (client, get)
            }
        };
        Ok(self.connection.insert(connection))
    }

    /// Ends a transaction that failed; a connection that cannot is dropped.
    fn roll_back(&mut self) {
        if let Some((client, _)) = self.connection.as_mut() {
            if client.batch_execute("ROLLBACK").is_err() {
                self.connection = None;
            }
        }
    }

    /// One attempt: one round trip begins the transaction, locks the tip and reads the
    /// prefetched keys; the group is staged (reading any other key with one query each);
    /// one more round trip writes and commits.
    fn attempt(&mut self, prefetch: &[Key], stage: &mut StageFn<'_>) -> Result<(), AttemptFailure> {
        let (client, get) = self.connected().map_err(|error| before_commit(&error))?;
        let tip_key = Key::new(Keyspace::Meta, TIP_META);
        let mut sql = String::from("BEGIN;");
        lock_and_read(tip_key.as_bytes(), prefetch, &mut sql);
        let messages = client
            .simple_query(&sql)
            .map_err(|error| before_commit(&error))?;
        let (mut locked, mut known) = lock_and_read_answer(messages, prefetch)
            .map_err(|error| AttemptFailure::Final(GroupFailure::NotApplied(error)))?;
        if !locked {
            // A new database: the first group makes the row every later group locks, then
            // locks it and reads again.
            let mut sql = format!("INSERT INTO {TABLE} (k, v) VALUES (");
            literal(tip_key.as_bytes(), &mut sql);
            sql.push(',');
            literal(&ChainTip::default().encode(), &mut sql);
            sql.push_str(") ON CONFLICT (k) DO NOTHING;");
            lock_and_read(tip_key.as_bytes(), prefetch, &mut sql);
            let messages = client
                .simple_query(&sql)
                .map_err(|error| before_commit(&error))?;
            (locked, known) = lock_and_read_answer(messages, prefetch)
                .map_err(|error| AttemptFailure::Final(GroupFailure::NotApplied(error)))?;
            if !locked {
                return Err(AttemptFailure::Retry(StoreError::Io(
                    "PostgreSQL: the chain's tip row could not be locked".into(),
                )));
            }
        }
        let mut reads = ClientReads {
            client,
            get,
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
            return client
                .batch_execute("ROLLBACK")
                .map_err(|error| before_commit(&error));
        }
        client
            .batch_execute(&write_and_commit(writes))
            .map_err(|error| at_commit(&error))
    }
}

/// Whether the connection's own options set `synchronous_commit`.
fn asks_for_synchronous_commit(config: &postgres::Config) -> bool {
    config
        .get_options()
        .is_some_and(|options| options.contains("synchronous_commit"))
}

/// One message: the upsert of every value, the delete of every removed key, and `COMMIT`.
fn write_and_commit(writes: Overlay) -> String {
    let mut upsert = String::new();
    let mut deleted = String::new();
    for (key, value) in &writes {
        match value {
            Some(value) => {
                upsert.push_str(if upsert.is_empty() { "" } else { "," });
                upsert.push('(');
                literal(key.as_bytes(), &mut upsert);
                upsert.push(',');
                literal(value, &mut upsert);
                upsert.push(')');
            }
            None => {
                if !deleted.is_empty() {
                    deleted.push(',');
                }
                literal(key.as_bytes(), &mut deleted);
            }
        }
    }
    let mut sql = String::with_capacity(upsert.len() + deleted.len() + 160);
    if !upsert.is_empty() {
        sql.push_str(&format!(
            "INSERT INTO {TABLE} (k, v) VALUES {upsert} ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;"
        ));
    }
    if !deleted.is_empty() {
        sql.push_str(&format!("DELETE FROM {TABLE} WHERE k IN ({deleted});"));
    }
    sql.push_str("COMMIT");
    sql
}

impl GroupWriter for PostgresGroupWriter {
    fn apply_group(
        &mut self,
        prefetch: &[Key],
        stage: &mut StageFn<'_>,
    ) -> Result<(), GroupFailure> {
        let mut attempt = 1;
        loop {
            let attempted = self.attempt(prefetch, stage);
            if let Err(
                AttemptFailure::Retry(_) | AttemptFailure::Final(GroupFailure::NotApplied(_)),
            ) = &attempted
            {
                self.roll_back();
            }
            match attempted {
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
struct ClientReads<'a> {
    client: &'a mut Client,
    get: &'a Statement,
    known: Known,
    /// A failed read aborts the transaction; the attempt ends with it.
    failure: Option<postgres::Error>,
}

impl GroupReads for ClientReads<'_> {
    fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.known.get(key.as_bytes()) {
            return Ok(value.clone());
        }
        match self.client.query_opt(self.get, &[&key.as_bytes()]) {
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
