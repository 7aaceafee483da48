//! The bank workload (Jepsen's bank test) over HTTP: concurrent clients move money between
//! the platform and its connected accounts — transfers with and without a source charge,
//! reversals, account debits, refunds and payouts, and clock advances that release pending
//! funds — while readers sum every balance in one request.
//!
//! Transfers, reversals, debits and releases keep the total of the platform and its
//! accounts (available plus pending) unchanged; refunds and payouts take money out of it.
//! So every read must see the starting total less the refunds and payouts made so far.
//!
//! The gateway reads each holder's balance on its own (the store has no snapshot across
//! keys), so a read during which an entry was written may see one side of a move and not
//! yet the other: such reads must land within the moves in flight at the time, and never
//! further. A read during which no entry was written (the platform's entry count is the
//! same before and after it) saw one state of the ledger and must see the total exactly.
//! Every so often the clients pause at a barrier and an auditor advances the clock, which
//! releases pending funds, and reads with nothing in flight: the total must be exact and
//! the trial balance balanced.
//!
//! The same workload runs through several servers over one store (`multi_server`): each
//! request goes to the next server in turn; and through several `tollgate serve` processes
//! over one PostgreSQL database (`multi_process`), reached by their URLs alone.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::charges_support::{ADD_BANK_ACCOUNT, CREATE_ACCOUNT, SUBMIT_DETAILS};
use crate::helpers::{assert_no_errors, spawn_app, start_second_server, TestApp};

/// How long the clients run; the test's time in CI is bounded by it.
const WORKLOAD_SECONDS: u64 = 4;
const ACCOUNTS: usize = 4;
const WRITERS: usize = 6;
const READERS: usize = 2;
/// Largest single move, small against the funds so most moves succeed.
const MAX_MOVE_MINOR: i64 = 500;
/// How often the auditor stops the clients to read with nothing in flight.
const AUDIT_EVERY_MILLISECONDS: u64 = 250;

/// Money taken out of the set by refunds and payouts: begun, and acknowledged.
#[derive(Default)]
struct Outflows {
    begun: AtomicI64,
    acknowledged: AtomicI64,
}

/// Moves inside the set (transfers, reversals, debits) begun and finished, as amounts.
#[derive(Default)]
struct InternalMoves {
    begun: AtomicI64,
    finished: AtomicI64,
}

#[derive(Default)]
struct Counts {
    reads: AtomicU64,
    audits: AtomicU64,
    writes_accepted: AtomicU64,
    writes_refused: AtomicU64,
}

/// A server as the workload reaches it: its GraphQL URL and the platform's secret key.
#[derive(Clone)]
pub struct Endpoint {
    pub graphql_url: String,
    pub secret_key: String,
    client: reqwest::Client,
}

impl Endpoint {
    pub fn new(graphql_url: String, secret_key: String) -> Endpoint {
        Endpoint {
            graphql_url,
            secret_key,
            client: reqwest::Client::new(),
        }
    }

    fn of(app: &TestApp) -> Endpoint {
        Endpoint::new(app.url(), app.secret_key.clone())
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(&self.secret_key, None, query, variables)
            .await
    }

    pub async fn graphql_as(
        &self,
        key: &str,
        connect_account: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .client
            .post(&self.graphql_url)
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(account) = connect_account {
            request = request.header("Connect-Account", account);
        }
        let response = request.send().await.expect("send");
        response.json().await.expect("json body")
    }
}

pub struct Bank {
    /// The in-process servers, if any; the first owns the store.
    pub servers: Vec<TestApp>,
    /// The servers requests go through, in turn.
    endpoints: Vec<Endpoint>,
    turn: AtomicUsize,
    accounts: Vec<String>,
    /// Separate charges on the platform, pending: sources for transfers and refunds.
    charges: Vec<String>,
    transfers: tokio::sync::Mutex<Vec<String>>,
    outflows: Outflows,
    moves: InternalMoves,
    counts: Counts,
    /// Writers hold it shared; the auditor takes it alone, so no move is in flight.
    barrier: tokio::sync::RwLock<()>,
}

fn balance_fields() -> &'static str {
    "available { amount currency } pending { amount currency }"
}

/// One request that reads every balance of the set, and the platform's trial balance.
fn read_query(accounts: &[String]) -> String {
    let mut query = format!("{{ platform: balance {{ {} }}", balance_fields());
    for (index, account) in accounts.iter().enumerate() {
        query.push_str(&format!(
            " a{index}: balance(account: \"{account}\") {{ {} }}",
            balance_fields()
        ));
    }
    query.push_str(" ledgerCheck { balanced violations } }");
    query
}

fn usd(list: &Value) -> i64 {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|money| money["currency"] == "usd")
        .filter_map(|money| money["amount"].as_i64())
        .sum()
}

/// The total of the set in one read, and whether the trial balance held.
fn total_of(body: &Value, accounts: usize) -> Option<(i64, bool, Value)> {
    let data = body.get("data")?;
    let mut total = 0;
    let mut holders = vec!["platform".to_owned()];
    holders.extend((0..accounts).map(|index| format!("a{index}")));
    for holder in holders {
        let balance = &data[holder.as_str()];
        total += usd(&balance["available"]) + usd(&balance["pending"]);
    }
    let check = &data["ledgerCheck"];
    Some((
        total,
        check["balanced"] == true,
        check["violations"].clone(),
    ))
}

impl Bank {
    /// The server the next request goes through.
    fn app(&self) -> &Endpoint {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        &self.endpoints[turn % self.endpoints.len()]
    }

    /// The total of the platform and its accounts (available plus pending) read through
    /// `endpoint`, and whether the trial balance held.
    pub async fn total_through(&self, endpoint: &Endpoint) -> (i64, bool) {
        let body = endpoint
            .graphql(&read_query(&self.accounts), json!({}))
            .await;
        let (total, balanced, _) =
            total_of(&body, self.accounts.len()).unwrap_or_else(|| panic!("a read: {body}"));
        (total, balanced)
    }

    async fn read(&self) -> Value {
        self.app()
            .graphql(&read_query(&self.accounts), json!({}))
            .await
    }

    async fn charge(&self, body: Value, connect: Option<&str>) -> String {
        let app = self.app();
        let response = app
            .graphql_as(
                &app.secret_key,
                connect,
                "mutation($input: CreateChargeInput!) { createCharge(input: $input) { id } }",
                json!({"input": body}),
            )
            .await;
        assert_no_errors(&response);
        response["data"]["createCharge"]["id"]
            .as_str()
            .expect("charge id")
            .to_owned()
    }

    fn record(&self, body: &Value) -> bool {
        let accepted = body.get("errors").is_none();
        let counter = if accepted {
            &self.counts.writes_accepted
        } else {
            &self.counts.writes_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !accepted {
            let code = body["errors"][0]["extensions"]["code"].as_str();
            assert!(
                matches!(code, Some("INSUFFICIENT_FUNDS" | "INVALID_REQUEST")),
                "a workload request failed unexpectedly: {body}"
            );
        }
        accepted
    }

    /// Refunds and payouts: counted as begun before they are sent, as taken once acknowledged.
    async fn outflow(&self, amount: i64, query: &str, variables: Value) {
        self.outflows.begun.fetch_add(amount, Ordering::SeqCst);
        let body = self.app().graphql(query, variables).await;
        if self.record(&body) {
            self.outflows
                .acknowledged
                .fetch_add(amount, Ordering::SeqCst);
        } else {
            self.outflows.begun.fetch_sub(amount, Ordering::SeqCst);
        }
    }

    /// One request, with its amount counted in flight while it runs.
    async fn write(&self, choice: u32, amount: i64, pick: usize) {
        let _writing = self.barrier.read().await;
        let internal = choice % 7 <= 4;
        if internal {
            self.moves.begun.fetch_add(amount, Ordering::SeqCst);
        }
        self.write_one(choice, amount, pick).await;
        if internal {
            self.moves.finished.fetch_add(amount, Ordering::SeqCst);
        }
    }

    async fn write_one(&self, choice: u32, amount: i64, pick: usize) {
        let account = &self.accounts[pick % self.accounts.len()];
        match choice % 7 {
            0 | 1 => {
                let body = self
                    .app()
                    .graphql(
                        "mutation($d: ID!, $a: MinorUnits!) { createTransfer(input: {destination: $d, amount: $a, currency: \"usd\"}) { id } }",
                        json!({"d": account, "a": amount}),
                    )
                    .await;
                if self.record(&body) {
                    let id = body["data"]["createTransfer"]["id"].as_str().expect("id");
                    self.transfers.lock().await.push(id.to_owned());
                }
            }
            2 => {
                let charge = &self.charges[pick % self.charges.len()];
                let body = self
                    .app()
                    .graphql(
                        "mutation($d: ID!, $a: MinorUnits!, $s: ID!) { createTransfer(input: {destination: $d, amount: $a, currency: \"usd\", sourceTransaction: $s}) { id } }",
                        json!({"d": account, "a": amount, "s": charge}),
                    )
                    .await;
                if self.record(&body) {
                    let id = body["data"]["createTransfer"]["id"].as_str().expect("id");
                    self.transfers.lock().await.push(id.to_owned());
                }
            }
            3 => {
                let transfer = {
                    let transfers = self.transfers.lock().await;
                    if transfers.is_empty() {
                        return;
                    }
                    transfers[pick % transfers.len()].clone()
                };
                let body = self
                    .app()
                    .graphql(
                        "mutation($t: ID!, $a: MinorUnits!) { createTransferReversal(input: {transfer: $t, amount: $a}) { id } }",
                        json!({"t": transfer, "a": amount}),
                    )
                    .await;
                self.record(&body);
            }
            4 => {
                let body = self
                    .app()
                    .graphql(
                        "mutation($a: ID!, $m: MinorUnits!) { createAccountDebit(input: {account: $a, amount: $m, currency: \"usd\"}) { id } }",
                        json!({"a": account, "m": amount}),
                    )
                    .await;
                self.record(&body);
            }
            5 => {
                let charge = &self.charges[pick % self.charges.len()];
                self.outflow(
                    amount,
                    "mutation($c: ID!, $a: MinorUnits!) { createRefund(input: {charge: $c, amount: $a}) { id } }",
                    json!({"c": charge, "a": amount}),
                )
                .await;
            }
            _ => {
                self.outflow(
                    amount,
                    "mutation($a: ID, $m: MinorUnits!) { createPayout(input: {account: $a, amount: $m, currency: \"usd\"}) { id } }",
                    json!({"a": (pick % 3 != 0).then_some(account), "m": amount}),
                )
                .await;
            }
        }
    }

    /// The platform's entry count, read on its own.
    async fn entries(&self) -> Option<u64> {
        let body = self
            .app()
            .graphql("{ ledgerCheck { entries } }", json!({}))
            .await;
        body["data"]["ledgerCheck"]["entries"].as_u64()
    }

    /// One read of every balance while the clients run. When no entry was written during
    /// it (the platform's entry count was the same before and after), it saw one state of
    /// the ledger and must see the total exactly; otherwise it may see a move in flight on
    /// one side only, and never more than the moves in flight.
    async fn check_read(&self, starting_total: i64, quiet: &AtomicU64) -> Vec<String> {
        let taken_before = self.outflows.acknowledged.load(Ordering::SeqCst);
        let moves_finished_before = self.moves.finished.load(Ordering::SeqCst);
        let entries_before = self.entries().await;
        let body = self.read().await;
        let entries_after = self.entries().await;
        let begun_after = self.outflows.begun.load(Ordering::SeqCst);
        let moves_in_flight = self.moves.begun.load(Ordering::SeqCst) - moves_finished_before;
        self.counts.reads.fetch_add(1, Ordering::Relaxed);
        let Some((total, balanced, violations)) = total_of(&body, self.accounts.len()) else {
            return vec![format!("a read failed: {body}")];
        };
        // The trial balance holds while money moves, not only at rest.
        if !balanced {
            return vec![format!(
                "ledgerCheck was unbalanced under load: {violations}"
            )];
        }
        // What left the set: every refund and payout acknowledged before the read, perhaps
        // some of those in flight during it.
        let taken = starting_total - total;
        let slack = if entries_before.is_some() && entries_before == entries_after {
            quiet.fetch_add(1, Ordering::Relaxed);
            0
        } else {
            moves_in_flight
        };
        if taken < taken_before - slack || taken > begun_after + slack {
            return vec![format!(
                "a read saw a total of {total}: {taken} taken out, but between {taken_before} and {begun_after} were, with {slack} moving inside"
            )];
        }
        Vec::new()
    }

    /// At the barrier: moves the clock (releasing pending funds), then reads with nothing
    /// in flight. The total must be exact and the trial balance balanced.
    async fn audit(&self, starting_total: i64) -> Vec<String> {
        let _alone = self.barrier.write().await;
        let body = self
            .app()
            .graphql(
                "mutation { advanceClock(input: {seconds: 7200}) }",
                json!({}),
            )
            .await;
        assert_no_errors(&body);
        let body = self.read().await;
        self.counts.audits.fetch_add(1, Ordering::Relaxed);
        let taken = self.outflows.acknowledged.load(Ordering::SeqCst);
        let mut problems = Vec::new();
        match total_of(&body, self.accounts.len()) {
            Some((total, balanced, violations)) => {
                if total != starting_total - taken {
                    problems.push(format!(
                        "an audit saw a total of {total}, not {starting_total} less the {taken} taken out"
                    ));
                }
                if !balanced {
                    problems.push(format!(
                        "an audit's ledgerCheck was unbalanced: {violations}"
                    ));
                }
            }
            None => problems.push(format!("an audit failed: {body}")),
        }
        problems
    }
}

/// A small deterministic generator, so a failing run can be read back from its seed.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The bank over `servers` servers sharing one store, with its accounts and funds.
pub async fn set_up(servers: usize) -> Bank {
    let app = spawn_app().await;
    let mut others = Vec::new();
    for _ in 1..servers {
        others.push(start_second_server(&app, |_| {}).await);
    }
    let mut servers = vec![app];
    servers.extend(others);
    let endpoints = servers.iter().map(Endpoint::of).collect();
    set_up_over(endpoints, servers).await
}

/// A CUSTOM US account, onboarded through `endpoint`, with a bank account.
async fn onboarded_account(endpoint: &Endpoint) -> String {
    let body = endpoint
        .graphql(CREATE_ACCOUNT, json!({"type": "CUSTOM", "country": "US"}))
        .await;
    assert_no_errors(&body);
    let id = body["data"]["createAccount"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for mutation in [SUBMIT_DETAILS, ADD_BANK_ACCOUNT] {
        let body = endpoint.graphql(mutation, json!({"account": id})).await;
        assert_no_errors(&body);
    }
    id
}

/// The bank through `endpoints` (servers over one store), with its accounts and funds,
/// holding on to the in-process `servers` among them.
pub async fn set_up_over(endpoints: Vec<Endpoint>, servers: Vec<TestApp>) -> Bank {
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(onboarded_account(&endpoints[0]).await);
    }
    let mut bank = Bank {
        servers,
        endpoints,
        turn: AtomicUsize::new(0),
        accounts,
        charges: Vec::new(),
        transfers: tokio::sync::Mutex::new(Vec::new()),
        outflows: Outflows::default(),
        moves: InternalMoves::default(),
        counts: Counts::default(),
        barrier: tokio::sync::RwLock::new(()),
    };
    // Available money on the platform and on each account, and pending charges that later
    // advances release while the readers read.
    for _ in 0..2 {
        bank.charge(
            json!({"amount": 100_000, "currency": "usd", "paymentMethod": "pm_card_bypassPending"}),
            None,
        )
        .await;
    }
    for account in bank.accounts.clone() {
        bank.charge(
            json!({"amount": 20_000, "currency": "usd", "paymentMethod": "pm_card_bypassPending",
                   "transferData": {"destination": account}}),
            None,
        )
        .await;
        bank.charge(
            json!({"amount": 20_000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
            Some(&account),
        )
        .await;
    }
    for _ in 0..4 {
        let charge = bank
            .charge(
                json!({"amount": 50_000, "currency": "usd", "paymentMethod": "pm_card_visa"}),
                None,
            )
            .await;
        bank.charges.push(charge);
    }
    bank
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_sees_the_same_total() {
    run(Arc::new(set_up(1).await)).await;
}

/// Runs the workload and checks every read, every audit and the final total.
pub async fn run(bank: Arc<Bank>) {
    let first = bank.read().await;
    let (starting_total, balanced, violations) =
        total_of(&first, ACCOUNTS).unwrap_or_else(|| panic!("first read: {first}"));
    assert!(
        balanced,
        "the ledger is balanced before the workload: {violations}"
    );
    let deadline = Instant::now() + Duration::from_secs(WORKLOAD_SECONDS);
    let started = Instant::now();

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let bank = bank.clone();
        writers.push(tokio::spawn(async move {
            let mut choices = Choices(0x9E37_79B9_7F4A_7C15 ^ (writer as u64 + 1));
            while Instant::now() < deadline {
                let choice = choices.next();
                let amount = (choices.next() % MAX_MOVE_MINOR as u64) as i64 + 1;
                bank.write(choice as u32, amount, (choice >> 32) as usize)
                    .await;
            }
        }));
    }
    let exact = Arc::new(AtomicU64::new(0));
    let auditor = {
        let bank = bank.clone();
        tokio::spawn(async move {
            let mut problems = Vec::new();
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(AUDIT_EVERY_MILLISECONDS)).await;
                problems.extend(bank.audit(starting_total).await);
            }
            problems
        })
    };
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let bank = bank.clone();
        let exact = exact.clone();
        readers.push(tokio::spawn(async move {
            let mut problems = Vec::new();
            while Instant::now() < deadline {
                problems.extend(bank.check_read(starting_total, &exact).await);
            }
            problems
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut problems = auditor.await.expect("auditor");
    for reader in readers {
        let found = reader.await.expect("reader");
        problems.extend(found);
    }
    let elapsed = started.elapsed();

    let last = bank.read().await;
    let (final_total, balanced, violations) =
        total_of(&last, ACCOUNTS).unwrap_or_else(|| panic!("last read: {last}"));
    let taken = bank.outflows.acknowledged.load(Ordering::SeqCst);
    println!(
        "bank workload: {} reads ({} with no entry written during them) and {} audits at the barrier, {} writes ({} refused) in {:.1} s; total {starting_total} at the start, {final_total} at the end after {taken} refunded and paid out",
        bank.counts.reads.load(Ordering::Relaxed),
        exact.load(Ordering::Relaxed),
        bank.counts.audits.load(Ordering::Relaxed),
        bank.counts.writes_accepted.load(Ordering::Relaxed) + bank.counts.writes_refused.load(Ordering::Relaxed),
        bank.counts.writes_refused.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
    );
    problems.truncate(10);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        final_total,
        starting_total - taken,
        "the total after the workload"
    );
    assert!(balanced, "{violations}");
    assert!(bank.counts.reads.load(Ordering::Relaxed) > 0);
    assert!(bank.counts.writes_accepted.load(Ordering::Relaxed) > 0);
}
