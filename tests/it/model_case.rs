//! The running case of the model-based test: the real application beside the model, the
//! ids handed out, onboarding, what the gateway did on its own (automatic payouts,
//! capabilities), and the invariants checked after every step.

use std::collections::{BTreeMap, HashSet};

use proptest::sample::Index;
use serde_json::{json, Value};

use tollgate::ledger::Holder;

use crate::model_app::{error_code, ModelApp};
use crate::model_ops::{pick, AccountKind};
use crate::model_reference::{Account, HolderRef, Model, Outcome, Slot};

/// The running case: the real application, the model, and every id handed out so far.
pub(crate) struct Case {
    pub(crate) app: ModelApp,
    pub(crate) model: Model,
    pub(crate) seen_ids: HashSet<String>,
    pub(crate) steps: u64,
    /// How each kind of request ended: accepted, or the error code.
    pub(crate) outcomes: BTreeMap<String, u64>,
}

pub(crate) type Step = Result<(), String>;

pub(crate) fn fail(message: String) -> Step {
    Err(message)
}

impl Case {
    pub(crate) fn key(&self, holder: HolderRef, slot: Slot) -> String {
        let holder = match holder {
            HolderRef::Platform => self.app.platform_id.clone(),
            HolderRef::Account(index) => self.model.accounts[index].id.clone(),
            HolderRef::Gateway => "gateway".to_owned(),
            HolderRef::CardNetwork => "card_network".to_owned(),
            HolderRef::Bank => "bank".to_owned(),
        };
        let bucket = match slot {
            Slot::Available => "available",
            Slot::Pending => "pending",
        };
        format!("{holder}/usd/{bucket}")
    }

    pub(crate) fn new_id(&mut self, id: &Value) -> Result<String, String> {
        let id = id
            .as_str()
            .ok_or_else(|| format!("no id in the answer: {id}"))?
            .to_owned();
        if !self.seen_ids.insert(id.clone()) {
            return Err(format!("the id {id} was handed out twice"));
        }
        Ok(id)
    }

    /// Compares the real answer with the model's expectation; the data on success.
    pub(crate) fn compare<T>(
        &mut self,
        what: &str,
        expected: &Outcome<T>,
        body: &Value,
    ) -> Result<Value, String> {
        let actual = error_code(body);
        let outcome = actual.clone().unwrap_or_else(|| "accepted".to_owned());
        *self
            .outcomes
            .entry(format!("{what} {outcome}"))
            .or_default() += 1;
        match (expected, actual) {
            (Ok(_), None) => Ok(body["data"].clone()),
            (Err(code), Some(actual)) if *code == actual => Ok(Value::Null),
            (Ok(_), Some(actual)) => Err(format!(
                "{what}: the model accepts it, the gateway refused it with {actual}: {body}"
            )),
            (Err(code), None) => Err(format!(
                "{what}: the model refuses it with {code}, the gateway accepted it: {body}"
            )),
            (Err(code), Some(actual)) => Err(format!(
                "{what}: the model refuses it with {code}, the gateway with {actual}: {body}"
            )),
        }
    }

    /// A charge the request makes sense for when there is one, else any charge: most
    /// requests then exercise the money, and the refusals still come up.
    pub(crate) fn pick_charge(
        &self,
        index: &Index,
        suits: impl Fn(&crate::model_reference::Charge) -> bool,
    ) -> Option<usize> {
        let suitable: Vec<usize> = (0..self.model.charges.len())
            .filter(|charge| suits(&self.model.charges[*charge]))
            .collect();
        match pick(&suitable, index) {
            Some(position) => Some(suitable[position]),
            None => pick(&self.model.charges, index),
        }
    }

    /// An account with money available when there is one, else any account.
    pub(crate) fn pick_funded_account(&self, index: &Index) -> Option<usize> {
        let funded: Vec<usize> = (0..self.model.accounts.len())
            .filter(|account| self.model.available(HolderRef::Account(*account)) > 0)
            .collect();
        match pick(&funded, index) {
            Some(position) => Some(funded[position]),
            None => pick(&self.model.accounts, index),
        }
    }

    pub(crate) async fn onboard(&mut self, kind: AccountKind) -> Step {
        let account_type = match kind {
            AccountKind::Custom { .. } => "CUSTOM",
            AccountKind::Express { .. } => "EXPRESS",
            AccountKind::Standard => "STANDARD",
        };
        let body = self
            .app
            .graphql(
                "mutation($t: AccountType!) { createAccount(input: {type: $t, country: \"US\", businessType: INDIVIDUAL, email: \"seller@example.com\"}) { id } }",
                json!({"t": account_type}),
            )
            .await;
        let id = self.new_id(&body["data"]["createAccount"]["id"])?;
        let body = self
            .app
            .graphql(
                crate::charges_support::SUBMIT_DETAILS,
                json!({"account": id}),
            )
            .await;
        if error_code(&body).is_some() {
            return fail(format!("onboarding {id}: {body}"));
        }
        let mut card = None;
        let mut bank_fails = false;
        if let AccountKind::Custom {
            bank_fails: fails,
            debit_card,
        } = kind
        {
            bank_fails = fails;
            let number = if fails {
                "000111111116"
            } else {
                "000123456789"
            };
            let body = self
                .app
                .graphql(
                    "mutation($a: ID!, $n: String!) { addBankAccount(input: {account: $a, country: \"US\", currency: \"usd\", routingNumber: \"110000000\", accountNumber: $n}) { id } }",
                    json!({"a": id, "n": number}),
                )
                .await;
            self.new_id(&body["data"]["addBankAccount"]["id"])?;
            if debit_card {
                let body = self
                    .app
                    .graphql(
                        "mutation($a: ID!) { addDebitCard(input: {account: $a, token: \"tok_visa_debit\", defaultForCurrency: false}) { id } }",
                        json!({"a": id}),
                    )
                    .await;
                card = Some(self.new_id(&body["data"]["addDebitCard"]["id"])?);
            }
        }
        if let AccountKind::Express { bank_fails: fails } = kind {
            bank_fails = fails;
            self.add_bank_as_holder(&id, fails).await?;
        }
        self.model.add_account(Account {
            id,
            platform_managed: !matches!(kind, AccountKind::Standard),
            card_payments: false,
            transfers: false,
            payouts_enabled: false,
            bank_fails,
            bank_errored: false,
            card,
        });
        self.read_capabilities().await
    }

    /// The holder of an Express account adds its bank account through an onboarding link.
    async fn add_bank_as_holder(&mut self, account: &str, fails: bool) -> Step {
        let body = self
            .app
            .graphql(
                "mutation($a: ID!) { createAccountLink(input: {account: $a, refreshUrl: \"https://example.com/r\", returnUrl: \"https://example.com/d\"}) { url } }",
                json!({"a": account}),
            )
            .await;
        let url = body["data"]["createAccountLink"]["url"]
            .as_str()
            .ok_or_else(|| format!("account link: {body}"))?;
        let mut parts = url.rsplit('/');
        let (Some(link), Some(platform)) = (parts.next(), parts.next()) else {
            return fail(format!(
                "an account link without its platform and id: {url}"
            ));
        };
        let submission = tollgate::service::account_links::HostedSubmission {
            details: Default::default(),
            account_number: Some(
                if fails {
                    "000111111116"
                } else {
                    "000123456789"
                }
                .to_owned(),
            ),
            routing_number: Some("110000000".to_owned()),
        };
        let page = self
            .app
            .services()
            .submit_hosted_onboarding(platform, link, submission)
            .await
            .map_err(|error| format!("hosted onboarding: {error}"))?;
        match page {
            tollgate::service::account_links::HostedPage::Redirect(_) => Ok(()),
            _ => fail(format!("hosted onboarding of {account} did not complete")),
        }
    }

    /// What each account may do, as the gateway says: onboarding requirements and their
    /// deadlines decide it, not the money, so the model reads it rather than predicting it.
    pub(crate) async fn read_capabilities(&mut self) -> Step {
        for index in 0..self.model.accounts.len() {
            let body = self
                .app
                .graphql(
                    "query($id: ID!) { account(id: $id) { payoutsEnabled capabilities { name status } } }",
                    json!({"id": self.model.accounts[index].id}),
                )
                .await;
            let account = &body["data"]["account"];
            if account.is_null() {
                return fail(format!("reading an account: {body}"));
            }
            let active = |name: &str| {
                account["capabilities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|capability| {
                        capability["name"] == name && capability["status"] == "ACTIVE"
                    })
            };
            let model = &mut self.model.accounts[index];
            model.card_payments = active("CARD_PAYMENTS");
            model.transfers = active("TRANSFERS");
            model.payouts_enabled = account["payoutsEnabled"] == true;
        }
        Ok(())
    }

    /// The payouts the daily payout run made during an advance, played into the model in
    /// the order they were made.
    pub(crate) async fn automatic_payouts(&mut self) -> Step {
        let body = self
            .app
            .graphql(
                "{ payouts(first: 100) { nodes { id automatic created amount { amount } account { id } } } }",
                json!({}),
            )
            .await;
        let nodes = body["data"]["payouts"]["nodes"]
            .as_array()
            .ok_or_else(|| format!("listing payouts: {body}"))?;
        let known: HashSet<&str> = self
            .model
            .payouts
            .iter()
            .map(|payout| payout.id.as_str())
            .collect();
        let mut made = Vec::new();
        for node in nodes {
            let id = node["id"].as_str().unwrap_or_default();
            if known.contains(id) {
                continue;
            }
            if node["automatic"] != true {
                return fail(format!("a payout nobody asked for: {node}"));
            }
            let created = node["created"]
                .as_str()
                .and_then(|created| chrono::DateTime::parse_from_rfc3339(created).ok())
                .ok_or_else(|| format!("payout time: {node}"))?
                .timestamp_micros();
            let account = node["account"]["id"].as_str().unwrap_or_default();
            let account = self
                .model
                .accounts
                .iter()
                .position(|known| known.id == account)
                .ok_or_else(|| format!("an automatic payout of an unknown account: {node}"))?;
            let amount = node["amount"]["amount"].as_i64().unwrap_or(0);
            made.push((created, id.to_owned(), account, amount));
        }
        made.sort();
        for (created, id, account, amount) in made {
            let payout = self.model.automatic_payout(created, account, amount)?;
            self.model.payouts[payout].id = self.new_id(&json!(id))?;
            *self
                .outcomes
                .entry("automatic payout".to_owned())
                .or_default() += 1;
        }
        Ok(())
    }

    pub(crate) fn stored_available(&self, holder: HolderRef) -> i64 {
        let key = self.key(holder, Slot::Available);
        self.app
            .stored_balances()
            .into_iter()
            .find(|(stored, ..)| *stored == key)
            .map_or(0, |(_, _, _, amount)| amount)
    }

    /// The invariants, after every step.
    pub(crate) async fn check(&self) -> Step {
        let mut problems = Vec::new();
        let stored = self.check_ledger(&mut problems)?;
        self.check_model(stored, &mut problems).await;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Every entry sums to zero with ids used once, every stored balance equals its
    /// postings, and each currency sums to zero. Returns the stored balances.
    fn check_ledger(&self, problems: &mut Vec<String>) -> Result<BTreeMap<String, i64>, String> {
        let services = self.app.services();
        let mut computed: BTreeMap<String, i64> = BTreeMap::new();
        let mut entry_ids = HashSet::new();
        let mut transaction_ids = HashSet::new();
        services
            .store
            .for_each_entry(None, |entry| {
                if !entry_ids.insert(entry.id.to_string()) {
                    problems.push(format!("entry id {} reused", entry.id));
                }
                let mut sums: BTreeMap<String, i64> = BTreeMap::new();
                for line in &entry.lines {
                    if !transaction_ids.insert(line.balance_transaction.to_string()) {
                        problems.push(format!(
                            "balance transaction id {} reused",
                            line.balance_transaction
                        ));
                    }
                }
                for posting in entry.postings() {
                    *sums
                        .entry(posting.account.currency.code().to_owned())
                        .or_default() += posting.amount.get();
                    *computed.entry(posting.account.key()).or_default() += posting.amount.get();
                }
                for (currency, sum) in sums {
                    if sum != 0 {
                        problems.push(format!("entry {} sums to {sum} {currency}", entry.id));
                    }
                }
            })
            .map_err(|error| format!("reading entries: {error}"))?;
        let stored = self.app.stored_balances();
        let mut currency_sums: BTreeMap<String, i64> = BTreeMap::new();
        let mut stored_by_key = BTreeMap::new();
        for (key, holder, _, amount) in &stored {
            let currency = key.split('/').nth(1).unwrap_or_default().to_owned();
            *currency_sums.entry(currency).or_default() += amount;
            if computed.get(key).copied().unwrap_or(0) != *amount {
                problems.push(format!(
                    "balance {key} is {amount} but its postings sum to {}",
                    computed.get(key).copied().unwrap_or(0)
                ));
            }
            if !matches!(
                holder,
                Holder::Platform(_)
                    | Holder::Account(_)
                    | Holder::Gateway
                    | Holder::CardNetwork
                    | Holder::Bank
            ) {
                problems.push(format!("unknown holder in {key}"));
            }
            stored_by_key.insert(key.clone(), *amount);
        }
        for (key, sum) in &computed {
            if *sum != 0 && !stored_by_key.contains_key(key) {
                problems.push(format!(
                    "postings to {key} sum to {sum} but no balance is stored"
                ));
            }
        }
        for (currency, sum) in currency_sums {
            if sum != 0 {
                problems.push(format!("{currency} balances sum to {sum}, not zero"));
            }
        }
        Ok(stored_by_key)
    }

    /// Every balance, and the platform's balance as the API shows it, equals the model's.
    async fn check_model(&self, stored_by_key: BTreeMap<String, i64>, problems: &mut Vec<String>) {
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for ((holder, slot), amount) in &self.model.balances {
            if *amount != 0 {
                expected.insert(self.key(*holder, *slot), *amount);
            }
        }
        let actual: BTreeMap<String, i64> = stored_by_key
            .into_iter()
            .filter(|(_, amount)| *amount != 0)
            .collect();
        if expected != actual {
            let keys: std::collections::BTreeSet<&String> =
                expected.keys().chain(actual.keys()).collect();
            for key in keys {
                let (model, real) = (expected.get(key), actual.get(key));
                if model != real {
                    problems.push(format!(
                        "{key}: the model has {model:?}, the ledger {real:?}"
                    ));
                }
            }
        }
        let platform = self.app.platform_balance().await;
        let model_platform = (
            self.model.available(HolderRef::Platform),
            self.model.balance(HolderRef::Platform, Slot::Pending),
            self.model.reserved(),
        );
        if platform != model_platform {
            problems.push(format!(
                "the platform's balance (available, pending, reserved) is {platform:?}, the model's {model_platform:?}"
            ));
        }
    }
}
