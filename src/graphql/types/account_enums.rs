//! The accounts' enums on the wire, each converted to and from its domain twin by an
//! exhaustive match.

use async_graphql::Enum;

use crate::domain::accounts::{AccountType, BusinessType};
use crate::domain::capabilities::{CapabilityName, CapabilityStatus};
use crate::domain::external_accounts::ExternalAccountStatus;
use crate::domain::payout_schedule::{PayoutInterval, Weekday};

/// Pairs a GraphQL enum with its domain enum, variant for variant, both ways.
macro_rules! mirrored_enum {
    ($name:ident, $graphql_name:literal, $domain:ident, [$($variant:ident),+ $(,)?]) => {
        #[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
        #[graphql(name = $graphql_name)]
        pub enum $name {
            $($variant),+
        }

        impl From<$domain> for $name {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => $name::$variant),+
                }
            }
        }

        impl From<$name> for $domain {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $domain::$variant),+
                }
            }
        }
    };
}

mirrored_enum!(
    AccountTypeEnum,
    "AccountType",
    AccountType,
    [Standard, Express, Custom]
);
mirrored_enum!(
    BusinessTypeEnum,
    "BusinessType",
    BusinessType,
    [Individual, Company, NonProfit]
);
mirrored_enum!(
    CapabilityNameEnum,
    "CapabilityName",
    CapabilityName,
    [CardPayments, Transfers]
);
mirrored_enum!(
    CapabilityStatusEnum,
    "CapabilityStatus",
    CapabilityStatus,
    [Active, Inactive, Pending]
);
mirrored_enum!(
    PayoutIntervalEnum,
    "PayoutInterval",
    PayoutInterval,
    [Manual, Daily, Weekly, Monthly]
);
mirrored_enum!(
    WeekdayEnum,
    "Weekday",
    Weekday,
    [Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday]
);
mirrored_enum!(
    ExternalAccountStatusEnum,
    "ExternalAccountStatus",
    ExternalAccountStatus,
    [New, Verified, Errored]
);
