//! The permission matrix by account type, in one place: what a platform may do to its connected
//! accounts, who manages their external accounts, and who bears their negative balances.
//!
//! | account type | platform sets payout schedule | platform makes instant payouts | platform debits the account | external accounts managed by | negative balances borne by |
//! |---|---|---|---|---|---|
//! | STANDARD | no | no | no | the holder (hosted page) | the account |
//! | EXPRESS  | yes | yes | yes | the holder (hosted page) | the platform |
//! | CUSTOM   | yes | yes | yes | the platform (API) | the platform |
//!
//! Each refusal carries a reason written for a FORBIDDEN error.

use serde::{Deserialize, Serialize};

use crate::domain::accounts::AccountType;

/// Who is acting on a connected account. Serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The platform, through the API with its secret key.
    Platform,
    /// The account holder, through the gateway's hosted pages.
    AccountHolder,
}

/// Who ultimately covers a connected account's negative balance. Serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeBalanceLiability {
    Account,
    Platform,
}

/// One row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountTypePermissions {
    pub platform_sets_payout_schedule: bool,
    pub platform_makes_instant_payouts: bool,
    pub platform_debits_account: bool,
    pub external_accounts_managed_by: Actor,
    pub negative_balance_liability: NegativeBalanceLiability,
}

/// The matrix itself.
pub const fn permissions_of(account_type: AccountType) -> AccountTypePermissions {
    match account_type {
        AccountType::Standard => AccountTypePermissions {
            platform_sets_payout_schedule: false,
            platform_makes_instant_payouts: false,
            platform_debits_account: false,
            external_accounts_managed_by: Actor::AccountHolder,
            negative_balance_liability: NegativeBalanceLiability::Account,
        },
        AccountType::Express => AccountTypePermissions {
            platform_sets_payout_schedule: true,
            platform_makes_instant_payouts: true,
            platform_debits_account: true,
            external_accounts_managed_by: Actor::AccountHolder,
            negative_balance_liability: NegativeBalanceLiability::Platform,
        },
        AccountType::Custom => AccountTypePermissions {
            platform_sets_payout_schedule: true,
            platform_makes_instant_payouts: true,
            platform_debits_account: true,
            external_accounts_managed_by: Actor::Platform,
            negative_balance_liability: NegativeBalanceLiability::Platform,
        },
    }
}

/// A refused action; its message is the reason, suitable for a FORBIDDEN error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PermissionDenied {
    #[error("the payout schedule of a standard account is managed by the account holder, not the platform")]
    PayoutScheduleOfStandardAccount,
    #[error(
        "instant payouts of a standard account are made by the account holder, not the platform"
    )]
    InstantPayoutOfStandardAccount,
    #[error("a standard account cannot be debited by the platform: only accounts whose negative balances the platform bears (express, custom) can")]
    DebitOfStandardAccount,
    #[error("the external accounts of {account} are managed by the account holder through the hosted page, not by the platform")]
    ExternalAccountsManagedByHolder { account: &'static str },
    #[error("the external accounts of a custom account are managed by the platform through the API, not by the account holder")]
    ExternalAccountsManagedByPlatform,
}

pub fn check_may_set_payout_schedule(account_type: AccountType) -> Result<(), PermissionDenied> {
    if permissions_of(account_type).platform_sets_payout_schedule {
        Ok(())
    } else {
        Err(PermissionDenied::PayoutScheduleOfStandardAccount)
    }
}

pub fn check_may_make_instant_payout(account_type: AccountType) -> Result<(), PermissionDenied> {
    if permissions_of(account_type).platform_makes_instant_payouts {
        Ok(())
    } else {
        Err(PermissionDenied::InstantPayoutOfStandardAccount)
    }
}

pub fn check_may_debit_account(account_type: AccountType) -> Result<(), PermissionDenied> {
    if permissions_of(account_type).platform_debits_account {
        Ok(())
    } else {
        Err(PermissionDenied::DebitOfStandardAccount)
    }
}

pub fn check_may_manage_external_accounts(
    account_type: AccountType,
    actor: Actor,
) -> Result<(), PermissionDenied> {
    match (
        permissions_of(account_type).external_accounts_managed_by,
        actor,
    ) {
        (manager, actor) if manager == actor => Ok(()),
        (Actor::AccountHolder, _) => Err(PermissionDenied::ExternalAccountsManagedByHolder {
            account: described(account_type),
        }),
        (Actor::Platform, _) => Err(PermissionDenied::ExternalAccountsManagedByPlatform),
    }
}

pub fn negative_balance_liability(account_type: AccountType) -> NegativeBalanceLiability {
    permissions_of(account_type).negative_balance_liability
}

/// The account type with its article, for messages.
fn described(account_type: AccountType) -> &'static str {
    match account_type {
        AccountType::Standard => "a standard account",
        AccountType::Express => "an express account",
        AccountType::Custom => "a custom account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountType::{Custom, Express, Standard};

    #[test]
    fn platform_actions_by_type() {
        // (type, payout schedule, instant payout, debit, liability)
        let cases = [
            (
                Standard,
                false,
                false,
                false,
                NegativeBalanceLiability::Account,
            ),
            (
                Express,
                true,
                true,
                true,
                NegativeBalanceLiability::Platform,
            ),
            (Custom, true, true, true, NegativeBalanceLiability::Platform),
        ];
        for (account_type, schedule, instant, debit, liability) in cases {
            assert_eq!(
                check_may_set_payout_schedule(account_type).is_ok(),
                schedule,
                "{account_type}"
            );
            assert_eq!(
                check_may_make_instant_payout(account_type).is_ok(),
                instant,
                "{account_type}"
            );
            assert_eq!(
                check_may_debit_account(account_type).is_ok(),
                debit,
                "{account_type}"
            );
            assert_eq!(
                negative_balance_liability(account_type),
                liability,
                "{account_type}"
            );
        }
    }

    #[test]
    fn external_account_management_by_type_and_actor() {
        let cases = [
            (
                Standard,
                Actor::Platform,
                Some(PermissionDenied::ExternalAccountsManagedByHolder {
                    account: "a standard account",
                }),
            ),
            (Standard, Actor::AccountHolder, None),
            (
                Express,
                Actor::Platform,
                Some(PermissionDenied::ExternalAccountsManagedByHolder {
                    account: "an express account",
                }),
            ),
            (Express, Actor::AccountHolder, None),
            (Custom, Actor::Platform, None),
            (
                Custom,
                Actor::AccountHolder,
                Some(PermissionDenied::ExternalAccountsManagedByPlatform),
            ),
        ];
        for (account_type, actor, expected) in cases {
            assert_eq!(
                check_may_manage_external_accounts(account_type, actor).err(),
                expected,
                "{account_type} {actor:?}"
            );
        }
    }

    #[test]
    fn reasons_read_as_forbidden_messages() {
        let cases = [
            (
                check_may_set_payout_schedule(Standard),
                "the payout schedule of a standard account is managed by the account holder, not the platform",
            ),
            (
                check_may_manage_external_accounts(Express, Actor::Platform),
                "the external accounts of an express account are managed by the account holder through the hosted page, not by the platform",
            ),
        ];
        for (result, message) in cases {
            assert_eq!(
                result.map_err(|error| error.to_string()),
                Err(message.to_owned())
            );
        }
    }
}
