//! Pure business rules: no I/O, no async, no storage, no wire formats.
//!
//! Nothing under `domain/` imports the store, the script engine, the GraphQL or HTTP libraries, or tokio. Types whose
//! invariants matter are made only by `parse`-style constructors returning `Result`, and keep
//! their fields private. Enums that mirror a contract enum serialize as the contract spells
//! the value (SCREAMING_SNAKE_CASE: `EXPRESS`, `CARD_PAYMENTS`, `WEEKLY`, `MONDAY`); internal
//! enums serialize in snake_case; requirement fields and disabled reasons as their dotted
//! wire strings (`individual.dob.day`, `requirements.past_due`).

pub mod account_debits; // the platform debiting an Express or Custom account
pub mod account_links; // hosted onboarding links: single use, expiry, http(s) URLs
pub mod account_record; // a stored connected account and its transitions
pub mod accounts; // account and business types, the creation rules
pub mod api_keys; // restricted keys and the overlap of a rotated secret key
pub mod balance_transactions; // a holder's view of one ledger line
pub mod bank_accounts; // bank account numbers, routing numbers, failing test numbers
pub mod calendar; // business days, delays by country, payout days of a schedule
pub mod capabilities; // CARD_PAYMENTS and TRANSFERS: fields each needs, status rule
pub mod charge_facts; // the facts a charge's policy hooks were given, as recorded
pub mod charges; // charges, application fees and transfers, and their amount rules
pub mod connections; // standalone accounts, authorization codes, redirect URIs, scopes
pub mod countries; // the one table of supported countries
pub mod debit_cards; // debit cards from test tokens
pub mod details; // onboarding details as submitted, validated
pub mod disputes; // chargebacks: statuses, evidence, the deadline
pub mod email; // email addresses
pub mod events; // the record of a change
pub mod external_account_records; // bank accounts and debit cards as an account stores them
pub mod external_accounts; // status, default per currency, automatic payout destination
pub mod field_formats; // formats of single onboarding fields
pub mod identity; // individual, company and address details
pub mod instant_payouts; // who may receive an instant payout
pub mod login_links; // Express dashboard login links: single use, expiry, hashed tokens
pub mod metadata; // bounded metadata maps and their merging
pub mod payment_methods; // the test payment methods and what each does
pub mod payout_schedule; // validated payout schedules
pub mod payouts; // payouts, their status path and the scheduler's times of day
pub mod permissions; // the permission matrix by account type
pub mod platforms; // the platform record, names and policy names
pub mod policy_backtests; // replays of recorded charges under a candidate policy, and their record
pub mod refunds; // refunds and the proportional share of a fee or transfer
pub mod requirement_fields; // requirement field names, disabled reasons
pub mod requirements; // the onboarding state machine
pub mod text; // free-text fields
pub mod topups; // top-ups into the platform's balance
pub mod webhooks; // webhook endpoints and the events they want
