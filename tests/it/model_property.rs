//! The model-based property test: random sequences of account onboarding, charges of each
//! flow, captures, refunds, transfers, reversals, disputes, payouts, debits, clock advances
//! and restarts, run against the real services, writer and store beside the reference model.
//!
//! After every step: every entry sums to zero, every stored balance equals its postings,
//! each currency sums to zero, every balance equals the model's, no payout took more than
//! was available, and no id was handed out twice. A failing sequence shrinks to a minimal
//! one. `PROPTEST_CASES` sets how many sequences run (2,000 by default).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use tollgate::ledger::Holder;

use crate::model_app::{error_code, scratch_dir, ModelApp};
use crate::model_reference::{
    Account, Card, Flow, HolderRef, Model, Outcome, PolicyParams, Slot, DAY_MICROS,
};

/// Sequences run by default; `PROPTEST_CASES` overrides it.
const DEFAULT_CASES: u32 = 2000;
/// Steps per sequence: short, so thousands of sequences fit in a couple of minutes.
const MAX_STEPS: usize = 14;
const HOUR_MICROS: i64 = 3_600_000_000;

#[derive(Clone, Copy, Debug)]
enum AccountKind {
    Custom {
        bank_fails: bool,
        debit_card: bool,
    },
    /// The holder adds the bank account on the hosted onboarding page.
    Express {
        bank_fails: bool,
    },
    Standard,
}

#[derive(Clone, Debug)]
enum Op {
    CreateAccount(AccountKind),
    Topup {
        amount: i64,
    },
    Charge {
        flow: Flow,
        account: Index,
        amount: i64,
        fee_percent: Option<u8>,
        transfer_percent: Option<u8>,
        route: Option<Index>,
        capture: bool,
        card: Card,
    },
    Capture {
        charge: Index,
        percent: Option<u8>,
        fee_percent: Option<u8>,
    },
    Refund {
        charge: Index,
        percent: Option<u8>,
        refund_fee: bool,
        reverse: bool,
        /// As the connected account of a direct charge (Connect-Account).
        as_account: bool,
    },
    RefundFee {
        fee: Index,
        percent: Option<u8>,
    },
    Transfer {
        account: Index,
        percent: u8,
        source: Option<Index>,
    },
    Reverse {
        transfer: Index,
        percent: Option<u8>,
        refund_fee: bool,
    },
    Evidence {
        dispute: Index,
    },
    CloseDispute {
        dispute: Index,
        won: bool,
    },
    Payout {
        account: Option<Index>,
        percent: u8,
        instant: bool,
    },
    CancelPayout {
        payout: Index,
    },
    Debit {
        account: Index,
        percent: u8,
    },
    Advance {
        hours: i64,
    },
    Restart,
}

fn account_kind() -> impl Strategy<Value = AccountKind> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>()).prop_map(|(fails, debit_card)| AccountKind::Custom {
            // One bank account in four is a failing test number.
            bank_fails: fails && debit_card,
            debit_card,
        }),
        1 => any::<bool>().prop_map(|fails| AccountKind::Express { bank_fails: fails }),
        1 => Just(AccountKind::Standard),
    ]
}

fn policy_params() -> impl Strategy<Value = PolicyParams> {
    (
        0i64..=15,
        0i64..=100,
        0i64..=3,
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
        1i64..=100,
        0i64..=200,
        prop::option::weighted(0.5, 0i64..=3),
    )
        .prop_map(
            |(
                fee_percent,
                fee_fixed,
                hold_days,
                platform_pays,
                route_percent,
                instant_fee,
                daily_payout_delay_days,
            )| {
                PolicyParams {
                    fee_percent,
                    fee_fixed,
                    hold_days,
                    platform_pays,
                    route_percent,
                    instant_fee,
                    daily_payout_delay_days,
                }
            },
        )
}

fn percent() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 1u8..=100, 1 => 101u8..=120]
}

fn charge_op() -> impl Strategy<Value = Op> {
    (
        prop_oneof![
            Just(Flow::Direct),
            Just(Flow::Destination),
            Just(Flow::Separate)
        ],
        any::<Index>(),
        prop_oneof![1 => 1i64..=200, 4 => 200i64..=50_000],
        prop::option::weighted(0.4, 0u8..=100),
        prop::option::weighted(0.2, 1u8..=100),
        prop::option::weighted(0.4, any::<Index>()),
        prop::bool::weighted(0.8),
        prop_oneof![
            3 => Just(Card::Visa),
            5 => Just(Card::AvailableAtOnce),
            2 => Just(Card::Disputes),
            1 => Just(Card::Declined),
        ],
    )
        .prop_map(
            |(flow, account, amount, fee_percent, transfer_percent, route, capture, card)| {
                Op::Charge {
                    flow,
                    account,
                    amount,
                    fee_percent,
                    transfer_percent,
                    route,
                    capture,
                    card,
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => account_kind().prop_map(Op::CreateAccount),
        2 => (1i64..=100_000).prop_map(|amount| Op::Topup { amount }),
        8 => charge_op(),
        2 => (any::<Index>(), prop::option::weighted(0.5, percent()), prop::option::weighted(0.3, 0u8..=100))
            .prop_map(|(charge, percent, fee_percent)| Op::Capture { charge, percent, fee_percent }),
        4 => (any::<Index>(), prop::option::weighted(0.6, percent()), any::<bool>(), any::<bool>(), prop::bool::weighted(0.3))
            .prop_map(|(charge, percent, refund_fee, reverse, as_account)| Op::Refund { charge, percent, refund_fee, reverse, as_account }),
        1 => (any::<Index>(), prop::option::weighted(0.6, percent()))
            .prop_map(|(fee, percent)| Op::RefundFee { fee, percent }),
        3 => (any::<Index>(), percent(), prop::option::weighted(0.6, any::<Index>()))
            .prop_map(|(account, percent, source)| Op::Transfer { account, percent, source }),
        2 => (any::<Index>(), prop::option::weighted(0.6, percent()), any::<bool>())
            .prop_map(|(transfer, percent, refund_fee)| Op::Reverse { transfer, percent, refund_fee }),
        1 => any::<Index>().prop_map(|dispute| Op::Evidence { dispute }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(dispute, won)| Op::CloseDispute { dispute, won }),
        3 => (prop::option::weighted(0.7, any::<Index>()), percent(), prop::bool::weighted(0.3))
            .prop_map(|(account, percent, instant)| Op::Payout { account, percent, instant }),
        1 => any::<Index>().prop_map(|payout| Op::CancelPayout { payout }),
        2 => (any::<Index>(), percent()).prop_map(|(account, percent)| Op::Debit { account, percent }),
        6 => prop_oneof![Just(1i64), Just(12), Just(24), Just(48), Just(72), Just(24 * 8)]
            .prop_map(|hours| Op::Advance { hours }),
        1 => Just(Op::Restart),
    ]
}

#[derive(Clone, Debug)]
struct Sequence {
    policy: PolicyParams,
    accounts: Vec<AccountKind>,
    ops: Vec<Op>,
}

fn sequence() -> impl Strategy<Value = Sequence> {
    (
        policy_params(),
        prop::collection::vec(account_kind(), 1..=3),
        prop::collection::vec(op(), 1..=MAX_STEPS),
    )
        .prop_map(|(policy, accounts, ops)| Sequence {
            policy,
            accounts,
            ops,
        })
}

/// `part` percent of `base`, at least 1.
fn share(base: i64, percent: u8) -> i64 {
    (base.max(0) * i64::from(percent) / 100).max(1)
}

fn pick<T>(items: &[T], index: &Index) -> Option<usize> {
    (!items.is_empty()).then(|| index.index(items.len()))
}

fn micros_to_rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .expect("time")
        .to_rfc3339()
}

/// The running case: the real application, the model, and every id handed out so far.
struct Case {
    app: ModelApp,
    model: Model,
    seen_ids: HashSet<String>,
    steps: u64,
    /// How each kind of request ended: accepted, or the error code.
    outcomes: BTreeMap<String, u64>,
}

type Step = Result<(), String>;

fn fail(message: String) -> Step {
    Err(message)
}

impl Case {
    fn key(&self, holder: HolderRef, slot: Slot) -> String {
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

    fn new_id(&mut self, id: &Value) -> Result<String, String> {
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
    fn compare<T>(
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
    fn pick_charge(
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
    fn pick_funded_account(&self, index: &Index) -> Option<usize> {
        let funded: Vec<usize> = (0..self.model.accounts.len())
            .filter(|account| self.model.available(HolderRef::Account(*account)) > 0)
            .collect();
        match pick(&funded, index) {
            Some(position) => Some(funded[position]),
            None => pick(&self.model.accounts, index),
        }
    }

    async fn onboard(&mut self, kind: AccountKind) -> Step {
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
    async fn read_capabilities(&mut self) -> Step {
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

    async fn run(&mut self, op: &Op) -> Step {
        self.steps += 1;
        match op {
            Op::CreateAccount(kind) => self.onboard(*kind).await,
            Op::Topup { amount } => {
                let body = self
                    .app
                    .graphql(
                        "mutation($a: MinorUnits!) { createTopup(input: {amount: $a, currency: \"usd\"}) { id } }",
                        json!({"a": amount}),
                    )
                    .await;
                self.compare("createTopup", &Ok(()), &body)?;
                self.new_id(&body["data"]["createTopup"]["id"])?;
                self.model.topup(*amount);
                Ok(())
            }
            Op::Charge { .. } => self.charge(op).await,
            Op::Capture {
                charge,
                percent,
                fee_percent,
            } => {
                let Some(index) = self.pick_charge(charge, |charge| {
                    !charge.captured && charge.authorized_until.is_some()
                }) else {
                    return Ok(());
                };
                let found = self.model.charges[index].clone();
                let amount = percent.map(|percent| share(found.amount, percent));
                let fee = fee_percent
                    .filter(|_| found.flow != Flow::Separate)
                    .map(|percent| share(amount.unwrap_or(found.amount), percent) - 1);
                let expected = self.model.capture(index, amount, fee);
                let body = self
                    .app
                    .graphql(
                        &format!("mutation($c: ID!, $a: MinorUnits, $f: MinorUnits) {{ captureCharge(input: {{charge: $c, amount: $a, applicationFeeAmount: $f}}) {{ {CHARGE_FIELDS} }} }}"),
                        json!({"c": found.id, "a": amount, "f": fee}),
                    )
                    .await;
                let data = self.compare("captureCharge", &expected, &body)?;
                if let Ok(made) = &expected {
                    self.name_charge_parts(made, &data["captureCharge"])?;
                }
                Ok(())
            }
            Op::Refund {
                charge,
                percent,
                refund_fee,
                reverse,
                as_account,
            } => {
                let Some(index) = self.pick_charge(charge, |charge| {
                    charge.captured
                        && !charge.disputed
                        && charge.amount_refunded < charge.amount_captured
                }) else {
                    return Ok(());
                };
                let found = self.model.charges[index].clone();
                let left = found.amount_captured - found.amount_refunded;
                let amount = percent.map(|percent| share(left, percent));
                let connect_account = found
                    .account
                    .filter(|_| *as_account && found.flow == Flow::Direct)
                    .map(|account| self.model.accounts[account].id.clone());
                let expected = self.model.refund(
                    index,
                    amount,
                    *refund_fee,
                    *reverse,
                    connect_account.is_some(),
                );
                let body = self
                    .app
                    .graphql_as(
                        connect_account.as_deref(),
                        "mutation($c: ID!, $a: MinorUnits, $f: Boolean, $r: Boolean) { createRefund(input: {charge: $c, amount: $a, refundApplicationFee: $f, reverseTransfer: $r}) { id } }",
                        json!({"c": found.id, "a": amount, "f": refund_fee, "r": reverse}),
                    )
                    .await;
                let data = self.compare("createRefund", &expected, &body)?;
                if expected.is_ok() {
                    self.new_id(&data["createRefund"]["id"])?;
                }
                Ok(())
            }
            Op::RefundFee { fee, percent } => {
                let Some(index) = pick(&self.model.fees, fee) else {
                    return Ok(());
                };
                let found = self.model.fees[index].clone();
                let amount = percent.map(|percent| share(found.amount - found.refunded, percent));
                let expected = self.model.refund_fee(index, amount);
                let body = self
                    .app
                    .graphql(
                        "mutation($f: ID!, $a: MinorUnits) { refundApplicationFee(input: {fee: $f, amount: $a}) { id } }",
                        json!({"f": found.id, "a": amount}),
                    )
                    .await;
                let data = self.compare("refundApplicationFee", &expected, &body)?;
                if expected.is_ok() {
                    self.new_id(&data["refundApplicationFee"]["id"])?;
                }
                Ok(())
            }
            Op::Transfer {
                account,
                percent,
                source,
            } => {
                let Some(destination) = pick(&self.model.accounts, account) else {
                    return Ok(());
                };
                let source = source
                    .as_ref()
                    .and_then(|source| pick(&self.model.charges, source));
                let base = match source {
                    Some(charge) => {
                        let charge = &self.model.charges[charge];
                        charge.amount_captured - charge.amount_transferred
                    }
                    None => self.model.available(HolderRef::Platform).max(100),
                };
                let amount = share(base, *percent);
                let expected = self.model.transfer(destination, amount, source);
                let body = self
                    .app
                    .graphql(
                        "mutation($d: ID!, $a: MinorUnits!, $s: ID) { createTransfer(input: {destination: $d, amount: $a, currency: \"usd\", sourceTransaction: $s}) { id } }",
                        json!({
                            "d": self.model.accounts[destination].id,
                            "a": amount,
                            "s": source.map(|charge| self.model.charges[charge].id.clone()),
                        }),
                    )
                    .await;
                let data = self.compare("createTransfer", &expected, &body)?;
                if let Ok(transfer) = expected {
                    self.model.transfers[transfer].id =
                        self.new_id(&data["createTransfer"]["id"])?;
                }
                Ok(())
            }
            Op::Reverse {
                transfer,
                percent,
                refund_fee,
            } => {
                let Some(index) = pick(&self.model.transfers, transfer) else {
                    return Ok(());
                };
                let found = self.model.transfers[index].clone();
                let amount = percent.map(|percent| share(found.amount - found.reversed, percent));
                let expected = self.model.reverse(index, amount, *refund_fee);
                let body = self
                    .app
                    .graphql(
                        "mutation($t: ID!, $a: MinorUnits, $f: Boolean) { createTransferReversal(input: {transfer: $t, amount: $a, refundApplicationFee: $f}) { id } }",
                        json!({"t": found.id, "a": amount, "f": refund_fee}),
                    )
                    .await;
                let data = self.compare("createTransferReversal", &expected, &body)?;
                if expected.is_ok() {
                    self.new_id(&data["createTransferReversal"]["id"])?;
                }
                Ok(())
            }
            Op::Evidence { dispute } => {
                let Some(index) = pick(&self.model.disputes, dispute) else {
                    return Ok(());
                };
                let expected = self.model.submit_evidence(index);
                let body = self
                    .app
                    .graphql(
                        "mutation($d: ID!) { submitDisputeEvidence(input: {dispute: $d, evidence: \"receipt and tracking number\"}) { id status } }",
                        json!({"d": self.model.disputes[index].id}),
                    )
                    .await;
                self.compare("submitDisputeEvidence", &expected, &body)?;
                Ok(())
            }
            Op::CloseDispute { dispute, won } => {
                let Some(index) = pick(&self.model.disputes, dispute) else {
                    return Ok(());
                };
                let expected = self.model.close_dispute(index, *won);
                let body = self
                    .app
                    .graphql(
                        "mutation($d: ID!, $o: DisputeOutcome!) { closeDispute(input: {dispute: $d, outcome: $o}) { id status } }",
                        json!({"d": self.model.disputes[index].id, "o": if *won { "WON" } else { "LOST" }}),
                    )
                    .await;
                self.compare("closeDispute", &expected, &body)?;
                Ok(())
            }
            Op::Payout {
                account,
                percent,
                instant,
            } => self.payout(account.as_ref(), *percent, *instant).await,
            Op::CancelPayout { payout } => {
                let Some(index) = pick(&self.model.payouts, payout) else {
                    return Ok(());
                };
                let expected = self.model.cancel_payout(index);
                let body = self
                    .app
                    .graphql(
                        "mutation($p: ID!) { cancelPayout(input: {payout: $p}) { id status } }",
                        json!({"p": self.model.payouts[index].id}),
                    )
                    .await;
                self.compare("cancelPayout", &expected, &body)?;
                Ok(())
            }
            Op::Debit { account, percent } => {
                let Some(index) = self.pick_funded_account(account) else {
                    return Ok(());
                };
                let amount = share(
                    self.model.available(HolderRef::Account(index)).max(100),
                    *percent,
                );
                let expected = self.model.debit(index, amount);
                let body = self
                    .app
                    .graphql(
                        "mutation($a: ID!, $m: MinorUnits!) { createAccountDebit(input: {account: $a, amount: $m, currency: \"usd\"}) { id } }",
                        json!({"a": self.model.accounts[index].id, "m": amount}),
                    )
                    .await;
                let data = self.compare("createAccountDebit", &expected, &body)?;
                if expected.is_ok() {
                    self.new_id(&data["createAccountDebit"]["id"])?;
                }
                Ok(())
            }
            Op::Advance { hours } => {
                let to = self.model.now + hours * HOUR_MICROS;
                let body = self
                    .app
                    .graphql(
                        "mutation($t: DateTime!) { advanceClock(input: {to: $t}) }",
                        json!({"t": micros_to_rfc3339(to)}),
                    )
                    .await;
                self.compare("advanceClock", &Ok(()), &body)?;
                self.automatic_payouts().await?;
                self.model.advance_to(to);
                self.read_capabilities().await
            }
            Op::Restart => {
                self.app.restart().await;
                Ok(())
            }
        }
    }

    async fn charge(&mut self, op: &Op) -> Step {
        let Op::Charge {
            flow,
            account,
            amount,
            fee_percent,
            transfer_percent,
            route,
            capture,
            card,
        } = op
        else {
            return Ok(());
        };
        let account = match flow {
            Flow::Separate => None,
            _ => match pick(&self.model.accounts, account) {
                Some(account) => Some(account),
                None => return Ok(()),
            },
        };
        let route = match flow {
            Flow::Separate => route
                .as_ref()
                .and_then(|route| pick(&self.model.accounts, route)),
            _ => None,
        };
        let fee = fee_percent
            .filter(|_| *flow != Flow::Separate)
            .map(|percent| amount * i64::from(percent) / 100);
        let transfer_amount = transfer_percent
            .filter(|_| *flow == Flow::Destination)
            .map(|percent| share(*amount, percent));
        let (index, expected) = self.model.charge(
            *flow,
            account,
            *amount,
            fee,
            transfer_amount,
            route,
            *capture,
            *card,
        );
        let account_id = |index: usize| self.model.accounts[index].id.clone();
        let mut input = json!({
            "amount": amount,
            "currency": "usd",
            "paymentMethod": card.payment_method(),
            "capture": capture,
            "applicationFeeAmount": fee,
        });
        if *flow == Flow::Destination {
            input["transferData"] = json!({
                "destination": account.map(account_id),
                "amount": transfer_amount,
            });
        }
        if let Some(route) = route {
            input["metadata"] = json!({"dest": account_id(route)});
        }
        let connect_account = match flow {
            Flow::Direct => account.map(account_id),
            _ => None,
        };
        let body = self
            .app
            .graphql_as(
                connect_account.as_deref(),
                &format!("mutation($input: CreateChargeInput!) {{ createCharge(input: $input) {{ {CHARGE_FIELDS} }} }}"),
                json!({"input": input}),
            )
            .await;
        let data = self.compare("createCharge", &expected, &body)?;
        let Some(index) = index else {
            return Ok(());
        };
        match &expected {
            Ok(made) => {
                let charge = &data["createCharge"];
                self.model.charges[index].id = self.new_id(&charge["id"])?;
                if *capture {
                    self.name_charge_parts(made, charge)?;
                }
            }
            Err(_) => {
                self.model.charges[index].id =
                    self.new_id(&body["errors"][0]["extensions"]["charge"])?;
            }
        }
        Ok(())
    }

    /// Checks a captured charge's fees against the model and names what it made.
    fn name_charge_parts(
        &mut self,
        made: &crate::model_reference::ChargeMade,
        charge: &Value,
    ) -> Step {
        let processing = charge["processingFee"]["amount"].as_i64();
        if processing != Some(made.processing_fee) {
            return fail(format!(
                "processing fee {processing:?}, the model says {}: {charge}",
                made.processing_fee
            ));
        }
        let fee = charge["applicationFee"]["amount"]["amount"].as_i64();
        let expected_fee = made.application_fee.filter(|fee| *fee != 0);
        if fee != expected_fee {
            return fail(format!(
                "application fee {fee:?}, the model says {expected_fee:?}: {charge}"
            ));
        }
        if let Some(fee_index) = self.model.fees.iter().rposition(|fee| fee.id.is_empty()) {
            self.model.fees[fee_index].id = self.new_id(&charge["applicationFee"]["id"])?;
        }
        let transfers = charge["transfers"].as_array().cloned().unwrap_or_default();
        if transfers.len() != made.transfers.len() {
            return fail(format!(
                "{} transfers, the model says {}: {charge}",
                transfers.len(),
                made.transfers.len()
            ));
        }
        for (transfer, real) in made.transfers.iter().zip(&transfers) {
            let amount = real["amount"]["amount"].as_i64();
            if amount != Some(self.model.transfers[*transfer].amount) {
                return fail(format!(
                    "transfer amount {amount:?}, the model says {}",
                    self.model.transfers[*transfer].amount
                ));
            }
            self.model.transfers[*transfer].id = self.new_id(&real["id"])?;
        }
        if let Some(dispute) = made.dispute {
            self.model.disputes[dispute].id = self.new_id(&charge["dispute"]["id"])?;
        }
        Ok(())
    }

    async fn payout(&mut self, account: Option<&Index>, percent: u8, instant: bool) -> Step {
        let account = match account {
            Some(index) => match self.pick_funded_account(index) {
                Some(account) => Some(account),
                None => return Ok(()),
            },
            None => None,
        };
        let holder = account.map_or(HolderRef::Platform, HolderRef::Account);
        let amount = share(self.model.available(holder).max(100), percent);
        let available_before = self.stored_available(holder);
        let expected = self.model.payout(account, amount, instant);
        let destination = account
            .filter(|_| instant)
            .and_then(|account| self.model.accounts[account].card.clone());
        let body = self
            .app
            .graphql(
                "mutation($a: ID, $m: MinorUnits!, $i: PayoutMethod!, $d: ID) { createPayout(input: {account: $a, amount: $m, currency: \"usd\", method: $i, destination: $d}) { id amount { amount } fee { amount } } }",
                json!({
                    "a": account.map(|account| self.model.accounts[account].id.clone()),
                    "m": amount,
                    "i": if instant { "INSTANT" } else { "STANDARD" },
                    "d": destination,
                }),
            )
            .await;
        let data = self.compare("createPayout", &expected, &body)?;
        if let Ok(payout) = expected {
            let payout_data = &data["createPayout"];
            self.model.payouts[payout].id = self.new_id(&payout_data["id"])?;
            let debit = payout_data["amount"]["amount"].as_i64().unwrap_or(0)
                + payout_data["fee"]["amount"].as_i64().unwrap_or(0);
            // Nothing paid out exceeds what was available when it was paid.
            if debit > available_before {
                return fail(format!(
                    "a payout of {debit} left a balance of {available_before} available"
                ));
            }
        }
        Ok(())
    }

    /// The payouts the daily payout run made during an advance, played into the model in
    /// the order they were made.
    async fn automatic_payouts(&mut self) -> Step {
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

    fn stored_available(&self, holder: HolderRef) -> i64 {
        let key = self.key(holder, Slot::Available);
        self.app
            .stored_balances()
            .into_iter()
            .find(|(stored, ..)| *stored == key)
            .map_or(0, |(_, _, _, amount)| amount)
    }

    /// The invariants, after every step.
    async fn check(&self) -> Step {
        let services = self.app.services();
        let mut computed: BTreeMap<String, i64> = BTreeMap::new();
        let mut entry_ids = HashSet::new();
        let mut transaction_ids = HashSet::new();
        let mut problems = Vec::new();
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
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

const CHARGE_FIELDS: &str = "id processingFee { amount } applicationFee { id amount { amount } } transfers { id amount { amount } } dispute { id }";

fn write_policies(dir: &Path, policy: &PolicyParams) {
    std::fs::create_dir_all(dir).expect("policies dir");
    let source = crate::helpers::policies_dir();
    for name in ["gateway.rhai", "default.rhai"] {
        std::fs::copy(source.join(name), dir.join(name)).expect("copy policy");
    }
    std::fs::write(dir.join("model.rhai"), policy.source()).expect("write policy");
}

/// Runs one sequence from a new store; the first failed check ends it.
async fn run_sequence(sequence: &Sequence) -> Result<(u64, BTreeMap<String, u64>), String> {
    let scratch = scratch_dir();
    let policies = scratch.path().join("policies");
    write_policies(&policies, &sequence.policy);
    let app = ModelApp::start(scratch.path().join("data"), policies, "model").await;
    // Start at noon of the next day, so every case sees the same times of day.
    let now = app.services().clock.now().timestamp_micros();
    let start = (now.div_euclid(DAY_MICROS) + 1) * DAY_MICROS + 12 * HOUR_MICROS;
    let mut case = Case {
        model: Model::new(sequence.policy.clone(), start),
        app,
        seen_ids: HashSet::new(),
        steps: 0,
        outcomes: BTreeMap::new(),
    };
    let result = async {
        let body = case
            .app
            .graphql(
                "mutation($t: DateTime!) { advanceClock(input: {to: $t}) }",
                json!({"t": micros_to_rfc3339(start)}),
            )
            .await;
        case.compare("advanceClock", &Ok(()), &body)?;
        for kind in &sequence.accounts {
            case.onboard(*kind).await?;
        }
        case.check().await?;
        for (number, op) in sequence.ops.iter().enumerate() {
            case.run(op)
                .await
                .and(case.check().await)
                .map_err(|error| format!("step {number} ({op:?}): {error}"))?;
        }
        Ok::<(), String>(())
    }
    .await;
    case.app.stop().await;
    result.map(|()| (case.steps, case.outcomes))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

#[test]
fn the_ledger_matches_the_model_after_every_step() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let sequences = std::sync::atomic::AtomicU64::new(0);
    let steps = std::sync::atomic::AtomicU64::new(0);
    let outcomes = std::sync::Mutex::new(BTreeMap::<String, u64>::new());
    let result = runner.run(&sequence(), |sequence| {
        let (ran, seen) = runtime
            .block_on(run_sequence(&sequence))
            .map_err(TestCaseError::fail)?;
        sequences.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        steps.fetch_add(ran, std::sync::atomic::Ordering::Relaxed);
        let mut outcomes = outcomes.lock().expect("outcomes");
        for (outcome, count) in seen {
            *outcomes.entry(outcome).or_default() += count;
        }
        Ok(())
    });
    println!(
        "model-based test: {} sequences, {} steps in {:.1} s",
        sequences.into_inner(),
        steps.into_inner(),
        started.elapsed().as_secs_f64()
    );
    for (outcome, count) in outcomes.into_inner().expect("outcomes") {
        println!("  {outcome}: {count}");
    }
    if let Err(error) = result {
        panic!("{error}");
    }
}
