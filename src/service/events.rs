//! The platform's events, newest first; a request acting as a connected account lists
//! only the events about that account.

use super::{Caller, Page, PageRequest, ServiceError, Services};
use crate::domain::events::{Event, MAX_EVENT_TYPE_CHARS};
use crate::ids::AccountId;

impl Services {
    pub fn events(
        &self,
        caller: &Caller,
        event_type: Option<&str>,
        request: &PageRequest,
    ) -> Result<Page<Event>, ServiceError> {
        if let Some(account) = caller.scope_account() {
            let index = account_events_index(account);
            return self.page_where(caller, &index, request, |event: &Event| {
                event_type.is_none_or(|wanted| event.event_type == wanted)
            });
        }
        let index = match event_type {
            None => "events".to_owned(),
            Some(event_type) => {
                let valid = !event_type.is_empty()
                    && event_type.len() <= MAX_EVENT_TYPE_CHARS
                    && event_type
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
                if !valid {
                    return Err(ServiceError::invalid(
                        "type",
                        "type must be an event type such as charge.succeeded",
                    ));
                }
                format!("events_type:{event_type}")
            }
        };
        self.page(caller, &index, request)
    }
}

/// The index of the events about one connected account, which a request acting as the
/// account lists.
pub fn account_events_index(account: &AccountId) -> String {
    format!("events_acct:{account}")
}
