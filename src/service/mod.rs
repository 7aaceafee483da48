//! Use cases, one file per capability: the only code that orchestrates reads, policies,
//! ledger entries and commits.

mod draft;
mod error;
pub mod idempotency;
mod key_cache;

pub mod account_debits;
pub mod account_links;
pub mod accounts;
pub mod api_keys;
pub mod backtests;
pub mod balances;
pub mod captures;
pub mod charge_batches;
pub mod charge_facts;
pub mod charges;
pub mod clock_moves;
pub mod connect;
pub mod demo;
pub mod disputes;
pub mod event_feed;
pub mod events;
pub mod express_dashboard;
pub mod external_accounts;
pub mod fee_refunds;
pub mod ledger_check;
pub mod lists;
pub mod login_links;
pub mod migrations;
pub mod negative_balances;
pub mod onboarding;
pub mod pagination;
pub mod payout_lifecycle;
pub mod payout_runs;
pub mod payouts;
pub mod platforms;
pub mod policies;
pub mod pricing;
pub mod readiness;
pub mod refunds;
pub mod scheduler;
pub mod scope;
pub mod shared_secrets;
pub mod standalone;
pub mod topups;
pub mod transfers;
pub mod webhook_client;
pub mod webhook_leases;
pub mod webhook_outbox;
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::{broadcast, Mutex, Semaphore};

pub use draft::{holder_index, holder_type_index, Draft};
pub use error::ServiceError;
pub use idempotency::{IdempotencyKey, Prepared};
pub use pagination::{Page, PageRequest};
pub use scope::{Access, Owner, Scoped};

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::events::Event;
use crate::domain::platforms::Platform;
use crate::ids::{AccountId, IdGenerator, PlatformId};
use crate::policy::PolicyRegistry;
use crate::store::Store;

/// The application state, built once in `app.rs` and shared by every request.
pub struct Services {
    pub store: Store,
    pub clock: Clock,
    pub ids: IdGenerator,
    pub settings: Settings,
    /// Held while time moves and due work runs, so advances happen one at a time.
    pub scheduler_lock: Mutex<()>,
    /// Committed events, for the `events` subscription.
    pub event_stream: broadcast::Sender<PublishedEvent>,
    /// The compiled policies, swapped atomically when a file changes.
    pub policies: Arc<PolicyRegistry>,
    /// Policy backtests running at once, at most [`backtests::MAX_CONCURRENT_BACKTESTS`].
    pub backtest_slots: Semaphore,
    /// The webhook client and the state the delivery worker shares with requests.
    pub webhooks: webhooks::WebhookRuntime,
    /// This server's id among every server over the store (`srv_…`, new at each start):
    /// the name of its claims on webhook deliveries and of its event feed.
    pub server_id: String,
    /// Committed events waiting to be appended to this server's event feed.
    pub event_feed: event_feed::EventFeed,
    /// Keys authenticated a moment ago, with their platforms (see `key_cache`).
    pub key_cache: key_cache::KeyCache,
}

/// An event as streamed to subscribers, with the platform it belongs to.
#[derive(Clone, Debug)]
pub struct PublishedEvent {
    pub platform: PlatformId,
    pub event: Event,
}

/// How many events a slow subscriber may fall behind before it is dropped (the default;
/// `Limits::event_stream_capacity` sets it).
pub use crate::config::EVENT_STREAM_CAPACITY;

pub type AppState = Arc<Services>;

/// Who is calling, built once per request: the authenticated platform, the connected
/// account it acts as (its scope; see `scope.rs`), whether the request reads or changes,
/// and whether its credentials may only read (a restricted key): then every mutation is
/// refused before it runs (`graphql/read_only.rs`).
#[derive(Clone, Debug)]
pub struct Caller {
    pub platform: Platform,
    pub connect_account: Option<AccountId>,
    pub access: Access,
    /// The request acts on an account connected with the read_only scope: it may read,
    /// and every mutation is FORBIDDEN.
    pub read_only: bool,
}

impl Caller {
    pub fn platform_key(&self) -> String {
        self.platform.id.to_string()
    }
}

impl Services {
    /// Streams committed events to subscribers; nobody listening is fine.
    pub fn publish(&self, platform: &PlatformId, events: Vec<Event>) {
        if !events.is_empty() {
            // Their outbox entries are durable now; the router fans them out.
            self.webhooks.events_committed.notify_one();
        }
        self.event_feed.push(platform, &events);
        for event in events {
            let _ = self.event_stream.send(PublishedEvent {
                platform: platform.clone(),
                event,
            });
        }
    }
}
