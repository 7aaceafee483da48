//! The integration tests: one binary, a `spawn_app()` helper per test (temporary data
//! directory, port 0, simulated clock), and one module per capability.

mod helpers;

mod accounts_hosted;
mod accounts_onboarding;
mod accounts_pagination;
mod accounts_rules;
mod accounts_support;

mod charges_flows;
mod charges_queries;
mod charges_rules;
mod charges_support;

mod refunds_flows;
mod refunds_rules;
mod refunds_support;

mod disputes_flows;

mod debits_rules;

mod payouts_failures;
mod payouts_instant;
mod payouts_schedules;
mod payouts_support;

mod demo;

mod events_subscription;

mod foundation_bad_input;
mod foundation_concurrency;
mod foundation_crash;
mod foundation_idempotency;
mod foundation_ledger;
mod policy_files;
mod policy_reload;
mod policy_sandbox;
mod policy_server;
mod schema_file;
mod webhooks;
mod webhooks_cli;
mod webhooks_outbox;
mod webhooks_security;
mod webhooks_support;
