//! The demo platform for `serve --demo`: made once, with a little data to explore.

use serde::{Deserialize, Serialize};

use super::platforms::{NewPlatform, DEMO_PLATFORM_META};
use super::topups::NewTopup;
use super::{Draft, ServiceError, Services};
use crate::money::{Currency, MinorUnits, Money};
use crate::store::{to_payload, Key, Keyspace};

/// The demo platform's id and key. The key is kept in plain text only for the demo, so the
/// playground can pre-fill it on every start; real platforms' keys are stored as hashes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoPlatform {
    pub id: String,
    pub secret_key: String,
}

impl Services {
    /// Returns the demo platform, creating and seeding it the first time.
    pub async fn ensure_demo(&self) -> Result<DemoPlatform, ServiceError> {
        let meta = Key::new(Keyspace::Meta, DEMO_PLATFORM_META);
        if let Some(bytes) = self.store.get_raw(&meta)? {
            return Ok(crate::store::from_payload(&bytes)?);
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
        self.seed_demo(&demo).await?;
        let mut draft = Draft::system(self.clock.now());
        draft.raw(meta, to_payload(&demo)?);
        self.store.commit(draft.commit).await?;
        Ok(demo)
    }

    async fn seed_demo(&self, demo: &DemoPlatform) -> Result<(), ServiceError> {
        let platform = self.authenticate(&demo.secret_key)?;
        let caller = self.caller(platform, None)?;
        let usd = Currency::parse("usd").map_err(|error| ServiceError::internal("demo", error))?;
        for amount in [250_000, 120_000] {
            let amount = MinorUnits::positive_amount(amount)
                .map_err(|error| ServiceError::internal("demo", error))?;
            self.create_topup(
                &caller,
                NewTopup {
                    amount: Money::new(amount, usd),
                    description: Some("Demo top-up".into()),
                    idempotency_key: None,
                },
            )
            .await?;
        }
        Ok(())
    }
}
