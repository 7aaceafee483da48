//! The demo platform for `serve --demo`: made once; `app.rs` seeds it through the API.

use serde::{Deserialize, Serialize};

use super::platforms::{NewPlatform, DEMO_PLATFORM_META};
use super::{Draft, ServiceError, Services};
use crate::store::{to_payload, Key, Keyspace};

/// The demo platform's id and key. The key is kept in plain text only for the demo, so the
/// playground can pre-fill it on every start; real platforms' keys are stored as hashes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoPlatform {
    pub id: String,
    pub secret_key: String,
}

impl Services {
    /// Returns the demo platform, and whether it was made just now (and needs its data).
    pub async fn ensure_demo(&self) -> Result<(DemoPlatform, bool), ServiceError> {
        let meta = Key::new(Keyspace::Meta, DEMO_PLATFORM_META);
        if let Some(bytes) = self.store.get_raw(&meta)? {
            return Ok((crate::store::from_payload(&bytes)?, false));
        }
        let created = self
            .create_platform(NewPlatform {
                name: "Demo Marketplace".into(),
                country: "US".into(),
                default_currency: Some("usd".into()),
                policy: Some("marketplace".into()),
            })
            .await?;
        let demo = DemoPlatform {
            id: created.id,
            secret_key: created.secret_key,
        };
        // The server's own bookkeeping, on no platform's clock: wall time.
        let mut draft = Draft::system(chrono::Utc::now());
        draft.raw(meta, to_payload(&demo)?);
        self.store.commit(draft.commit).await?;
        Ok((demo, true))
    }
}
