//! Top-ups: money from the platform's bank into its pending balance, available per the clock.

use serde::Serialize;

use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::config::DEFAULT_AVAILABILITY_DELAY_DAYS;
use crate::domain::topups::{Topup, TopupStatus};
use crate::ids::TopupId;
use crate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, Holder, LineSpec};
use crate::money::Money;

/// A parsed `createTopup` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewTopup {
    pub amount: Money,
    pub description: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<IdempotencyKey>,
}

impl Services {
    pub async fn create_topup(
        &self,
        caller: &Caller,
        input: NewTopup,
    ) -> Result<Topup, ServiceError> {
        if caller.connect_account.is_some() {
            return Err(ServiceError::invalid(
                "Connect-Account",
                "Top-ups fund the platform's own balance; send the request without Connect-Account",
            ));
        }
        let id = idempotency::run(
            self,
            caller,
            "createTopup",
            input.idempotency_key.as_ref(),
            &input,
            || self.prepare_topup(caller, &input),
        )
        .await?;
        self.find::<Topup>(caller, &id)?
            .map(|versioned| versioned.value)
            .ok_or_else(|| ServiceError::internal("topup", format!("{id} missing after commit")))
    }

    fn prepare_topup(&self, caller: &Caller, input: &NewTopup) -> Result<Prepared, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let id: TopupId = self.ids.next();
        let platform = Holder::Platform(caller.platform.id.clone());
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::Topup,
            id.as_ref(),
            now,
        );
        let available_on = now + chrono::Duration::days(DEFAULT_AVAILABILITY_DELAY_DAYS);
        let balance_transaction = entry
            .line(LineSpec {
                holder: platform,
                transaction_type: BalanceTransactionType::Topup,
                source_id: id.to_string(),
                currency: input.amount.currency,
                amount: input.amount.amount,
                fee_details: Vec::new(),
                available_on: Some(available_on),
                description: input.description.clone(),
            })
            .map_err(|error| ServiceError::internal("topup entry", error))?;
        entry.system(Holder::Bank, input.amount.currency, -input.amount.amount);
        let entry = entry
            .build()
            .map_err(|error| ServiceError::internal("topup entry", error))?;
        let topup = Topup {
            id: id.clone(),
            amount: input.amount,
            status: TopupStatus::Pending,
            description: input.description.clone(),
            balance_transaction,
            created: now,
        };
        let mut draft = Draft::new(&caller.platform.id, now);
        draft.insert(id.as_ref(), &topup, &[])?;
        draft.entry(entry)?;
        draft.event(&self.ids, "topup.created", None, &topup)?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }
}
