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

use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::model_app::{scratch_dir, ModelApp};
use crate::model_case::{fail, Case, Step};
use crate::model_ops::{
    micros_to_rfc3339, pick, sequence, share, Op, Sequence, DEFAULT_CASES, HOUR_MICROS,
};
use crate::model_reference::{Flow, HolderRef, Model, PolicyParams, DAY_MICROS};

impl Case {
    async fn run(&mut self, op: &Op) -> Step {
        self.steps += 1;
        match op {
            Op::CreateAccount(kind) => self.onboard(*kind).await,
            Op::Topup { amount } => self.topup(*amount).await,
            Op::Charge { .. } => self.charge(op).await,
            Op::Capture {
                charge,
                percent,
                fee_percent,
            } => self.capture(charge, *percent, *fee_percent).await,
            Op::Refund {
                charge,
                percent,
                refund_fee,
                reverse,
                as_account,
            } => {
                self.refund(charge, *percent, *refund_fee, *reverse, *as_account)
                    .await
            }
            Op::RefundFee { fee, percent } => self.refund_fee(fee, *percent).await,
            Op::Transfer {
                account,
                percent,
                source,
            } => self.transfer(account, *percent, source.as_ref()).await,
            Op::Reverse {
                transfer,
                percent,
                refund_fee,
            } => self.reverse(transfer, *percent, *refund_fee).await,
            Op::Evidence { dispute } => self.evidence(dispute).await,
            Op::CloseDispute { dispute, won } => self.close_dispute(dispute, *won).await,
            Op::Payout {
                account,
                percent,
                instant,
            } => self.payout(account.as_ref(), *percent, *instant).await,
            Op::CancelPayout { payout } => self.cancel_payout(payout).await,
            Op::Debit { account, percent } => self.debit(account, *percent).await,
            Op::Advance { hours } => self.advance(*hours).await,
            Op::Restart => {
                self.app.restart().await;
                Ok(())
            }
        }
    }

    async fn topup(&mut self, amount: i64) -> Step {
        let body = self
            .app
            .graphql(
                "mutation($a: MinorUnits!) { createTopup(input: {amount: $a, currency: \"usd\"}) { id } }",
                json!({"a": amount}),
            )
            .await;
        self.compare("createTopup", &Ok(()), &body)?;
        self.new_id(&body["data"]["createTopup"]["id"])?;
        self.model.topup(amount);
        Ok(())
    }

    async fn capture(
        &mut self,
        charge: &Index,
        percent: Option<u8>,
        fee_percent: Option<u8>,
    ) -> Step {
        let Some(index) = self.pick_charge(charge, |charge| {
            !charge.captured && charge.authorized_until.is_some()
        }) else {
            return Ok(());
        };
        let found = self.model.charges[index].clone();
        let amount = percent.map(|percent| share(found.amount, percent));
        let fee = fee_percent.map(|percent| share(amount.unwrap_or(found.amount), percent) - 1);
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

    async fn refund(
        &mut self,
        charge: &Index,
        percent: Option<u8>,
        refund_fee: bool,
        reverse: bool,
        as_account: bool,
    ) -> Step {
        let Some(index) = self.pick_charge(charge, |charge| {
            charge.captured && !charge.disputed && charge.amount_refunded < charge.amount_captured
        }) else {
            return Ok(());
        };
        let found = self.model.charges[index].clone();
        let left = found.amount_captured - found.amount_refunded;
        let amount = percent.map(|percent| share(left, percent));
        let connect_account = found
            .account
            .filter(|_| as_account && found.flow == Flow::Direct)
            .map(|account| self.model.accounts[account].id.clone());
        let expected = self.model.refund(
            index,
            amount,
            refund_fee,
            reverse,
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

    async fn refund_fee(&mut self, fee: &Index, percent: Option<u8>) -> Step {
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

    async fn transfer(&mut self, account: &Index, percent: u8, source: Option<&Index>) -> Step {
        let Some(destination) = pick(&self.model.accounts, account) else {
            return Ok(());
        };
        let source = source.and_then(|source| pick(&self.model.charges, source));
        let base = match source {
            Some(charge) => {
                let charge = &self.model.charges[charge];
                charge.amount_captured - charge.amount_transferred
            }
            None => self.model.available(HolderRef::Platform).max(100),
        };
        let amount = share(base, percent);
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
            self.model.transfers[transfer].id = self.new_id(&data["createTransfer"]["id"])?;
        }
        Ok(())
    }

    async fn reverse(&mut self, transfer: &Index, percent: Option<u8>, refund_fee: bool) -> Step {
        let Some(index) = pick(&self.model.transfers, transfer) else {
            return Ok(());
        };
        let found = self.model.transfers[index].clone();
        let amount = percent.map(|percent| share(found.amount - found.reversed, percent));
        let expected = self.model.reverse(index, amount, refund_fee);
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

    async fn evidence(&mut self, dispute: &Index) -> Step {
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

    async fn close_dispute(&mut self, dispute: &Index, won: bool) -> Step {
        let Some(index) = pick(&self.model.disputes, dispute) else {
            return Ok(());
        };
        let expected = self.model.close_dispute(index, won);
        let body = self
            .app
            .graphql(
                "mutation($d: ID!, $o: DisputeOutcome!) { closeDispute(input: {dispute: $d, outcome: $o}) { id status } }",
                json!({"d": self.model.disputes[index].id, "o": if won { "WON" } else { "LOST" }}),
            )
            .await;
        self.compare("closeDispute", &expected, &body)?;
        Ok(())
    }

    async fn cancel_payout(&mut self, payout: &Index) -> Step {
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

    async fn debit(&mut self, account: &Index, percent: u8) -> Step {
        let Some(index) = self.pick_funded_account(account) else {
            return Ok(());
        };
        let amount = share(
            self.model.available(HolderRef::Account(index)).max(100),
            percent,
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

    async fn advance(&mut self, hours: i64) -> Step {
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
        let fee = fee_percent.map(|percent| amount * i64::from(percent) / 100);
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
    // On PostgreSQL every sequence starts from an emptied store in one database: the last
    // sequence's app has stopped, and a new database for each would take most of the run.
    let store = crate::test_store::emptied_database("model");
    let app = ModelApp::start(scratch.path().join("data"), store, policies, "model").await;
    // Start at noon of the next day, so every case sees the same times of day.
    let platform = tollgate::ids::PlatformId::parse(&app.platform_id).expect("platform id");
    let now = app.services().clock.now(&platform).timestamp_micros();
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
