//! The event feed: how a subscription on one server hears of the events committed through
//! every other server over the same store (`--event-feed`, on every server of a fleet).
//!
//! Each server appends the events it commits to its own feed in the store, once their
//! commit is durable, in the order it published them: one small commit per batch, entries
//! `feed/<server>/<stamp>` → `<platform>/<event id>` whose stamps (wall microseconds) only
//! grow, and its registration `feed_server/<server>`. Every server follows the other
//! servers' feeds with a bounded poll, reads each new event once and broadcasts it to its
//! own subscribers. Entries are pruned after `EVENT_FEED_RETENTION_SECONDS`, and a server's
//! registration once its feed is empty and it has written nothing for as long.
//!
//! Why after the commit rather than in it: an event's id is made before its commit lands,
//! so commits land out of id order, and a follower reading a feed keyed inside the commits
//! could pass an event that lands behind its cursor. One appender per server gives each
//! feed a strict order with no gaps, so a follower never passes what is there. The price:
//! events committed by a server that dies before appending them reach only that server's
//! subscribers (the subscription is a live stream; webhooks are the at-least-once path).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{watch, Notify};

use super::{Draft, PublishedEvent, ServiceError, Services};
use crate::config::{
    EVENT_FEED_POLL_MILLISECONDS, EVENT_FEED_PRUNE_SECONDS, EVENT_FEED_RETENTION_SECONDS,
    MAX_EVENT_FEED_BATCH, MAX_EVENT_FEED_PENDING,
};
use crate::domain::events::Event;
use crate::ids::PlatformId;
use crate::store::{Expect, Key, Keyspace, StoreError, MAX_SCAN_ITEMS};

/// Feed entries: `feed/<server>/<stamp, 16 hex digits>`.
const FEED_PREFIX: &str = "feed/";
/// Registrations: `feed_server/<server>` → the last stamp the server appended.
const SERVER_PREFIX: &str = "feed_server/";
/// Pages one poll reads from one server's feed before giving the others their turn.
const MAX_PAGES_PER_POLL: usize = 8;

/// This server's side of the feed: the events waiting to be appended.
pub struct EventFeed {
    enabled: bool,
    pending: Mutex<VecDeque<(PlatformId, String)>>,
    /// Signalled when events wait to be appended.
    pub(super) waiting: Arc<Notify>,
    /// The last stamp appended, so stamps only grow even if the wall clock steps back.
    last_stamp: AtomicI64,
    /// When this server began following: entries stamped earlier are not streamed.
    started_micros: i64,
}

fn feed_prefix(server: &str) -> String {
    format!("{FEED_PREFIX}{server}/")
}

fn feed_key(server: &str, stamp: i64) -> Key {
    Key::new(
        Keyspace::Meta,
        &format!("{}{stamp:016x}", feed_prefix(server)),
    )
}

fn server_key(server: &str) -> Key {
    Key::new(Keyspace::Meta, &format!("{SERVER_PREFIX}{server}"))
}

/// The stamp of a feed entry's name.
fn stamp_of(name: &str) -> Option<i64> {
    let (_, stamp) = name.rsplit_once('/')?;
    i64::from_str_radix(stamp, 16).ok()
}

fn wall_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl EventFeed {
    pub fn new(enabled: bool) -> EventFeed {
        EventFeed {
            enabled,
            pending: Mutex::default(),
            waiting: Arc::new(Notify::new()),
            last_stamp: AtomicI64::new(0),
            started_micros: wall_micros(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Queues committed events for the feed (when it is on).
    pub(super) fn push(&self, platform: &PlatformId, events: &[Event]) {
        if !self.enabled || events.is_empty() {
            return;
        }
        let dropped = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.extend(
                events
                    .iter()
                    .map(|event| (platform.clone(), event.id.to_string())),
            );
            let over = pending.len().saturating_sub(MAX_EVENT_FEED_PENDING);
            pending.drain(..over);
            over
        };
        if dropped > 0 {
            tracing::error!(
                dropped,
                "the event feed fell behind; other servers' subscribers miss these events"
            );
        }
        self.waiting.notify_one();
    }

    fn take(&self) -> Vec<(PlatformId, String)> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = pending.len().min(MAX_EVENT_FEED_BATCH);
        pending.drain(..count).collect()
    }

    /// Puts back a batch that could not be appended, in front, so the order holds.
    fn put_back(&self, batch: Vec<(PlatformId, String)>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for entry in batch.into_iter().rev() {
            pending.push_front(entry);
        }
    }
}

impl Services {
    /// Appends waiting events to this server's feed, a batch per commit, until none waits.
    pub async fn append_to_event_feed(&self) -> Result<usize, ServiceError> {
        let feed = &self.event_feed;
        let mut appended = 0;
        loop {
            let batch = feed.take();
            if batch.is_empty() {
                return Ok(appended);
            }
            let mut draft = Draft::system(Utc::now());
            let mut stamp = feed.last_stamp.load(Ordering::SeqCst);
            for (platform, event) in &batch {
                stamp = wall_micros().max(stamp.saturating_add(1));
                draft.raw(
                    feed_key(&self.server_id, stamp),
                    format!("{platform}/{event}").into_bytes(),
                );
            }
            draft.record(server_key(&self.server_id), &stamp, Expect::Any)?;
            if let Err(error) = self.store.commit(draft.commit).await {
                feed.put_back(batch);
                return Err(error.into());
            }
            feed.last_stamp.store(stamp, Ordering::SeqCst);
            appended += batch.len();
        }
    }

    /// Reads what the other servers appended since the last poll and broadcasts it to this
    /// server's subscribers. `cursors` holds, per server, the last entry read.
    pub async fn follow_event_feeds(
        &self,
        cursors: &mut HashMap<String, String>,
    ) -> Result<usize, ServiceError> {
        let mut streamed = 0;
        let mut registered = HashSet::new();
        for server in self.feed_servers()? {
            if server == self.server_id {
                continue;
            }
            let prefix = feed_prefix(&server);
            let cursor = cursors
                .entry(server.clone())
                .or_insert_with(|| format!("{prefix}{:016x}", self.event_feed.started_micros));
            for _ in 0..MAX_PAGES_PER_POLL {
                let page =
                    self.store
                        .meta_with_prefix(&prefix, Some(cursor), MAX_EVENT_FEED_BATCH)?;
                let Some((last, _)) = page.last() else {
                    break;
                };
                *cursor = last.clone();
                // Nobody listening: nothing to read but the cursor.
                if self.event_stream.receiver_count() > 0 {
                    for (_, entry) in &page {
                        if let Some(published) = self.feed_event(entry)? {
                            let _ = self.event_stream.send(published);
                            streamed += 1;
                        }
                    }
                }
                if page.len() < MAX_EVENT_FEED_BATCH {
                    break;
                }
            }
            registered.insert(server);
        }
        cursors.retain(|server, _| registered.contains(server));
        Ok(streamed)
    }

    /// Every server registered in the feed.
    fn feed_servers(&self) -> Result<Vec<String>, ServiceError> {
        let mut servers = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page =
                self.store
                    .meta_with_prefix(SERVER_PREFIX, after.as_deref(), MAX_SCAN_ITEMS)?;
            let Some((last, _)) = page.last() else {
                return Ok(servers);
            };
            after = Some(last.clone());
            servers.extend(
                page.iter()
                    .filter_map(|(name, _)| name.strip_prefix(SERVER_PREFIX))
                    .map(str::to_owned),
            );
        }
    }

    /// The event a feed entry names; `None` for an entry that cannot be read (logged).
    fn feed_event(&self, entry: &[u8]) -> Result<Option<PublishedEvent>, ServiceError> {
        let text = String::from_utf8_lossy(entry);
        let Some((platform, event)) = text.split_once('/') else {
            tracing::error!(entry = %text, "an event feed entry cannot be read; skipped");
            return Ok(None);
        };
        let Ok(platform) = PlatformId::parse(platform) else {
            tracing::error!(entry = %text, "an event feed entry names no platform; skipped");
            return Ok(None);
        };
        Ok(self
            .store
            .get_object::<Event>(platform.as_ref(), event)?
            .map(|found| PublishedEvent {
                platform,
                event: found.value,
            }))
    }

    /// Deletes every feed entry past its retention, and the registration of a server whose
    /// feed is empty and which has appended nothing for as long (expecting it unchanged,
    /// since its server may be appending again).
    pub async fn prune_event_feeds(&self) -> Result<usize, ServiceError> {
        let cutoff = wall_micros().saturating_sub(EVENT_FEED_RETENTION_SECONDS * 1_000_000);
        let mut pruned = 0;
        for server in self.feed_servers()? {
            let prefix = feed_prefix(&server);
            let empty = loop {
                let page = self
                    .store
                    .meta_with_prefix(&prefix, None, MAX_EVENT_FEED_BATCH)?;
                let old: Vec<&String> = page
                    .iter()
                    .map(|(name, _)| name)
                    .take_while(|name| stamp_of(name).is_none_or(|stamp| stamp < cutoff))
                    .collect();
                if old.is_empty() {
                    break page.is_empty();
                }
                let mut draft = Draft::system(Utc::now());
                for name in &old {
                    draft.delete(Key::new(Keyspace::Meta, name));
                }
                self.store.commit(draft.commit).await?;
                pruned += old.len();
                if old.len() < page.len() {
                    break false;
                }
            };
            if empty {
                self.forget_idle_server(&server, cutoff).await?;
            }
        }
        Ok(pruned)
    }

    async fn forget_idle_server(&self, server: &str, cutoff: i64) -> Result<(), ServiceError> {
        let key = server_key(server);
        let Some(found) = self.store.get_sealed::<i64>(&key)? else {
            return Ok(());
        };
        if found.value >= cutoff {
            return Ok(());
        }
        let mut draft = Draft::system(Utc::now());
        // Written again as it was read, then deleted: the commit fails if the server
        // appended meanwhile.
        draft.record(key.clone(), &found.value, Expect::Revision(found.revision))?;
        draft.delete(key);
        match self.store.commit(draft.commit).await {
            Ok(_) | Err(StoreError::RevisionConflict { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Appends, follows and prunes the feed until the server stops; appends what is left
    /// before it returns. Holds the services weakly, so shutting down is never held up.
    pub async fn run_event_feed(services: Weak<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(waiting) = services
            .upgrade()
            .map(|services| services.event_feed.waiting.clone())
        else {
            return;
        };
        let mut poll = tokio::time::interval(Duration::from_millis(EVENT_FEED_POLL_MILLISECONDS));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(Duration::from_secs(EVENT_FEED_PRUNE_SECONDS));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cursors = HashMap::new();
        loop {
            let stopping = tokio::select! {
                () = waiting.notified() => false,
                _ = poll.tick() => {
                    if let Some(services) = services.upgrade() {
                        if let Err(error) = services.follow_event_feeds(&mut cursors).await {
                            tracing::error!(%error, "could not read the event feed; will retry");
                        }
                    }
                    false
                }
                _ = prune.tick() => {
                    if let Some(services) = services.upgrade() {
                        if let Err(error) = services.prune_event_feeds().await {
                            tracing::error!(%error, "could not prune the event feed; will retry");
                        }
                    }
                    false
                }
                _ = shutdown.changed() => true,
            };
            let Some(services) = services.upgrade() else {
                return;
            };
            if let Err(error) = services.append_to_event_feed().await {
                tracing::error!(%error, "could not append to the event feed; will retry");
            }
            if stopping {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_carry_their_stamp_in_order() {
        let early = feed_key("srv_a", 5);
        let late = feed_key("srv_a", 0x1_0000);
        assert!(early < late);
        assert_eq!(stamp_of(early.rest()), Some(5));
        assert_eq!(stamp_of(late.rest()), Some(0x1_0000));
        assert_eq!(stamp_of("feed/srv_a/zz"), None);
    }
}
