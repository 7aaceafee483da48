//! The integration tests: one binary, a `spawn_app()` helper per test (temporary data
//! directory, port 0, simulated clock), and one module per capability.

mod helpers;
mod test_store;

mod accounts_hosted;
mod accounts_onboarding;
mod accounts_pagination;
mod accounts_rules;
mod accounts_support;
mod accounts_updates;
mod api_keys;

mod charges_batches;
mod charges_flows;
mod charges_queries;
mod charges_rules;
mod charges_support;

mod connect_flows;
mod connect_pages;
mod connect_support;

mod refunds_flows;
mod refunds_rules;
mod refunds_support;

mod disputes_flows;

mod debits_rules;

mod payouts_failures;
mod payouts_instant;
mod payouts_reserve;
mod payouts_schedules;
mod payouts_support;

mod browser;
mod demo;
mod express_dashboard;
mod graphiql;
mod operations;
mod operator;
mod packaging;

mod events_subscription;

mod foundation_bad_input;
mod foundation_clocks;
mod foundation_concurrency;
mod foundation_crash;
mod foundation_idempotency;
mod foundation_ledger;
mod foundation_paging;
mod foundation_timers;
mod ledger_integrity;
mod perf_footprint;
mod policy_backtest_cli;
mod policy_backtests;
mod policy_checks;
mod policy_fairness;
mod policy_files;
mod policy_reload;
mod policy_sandbox;
mod policy_server;
mod policy_startup;
mod readme;
mod schema_file;
mod scope_walk;
mod store_format;
mod webhooks;

mod bank_workload;
mod hardening_hostile;
mod hardening_limits;
mod hardening_websocket;
mod model_app;
mod model_case;
mod model_design;
mod model_moves;
mod model_ops;
mod model_property;
mod model_reference;
mod money_regressions;
mod multi_process;
mod multi_server;
mod sharding;
mod webhooks_cli;
mod webhooks_outbox;
mod webhooks_security;
mod webhooks_support;
