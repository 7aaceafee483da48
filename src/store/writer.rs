//! The writer: the one thread of this process that writes to the store. It takes commits
//! from a channel, checks each one's idempotency key, conditions and revisions against
//! current state, appends their entries to the ledger's hash chain, keeps the running
//! totals, and has the engine apply a whole group as one atomic unit (a sled batch; a
//! PostgreSQL transaction, which also re-reads the chain's tip under a row lock). Its
//! flusher thread then makes the groups durable (sled: one flush for every group applied
//! since the last, and the high-water record; PostgreSQL: the commit already was), and only
//! then answers their callers. A group that may or may not have been applied stops the
//! process: no caller may be told that it failed.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::chain::{self, ChainTip};
use super::codec;
use super::commit::{Applied, Commit, Condition, Expect, Submission, Write, MAX_ITEMS_PER_COMMIT};
use super::engine::{Engine, GroupFailure, GroupReads, GroupWriter, Overlay};
use super::high_water::HighWater;
use super::keys::{Key, Keyspace};
use super::{IdempotencyRecord, StoreError};
use crate::ledger::{self, Entry, RunningTotals};

/// The most commits applied and flushed together.
pub const MAX_COMMITS_PER_GROUP: usize = 512;

/// Answers waiting for the flush that makes their commits durable.
type Pending = (
    tokio::sync::oneshot::Sender<Vec<Result<Applied, StoreError>>>,
    Vec<Result<Applied, StoreError>>,
);

/// What to do when the store can no longer make commits durable. In a server it logs and
/// ends the process; it never returns there.
pub type FailStop = Arc<dyn Fn(&str) + Send + Sync>;

/// Makes applied groups durable (sled: flushes and fsyncs; PostgreSQL: nothing left to do).
pub(crate) type FlushFn = Box<dyn FnMut() -> Result<(), StoreError> + Send>;

/// How the flusher makes groups durable and what it does when it cannot.
pub(crate) struct Durability {
    pub flush: FlushFn,
    /// sled's record of the last flushed tip; PostgreSQL is its own record.
    pub high_water: Option<HighWater>,
    pub fail_stop: FailStop,
}

/// The process-ending fail-stop used by servers.
pub fn abort_process() -> FailStop {
    Arc::new(|reason: &str| {
        tracing::error!(
            reason,
            "stopping: the store can no longer make commits durable"
        );
        eprintln!("tollgate: stopping: {reason}");
        std::process::abort();
    })
}

pub(crate) fn run(
    engine: Arc<dyn Engine>,
    mut receiver: mpsc::Receiver<Submission>,
    durability: Durability,
    apply_lock: &std::sync::Mutex<()>,
) {
    // The writer's side of the engine (on PostgreSQL, its own connection) lives here.
    let mut group_writer = match engine.group_writer() {
        Ok(group_writer) => group_writer,
        Err(error) => {
            (durability.fail_stop)(&format!("the writer could not start: {error}"));
            return;
        }
    };
    // The flusher answers callers after each flush, so the writer can stage and apply the
    // next group while the disk works on the previous one.
    let (to_flusher, flusher_inbox) = std::sync::mpsc::channel::<(Vec<Pending>, ChainTip)>();
    let fail_stop = durability.fail_stop.clone();
    let flusher = std::thread::Builder::new()
        .name("tollgate-flusher".into())
        .spawn(move || flush_and_answer(durability, &flusher_inbox));
    let flusher = match flusher {
        Ok(flusher) => flusher,
        Err(error) => {
            tracing::error!(%error, "could not start the flusher thread");
            return;
        }
    };
    let mut group = Vec::with_capacity(MAX_COMMITS_PER_GROUP);
    while let Some(first) = receiver.blocking_recv() {
        // A submission is never split: its commits share one group and one flush.
        let mut commits = first.commits.len();
        group.push(first);
        while commits < MAX_COMMITS_PER_GROUP {
            match receiver.try_recv() {
                Ok(next) => {
                    commits += next.commits.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        metrics::histogram!("tollgate_writer_group_commits").record(commits as f64);
        let applied = {
            // Held while the group is applied, so a backup or ledger check that holds it
            // sees whole groups only. A poisoned lock only means a reader panicked.
            let _applying = apply_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            apply_group(group_writer.as_mut(), &group)
        };
        let answered = match applied {
            Ok((results, tip)) => Some((pair_answers(&mut group, results), tip)),
            Err(GroupFailure::NotApplied(error)) => {
                // Nothing was written: every caller of the group is told so.
                tracing::error!(%error, "a write group could not be applied");
                for submission in group.drain(..) {
                    let failed = submission
                        .commits
                        .iter()
                        .map(|_| Err(error.clone()))
                        .collect();
                    let _ = submission.reply.send(failed);
                }
                None
            }
            Err(GroupFailure::InDoubt(error)) => {
                fail_stop(&format!("a write group could not be applied: {error}"));
                return;
            }
        };
        let Some((answered, tip)) = answered else {
            continue;
        };
        if to_flusher.send((answered, tip)).is_err() {
            tracing::error!("the flusher thread stopped");
            break;
        }
    }
    drop(to_flusher);
    if flusher.join().is_err() {
        tracing::error!("the flusher thread panicked");
    }
}

/// Each submission's reply with its commits' results.
fn pair_answers(
    group: &mut Vec<Submission>,
    results: Vec<Vec<Result<Applied, StoreError>>>,
) -> Vec<Pending> {
    group
        .drain(..)
        .zip(results)
        .map(|(submission, results)| (submission.reply, results))
        .collect()
}

/// Flushes once for every batch of applied groups that is waiting, records the tip, then
/// answers them all. When either fails it calls the fail-stop and answers nobody.
fn flush_and_answer(
    mut durability: Durability,
    inbox: &std::sync::mpsc::Receiver<(Vec<Pending>, ChainTip)>,
) {
    while let Ok((first, mut tip)) = inbox.recv() {
        let mut waiting = first;
        while let Ok((more, later_tip)) = inbox.try_recv() {
            waiting.extend(more);
            tip = later_tip;
        }
        let needs_flush = waiting.iter().any(|(_, results)| {
            results
                .iter()
                .any(|result| matches!(result, Ok(Applied::Committed)))
        });
        if needs_flush {
            let started = std::time::Instant::now();
            let flushed = (durability.flush)();
            metrics::histogram!("tollgate_writer_flush_seconds").record(started.elapsed());
            let durable = flushed.and_then(|()| match durability.high_water.as_mut() {
                Some(high_water) => high_water.record(&tip),
                None => Ok(()),
            });
            if let Err(error) = durable {
                let commits: usize = waiting.iter().map(|(_, results)| results.len()).sum();
                (durability.fail_stop)(&format!("a flush of {commits} commits failed: {error}"));
                // Only reached where the fail-stop returns (tests): answer nobody.
                return;
            }
        }
        for (reply, results) in waiting {
            // A caller that went away (client disconnected) no longer needs the answer.
            let _ = reply.send(results);
        }
    }
    if let Err(error) = (durability.flush)() {
        (durability.fail_stop)(&format!("the final flush failed: {error}"));
    }
}

/// Every key staging the group will read: the chain's tip and, per commit, its idempotency
/// key, its conditions' keys, its objects, its postings' balances, its entries and the
/// running totals. The engine reads them all at once.
fn keys_read(group: &[Submission]) -> Vec<Key> {
    let mut keys = vec![
        Key::new(Keyspace::Meta, chain::TIP_META),
        Key::new(Keyspace::Totals, ""),
    ];
    for commit in group.iter().flat_map(|submission| &submission.commits) {
        if let (Some(claim), Some(platform)) = (&commit.idempotency, &commit.platform) {
            keys.push(Key::idempotency(platform.as_ref(), &claim.key));
        }
        for condition in &commit.conditions {
            keys.push(match condition {
                Condition::BalanceAtLeast { account, .. } => {
                    Key::new(Keyspace::Balance, &account.key())
                }
                Condition::Exists { key } => key.clone(),
            });
        }
        for write in &commit.writes {
            if let Write::Object { key, .. } = write {
                keys.push(key.clone());
            }
        }
        for entry in &commit.entries {
            keys.extend(
                entry
                    .postings()
                    .map(|posting| Key::new(Keyspace::Balance, &posting.account.key())),
            );
            keys.push(Key::entry(entry.platform.as_ref(), entry.id.as_ref()));
            keys.push(Key::new(Keyspace::Totals, entry.platform.as_ref()));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// One result per commit, per submission.
type GroupResults = Vec<Vec<Result<Applied, StoreError>>>;

/// Stages every commit of the group in order and applies the accepted ones as one atomic
/// unit, with the chain's new tip. The tip is read inside that unit, never trusted from
/// memory: on a shared database another server may have moved it.
fn apply_group(
    group_writer: &mut dyn GroupWriter,
    group: &[Submission],
) -> Result<(GroupResults, ChainTip), GroupFailure> {
    let prefetch = keys_read(group);
    let mut outcome = None;
    group_writer.apply_group(&prefetch, &mut |reads| {
        let (results, tip, overlay) = stage_group(reads, group)?;
        outcome = Some((results, tip));
        Ok(overlay)
    })?;
    outcome.ok_or(GroupFailure::NotApplied(StoreError::WriterStopped))
}

fn stage_group(
    reads: &mut dyn GroupReads,
    group: &[Submission],
) -> Result<(GroupResults, ChainTip, Overlay), StoreError> {
    let tip_key = Key::new(Keyspace::Meta, chain::TIP_META);
    let mut tip = match reads.get(&tip_key)? {
        Some(bytes) => ChainTip::decode(&bytes)
            .ok_or_else(|| StoreError::Integrity("the ledger's tip record is garbled".into()))?,
        None => ChainTip::default(),
    };
    let mut overlay = Overlay::new();
    let mut answers = Vec::with_capacity(group.len());
    for submission in group {
        let mut results = Vec::with_capacity(submission.commits.len());
        for commit in &submission.commits {
            results.push(
                stage(reads, &overlay, commit, tip).map(|staged| match staged {
                    Staged::Writes(writes, commit_tip) => {
                        overlay.extend(writes);
                        tip = commit_tip;
                        Applied::Committed
                    }
                    Staged::Replay(outcome) => Applied::Replayed { outcome },
                }),
            );
        }
        answers.push(results);
    }
    if !overlay.is_empty() {
        tip.groups += 1;
        overlay.insert(tip_key, Some(tip.encode()));
    }
    Ok((answers, tip, overlay))
}

enum Staged {
    /// The commit's writes and the chain's tip after its entries.
    Writes(Overlay, ChainTip),
    Replay(Vec<u8>),
}

/// Reads through this commit's own writes, then the group's, then the engine.
struct View<'a, 'r> {
    reads: &'a mut (dyn GroupReads + 'r),
    group: &'a Overlay,
    own: Overlay,
}

impl View<'_, '_> {
    fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.own.get(key).or_else(|| self.group.get(key)) {
            return Ok(value.clone());
        }
        self.reads.get(key)
    }

    fn revision(&mut self, key: &Key) -> Result<Option<u64>, StoreError> {
        self.get(key)?
            .map(|bytes| codec::revision(&bytes))
            .transpose()
    }

    fn balance(&mut self, key: &Key) -> Result<i64, StoreError> {
        self.get(key)?
            .map_or(Ok(0), |bytes| codec::decode_i64(&bytes))
    }
}

fn stage(
    reads: &mut dyn GroupReads,
    group: &Overlay,
    commit: &Commit,
    mut tip: ChainTip,
) -> Result<Staged, StoreError> {
    if commit.item_count() > MAX_ITEMS_PER_COMMIT {
        return Err(StoreError::TooLarge(commit.item_count()));
    }
    let mut view = View {
        reads,
        group,
        own: Overlay::new(),
    };
    if let Some(claim) = &commit.idempotency {
        let platform = commit
            .platform
            .as_ref()
            .ok_or_else(|| StoreError::Codec("an idempotency key needs a platform".into()))?;
        let key = Key::idempotency(platform.as_ref(), &claim.key);
        if let Some(bytes) = view.get(&key)? {
            let record: IdempotencyRecord = codec::from_payload(&bytes)?;
            if record.fingerprint != claim.fingerprint {
                return Err(StoreError::IdempotencyConflict);
            }
            return Ok(Staged::Replay(record.outcome.into_bytes()));
        }
        let record = IdempotencyRecord {
            fingerprint: claim.fingerprint.clone(),
            outcome: String::from_utf8_lossy(&claim.outcome).into_owned(),
            created_micros: claim.created_micros,
        };
        view.own.insert(key, Some(codec::to_payload(&record)?));
    }
    for (index, condition) in commit.conditions.iter().enumerate() {
        check_condition(&mut view, index, condition)?;
    }
    for write in &commit.writes {
        stage_write(&mut view, write)?;
    }
    for entry in &commit.entries {
        // The second path of the zero-sum assertion: nothing unbalanced reaches the disk.
        entry.check_balanced()?;
        for posting in entry.postings() {
            let key = Key::new(Keyspace::Balance, &posting.account.key());
            let balance = ledger::apply_posting(view.balance(&key)?, posting.amount.get())?;
            view.own
                .insert(key, Some(codec::encode_i64(balance).to_vec()));
        }
        let key = Key::entry(entry.platform.as_ref(), entry.id.as_ref());
        if view.get(&key)?.is_some() {
            return Err(StoreError::Codec(format!(
                "journal entry {} already exists",
                key.rest()
            )));
        }
        let compressed = codec::compress(&codec::to_payload(entry)?)?;
        let chained = tip.append_compressed(&key, &compressed)?;
        view.own.insert(
            chain::link_key(tip.sequence),
            Some(key.rest().as_bytes().to_vec()),
        );
        view.own.insert(key, Some(chained));
    }
    add_to_totals(&mut view, &commit.entries)?;
    Ok(Staged::Writes(view.own, tip))
}

/// Adds the commit's entries to the running totals of their platforms and of the ledger.
fn add_to_totals(view: &mut View<'_, '_>, entries: &[Entry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut touched: Vec<(Key, RunningTotals)> = Vec::new();
    for entry in entries {
        for key in [
            Key::new(Keyspace::Totals, ""),
            Key::new(Keyspace::Totals, entry.platform.as_ref()),
        ] {
            let position = match touched.iter().position(|(known, _)| *known == key) {
                Some(position) => position,
                None => {
                    let totals = match view.get(&key)? {
                        Some(bytes) => codec::from_payload(&bytes)?,
                        None => RunningTotals::default(),
                    };
                    touched.push((key, totals));
                    touched.len() - 1
                }
            };
            if let Some((_, totals)) = touched.get_mut(position) {
                totals.add_entry(entry);
            }
        }
    }
    for (key, mut totals) in touched {
        totals.revision += 1;
        view.own.insert(key, Some(codec::to_payload(&totals)?));
    }
    Ok(())
}

fn check_condition(
    view: &mut View<'_, '_>,
    index: usize,
    condition: &Condition,
) -> Result<(), StoreError> {
    match condition {
        Condition::BalanceAtLeast {
            account,
            minimum_minor,
        } => {
            let balance = view.balance(&Key::new(Keyspace::Balance, &account.key()))?;
            if balance < *minimum_minor {
                return Err(StoreError::ConditionFailed {
                    index,
                    condition: condition.clone(),
                    actual_minor: balance,
                });
            }
        }
        Condition::Exists { key } => {
            if view.get(key)?.is_none() {
                return Err(StoreError::ConditionFailed {
                    index,
                    condition: condition.clone(),
                    actual_minor: 0,
                });
            }
        }
    }
    Ok(())
}

fn stage_write(view: &mut View<'_, '_>, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Object {
            key,
            payload,
            expect,
        } => {
            let current = view.revision(key)?;
            let acceptable = match expect {
                Expect::Any => true,
                Expect::Absent => current.is_none(),
                Expect::Revision(revision) => current == Some(*revision),
            };
            if !acceptable {
                return Err(StoreError::RevisionConflict {
                    key: key.rest().to_owned(),
                });
            }
            let revision = current.unwrap_or(0) + 1;
            view.own
                .insert(key.clone(), Some(codec::seal(revision, payload)?));
        }
        Write::Raw { key, value } => {
            view.own.insert(key.clone(), Some(value.clone()));
        }
        Write::Delete { key } => {
            view.own.insert(key.clone(), None);
        }
    }
    Ok(())
}
