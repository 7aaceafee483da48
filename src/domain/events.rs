//! An event (`evt_…`): a record of a change, written in the same commit as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, EventId};

/// The longest event type name accepted in filters.
pub const MAX_EVENT_TYPE_CHARS: usize = 64;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub event_type: String,
    pub account: Option<AccountId>,
    /// The object as it was when the event happened.
    pub data: serde_json::Value,
    pub created: DateTime<Utc>,
}
