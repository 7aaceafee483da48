//! Secrets every server over one store must share, such as the key the hosted pages' CSRF
//! tokens are made with (a form rendered by one server is posted to another): made once, by
//! whichever server asks first, in a commit that expects the key absent; every other server
//! reads the one that landed.

use rand::RngCore;

use super::{Draft, ServiceError, Services};
use crate::store::{Expect, Key, Keyspace, StoreError};

/// The key of the hosted pages' CSRF secret.
pub const HOSTED_PAGES_SECRET: &str = "secret:hosted_pages_csrf";
/// Random bytes in a shared secret.
pub const SHARED_SECRET_BYTES: usize = 32;

impl Services {
    /// The shared secret `name`, made now when no server has made it yet.
    pub async fn shared_secret(
        &self,
        name: &str,
    ) -> Result<[u8; SHARED_SECRET_BYTES], ServiceError> {
        let key = Key::new(Keyspace::Meta, name);
        // Twice at most: when another server made it between the read and the commit, the
        // second read finds it.
        for _ in 0..2 {
            if let Some(found) = self.store.get_sealed::<String>(&key)? {
                let mut secret = [0u8; SHARED_SECRET_BYTES];
                return hex::decode_to_slice(&found.value, &mut secret)
                    .map(|()| secret)
                    .map_err(|error| ServiceError::internal("shared secret", error));
            }
            let mut secret = [0u8; SHARED_SECRET_BYTES];
            rand::thread_rng().fill_bytes(&mut secret);
            // The server's own bookkeeping, on no platform's clock: wall time.
            let mut draft = Draft::system(chrono::Utc::now());
            draft.record(key.clone(), &hex::encode(secret), Expect::Absent)?;
            match self.store.commit(draft.commit).await {
                Ok(_) => return Ok(secret),
                Err(StoreError::RevisionConflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(ServiceError::internal(
            "shared secret",
            "made by another server but not found",
        ))
    }
}
