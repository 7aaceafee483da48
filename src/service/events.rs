//! The platform's events, newest first.

use super::{Caller, Page, PageRequest, ServiceError, Services};
use crate::domain::events::{Event, MAX_EVENT_TYPE_CHARS};

impl Services {
    pub fn events(
        &self,
        caller: &Caller,
        event_type: Option<&str>,
        request: &PageRequest,
    ) -> Result<Page<Event>, ServiceError> {
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
        self.page(&caller.platform_key(), &index, request)
    }
}
