//! Policies as the platform sees them, and the record of every policy change: each
//! version's source stored by its hash, and `policy.updated` / `policy.load_failed` events
//! for the platforms that use it.

use std::sync::Weak;

use tokio::sync::mpsc;

use super::idempotency::MAX_COMMIT_ATTEMPTS;
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::platforms::Platform;
use crate::policy::{PolicyChange, PolicyStatus, GATEWAY_POLICY_NAME};
use crate::store::{Expect, Key, Keyspace, StoreError, MAX_SCAN_ITEMS};

/// The index of every platform, kept by the server itself.
pub const PLATFORMS_INDEX: &str = "platforms";
/// The version in force of each policy: `policy_in_force:<name>` → a sealed record of it.
const POLICY_IN_FORCE_PREFIX: &str = "policy_in_force:";
/// The same in the earlier layout (the version's bytes), replaced when the policy changes.
const EARLIER_POLICY_VERSION_PREFIX: &str = "policy_version:";

impl Services {
    /// The status of the policy that prices the caller's charges; when it is not loaded,
    /// its `last_error` says why.
    pub fn policy_status(&self, caller: &Caller) -> PolicyStatus {
        self.policies.status_for_platform(&caller.platform.policy)
    }

    /// The source of any policy version that ever priced a charge.
    pub fn policy_source(&self, version: &str) -> Result<Option<String>, ServiceError> {
        if let Some(source) = self.policies.source_by_version(version) {
            return Ok(Some(source.to_string()));
        }
        let stored = self
            .store
            .get_raw(&Key::new(Keyspace::PolicySource, version))?;
        Ok(stored.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Records policy changes as they come from the registry, until the channel closes.
    /// Holds the services weakly, so the task never keeps the server from shutting down.
    pub async fn record_policy_changes(
        services: Weak<Self>,
        mut changes: mpsc::UnboundedReceiver<PolicyChange>,
    ) {
        while let Some(change) = changes.recv().await {
            let Some(services) = services.upgrade() else {
                return;
            };
            if let Err(error) = services.record_policy_change(&change).await {
                tracing::error!(%error, "could not record a policy change");
            }
        }
    }

    async fn record_policy_change(&self, change: &PolicyChange) -> Result<(), ServiceError> {
        let (name, event_type, data, source) = match change {
            PolicyChange::Updated {
                name,
                version,
                source,
            } => (
                name.clone(),
                "policy.updated",
                serde_json::json!({"policy": name, "version": version}),
                Some((version.clone(), source.clone())),
            ),
            PolicyChange::LoadFailed { name, error } => {
                tracing::warn!(policy = %name, %error, "policy failed to load; the last good version stays");
                (
                    name.clone(),
                    "policy.load_failed",
                    serde_json::json!({"policy": name, "error": error.to_string()}),
                    None,
                )
            }
        };
        if let Some((version, source)) = source {
            // A restart that loads the same file again, the very first load, or another
            // server over the store recording the same change first, is not a change worth
            // an event.
            if !self.record_policy_version(&name, &version, &source).await? {
                return Ok(());
            }
        }
        // Every platform that uses the policy hears of it: the server's list of platforms is
        // read a page at a time to its end.
        let mut after: Option<String> = None;
        loop {
            let platforms =
                self.store
                    .scan_index("", PLATFORMS_INDEX, after.as_deref(), MAX_SCAN_ITEMS)?;
            let Some(last) = platforms.last().cloned() else {
                break;
            };
            for platform_id in platforms {
                self.record_policy_event(&platform_id, &name, event_type, &data)
                    .await?;
            }
            after = Some(last);
        }
        Ok(())
    }

    /// Records `version` as the one in force for policy `name`, with its source; whether it
    /// replaced another version. The record is expected as it was read, so when several
    /// servers load the same change, one records it and the others find it recorded.
    async fn record_policy_version(
        &self,
        name: &str,
        version: &str,
        source: &str,
    ) -> Result<bool, ServiceError> {
        let key = Key::new(Keyspace::Meta, &format!("{POLICY_IN_FORCE_PREFIX}{name}"));
        let earlier = Key::new(
            Keyspace::Meta,
            &format!("{EARLIER_POLICY_VERSION_PREFIX}{name}"),
        );
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let (previous, expect) = match self.store.get_sealed::<String>(&key)? {
                Some(found) => (Some(found.value), Expect::Revision(found.revision)),
                None => (
                    self.store
                        .get_raw(&earlier)?
                        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
                    Expect::Absent,
                ),
            };
            if previous.as_deref() == Some(version) {
                return Ok(false);
            }
            // The server's own bookkeeping, on no platform's clock: wall time.
            let mut draft = Draft::system(chrono::Utc::now());
            draft.raw(
                Key::new(Keyspace::PolicySource, version),
                source.as_bytes().to_vec(),
            );
            draft.record(key.clone(), &version, expect)?;
            draft.delete(earlier.clone());
            match self.store.commit(draft.commit).await {
                Ok(_) => return Ok(previous.is_some()),
                Err(StoreError::RevisionConflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(ServiceError::internal(
            "policy version",
            "the version in force kept changing",
        ))
    }

    /// Writes one policy event for a platform when the changed policy is the one it uses.
    async fn record_policy_event(
        &self,
        platform_id: &str,
        name: &str,
        event_type: &str,
        data: &serde_json::Value,
    ) -> Result<(), ServiceError> {
        let Some(found) = self
            .store
            .get_object::<Platform>(platform_id, platform_id)?
        else {
            return Ok(());
        };
        let platform = found.value;
        let affected = name == GATEWAY_POLICY_NAME || platform.policy == name;
        if !affected {
            return Ok(());
        }
        let mut draft = Draft::new(&platform.id, self.clock.now(&platform.id));
        draft.event(&self.ids, event_type, None, data)?;
        let published = std::mem::take(&mut draft.published);
        self.store.commit(draft.commit).await?;
        self.publish(&platform.id, published);
        Ok(())
    }
}
