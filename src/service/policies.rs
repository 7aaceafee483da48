//! Policies as the platform sees them, and the record of every policy change: each
//! version's source stored by its hash, and `policy.updated` / `policy.load_failed` events
//! for the platforms that use it.

use std::sync::Weak;

use tokio::sync::mpsc;

use super::{Caller, Draft, ServiceError, Services};
use crate::domain::platforms::Platform;
use crate::policy::{PolicyChange, PolicyStatus, DEFAULT_POLICY_NAME, GATEWAY_POLICY_NAME};
use crate::store::{Key, Keyspace, MAX_SCAN_ITEMS};

/// The index of every platform, kept by the server itself.
pub const PLATFORMS_INDEX: &str = "platforms";

impl Services {
    /// The status of the policy that prices the caller's charges.
    pub fn policy_status(&self, caller: &Caller) -> Option<PolicyStatus> {
        let name = if self.policies.contains(&caller.platform.policy) {
            caller.platform.policy.as_str()
        } else {
            DEFAULT_POLICY_NAME
        };
        self.policies.status_of(name)
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
            // The version in force is kept per policy: a restart that loads the same file
            // again, or the very first load, is not a change worth an event.
            let current = Key::new(Keyspace::Meta, &format!("policy_version:{name}"));
            let previous = self.store.get_raw(&current)?;
            // The server's own bookkeeping, on no platform's clock: wall time.
            let mut draft = Draft::system(chrono::Utc::now());
            draft.raw(
                Key::new(Keyspace::PolicySource, &version),
                source.as_bytes().to_vec(),
            );
            draft.raw(current, version.as_bytes().to_vec());
            self.store.commit(draft.commit).await?;
            match previous {
                Some(previous) if previous != version.as_bytes() => {}
                _ => return Ok(()),
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
        let affected = name == GATEWAY_POLICY_NAME
            || platform.policy == name
            || (name == DEFAULT_POLICY_NAME && !self.policies.contains(&platform.policy));
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
