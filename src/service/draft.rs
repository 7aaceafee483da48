//! Drafting a commit: objects with their indexes, events, and ledger entries together with
//! the balance transactions and release timers they imply.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ServiceError;
use crate::domain::balance_transactions::BalanceTransaction;
use crate::domain::events::{is_cataloged, previous_attributes, wire_object, Event};
use crate::ids::{AccountId, IdGenerator, PlatformId};
use crate::ledger::{BalanceTransactionType, Bucket, Entry, Holder};
use crate::store::{encode_object, to_payload, Commit, Condition, Expect, Key, Write};

/// Timer kinds the scheduler knows.
pub const TIMER_RELEASE: &str = "release";
/// An uncaptured charge's authorization lapsing.
pub const TIMER_AUTHORIZATION_EXPIRY: &str = "authorization_expiry";
/// A dispute's evidence deadline: unanswered, it is lost.
pub const TIMER_DISPUTE_DEADLINE: &str = "dispute_deadline";

/// A timer's payload: which balance transaction's funds to release.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ReleaseTimer {
    /// The balance transactions of one entry that become available at the same time.
    pub balance_transactions: Vec<String>,
}

/// A commit being built, with the errors to report for each condition that fails.
pub struct Draft {
    pub commit: Commit,
    /// The platform's id as the prefix of its keys; empty for the server's own bookkeeping.
    platform_key: String,
    /// Events to stream to subscribers once the commit is durable.
    pub published: Vec<Event>,
    pub condition_errors: Vec<ServiceError>,
    now: DateTime<Utc>,
}

impl Draft {
    pub fn new(platform: &PlatformId, now: DateTime<Utc>) -> Draft {
        Draft {
            commit: Commit::new(Some(platform.clone())),
            platform_key: platform.to_string(),
            condition_errors: Vec::new(),
            published: Vec::new(),
            now,
        }
    }

    /// A draft of the server's own bookkeeping (the clock, timers), tied to no platform.
    pub fn system(now: DateTime<Utc>) -> Draft {
        Draft {
            commit: Commit::new(None),
            platform_key: String::new(),
            condition_errors: Vec::new(),
            published: Vec::new(),
            now,
        }
    }

    fn platform(&self) -> String {
        self.platform_key.clone()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// A new object, with entries in the named indexes (e.g. "charges", "charges_acct:acct_…").
    pub fn insert<T: Serialize>(
        &mut self,
        id: &str,
        value: &T,
        indexes: &[String],
    ) -> Result<(), ServiceError> {
        self.write_object(id, value, Expect::Absent)?;
        for index in indexes {
            self.index(index, id);
        }
        Ok(())
    }

    /// Replaces an object that must still be at `revision`.
    pub fn update<T: Serialize>(
        &mut self,
        id: &str,
        value: &T,
        revision: u64,
    ) -> Result<(), ServiceError> {
        self.write_object(id, value, Expect::Revision(revision))
    }

    fn write_object<T: Serialize>(
        &mut self,
        id: &str,
        value: &T,
        expect: Expect,
    ) -> Result<(), ServiceError> {
        let payload = encode_object(value)?;
        self.commit.writes.push(Write::Object {
            key: Key::object(&self.platform(), id),
            payload,
            expect,
        });
        Ok(())
    }

    pub fn index(&mut self, index: &str, id: &str) {
        let key = Key::index(&self.platform(), index, id);
        self.commit.writes.push(Write::Raw {
            key,
            value: Vec::new(),
        });
    }

    /// A record kept at `key` (outside the platform's objects, such as its clock), sealed
    /// with a revision a later write can expect.
    pub fn record<T: Serialize>(
        &mut self,
        key: Key,
        value: &T,
        expect: Expect,
    ) -> Result<(), ServiceError> {
        let payload = encode_object(value)?;
        self.commit.writes.push(Write::Object {
            key,
            payload,
            expect,
        });
        Ok(())
    }

    pub fn raw(&mut self, key: Key, value: Vec<u8>) {
        self.commit.writes.push(Write::Raw { key, value });
    }

    pub fn delete(&mut self, key: Key) {
        self.commit.writes.push(Write::Delete { key });
    }

    pub fn condition(&mut self, condition: Condition, error: ServiceError) {
        self.commit.conditions.push(condition);
        self.condition_errors.push(error);
    }

    /// An event about this change, in the same commit; `object` is the object as it is now.
    pub fn event<T: Serialize>(
        &mut self,
        ids: &IdGenerator,
        event_type: &str,
        account: Option<&AccountId>,
        object: &T,
    ) -> Result<(), ServiceError> {
        let object = wire_value(object)?;
        self.push_event(ids, event_type, account, object, None)
    }

    /// An event about an update: the object after it, and the fields it changed with their
    /// values before.
    pub fn event_update<T: Serialize>(
        &mut self,
        ids: &IdGenerator,
        event_type: &str,
        account: Option<&AccountId>,
        before: &T,
        after: &T,
    ) -> Result<(), ServiceError> {
        let before = wire_value(before)?;
        let after = wire_value(after)?;
        let previous = previous_attributes(&before, &after);
        self.push_event(ids, event_type, account, after, previous)
    }

    fn push_event(
        &mut self,
        ids: &IdGenerator,
        event_type: &str,
        account: Option<&AccountId>,
        object: serde_json::Value,
        previous_attributes: Option<serde_json::Value>,
    ) -> Result<(), ServiceError> {
        // Every type must be in the catalogue: endpoints subscribe by it and the README
        // documents it.
        debug_assert!(
            is_cataloged(event_type),
            "event type {event_type} is missing from the catalogue"
        );
        let event = Event {
            id: ids.next(),
            event_type: event_type.to_owned(),
            account: account.cloned(),
            data: object,
            previous_attributes,
            created: self.now,
        };
        let id = event.id.to_string();
        let mut indexes = vec!["events".to_owned(), format!("events_type:{event_type}")];
        if let Some(account) = account {
            indexes.push(super::events::account_events_index(account));
        }
        self.insert(&id, &event, &indexes)?;
        // The outbox entry lands in the same commit as the event, so a crash can never
        // leave an event that webhook endpoints will not hear about.
        if !self.platform_key.is_empty() {
            self.raw(
                Key::outbox_event(&self.platform_key, &id),
                event_type.as_bytes().to_vec(),
            );
        }
        self.published.push(event);
        Ok(())
    }

    /// A ledger entry, the balance transactions of its lines, and one release timer for
    /// the lines that land pending until the same time.
    pub fn entry(&mut self, entry: Entry) -> Result<(), ServiceError> {
        let mut pending: std::collections::BTreeMap<DateTime<Utc>, Vec<String>> =
            Default::default();
        for line in &entry.lines {
            if line.holder.is_system() {
                continue;
            }
            let transaction = BalanceTransaction::from_line(line, &entry.id, entry.created);
            let id = transaction.id.to_string();
            let indexes = [
                holder_index(&line.holder),
                holder_type_index(&line.holder, transaction.transaction_type),
            ];
            self.insert(&id, &transaction, &indexes)?;
            if line.bucket == Bucket::Pending {
                pending.entry(line.available_on).or_default().push(id);
            }
        }
        for (available_on, balance_transactions) in pending {
            let key = Key::timer(
                available_on.timestamp_micros(),
                TIMER_RELEASE,
                &self.platform(),
                &format!("{}/{}", entry.id, available_on.timestamp_micros()),
            );
            self.raw(
                key,
                to_payload(&ReleaseTimer {
                    balance_transactions,
                })?,
            );
        }
        self.commit.entries.push(entry);
        Ok(())
    }
}

/// An object's JSON with the field names of its GraphQL type.
fn wire_value<T: Serialize>(value: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(value)
        .map(wire_object)
        .map_err(|error| ServiceError::internal("event data", error))
}

/// The index of one holder's balance transactions.
pub fn holder_index(holder: &Holder) -> String {
    format!("txns:{}", holder.as_str())
}

/// The index of one holder's balance transactions of one type, so a list filtered by type
/// reads exactly its page, however rare the type.
pub fn holder_type_index(holder: &Holder, transaction_type: BalanceTransactionType) -> String {
    // The type's name as the API spells it ("APPLICATION_FEE").
    let name = serde_json::to_value(transaction_type)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{transaction_type:?}"));
    format!("txns_type:{}:{name}", holder.as_str())
}
