//! Money and balances on the wire.

use async_graphql::SimpleObject;

use crate::graphql::scalars::{CurrencyScalar, DecimalScalar, MinorUnitsScalar};
use crate::money::Money;
use crate::service::balances::BalanceView;

#[derive(SimpleObject, Clone)]
#[graphql(name = "Money")]
pub struct MoneyObject {
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    /// The amount in major units, e.g. "12.34" for 1234 usd.
    pub decimal: DecimalScalar,
}

impl From<Money> for MoneyObject {
    fn from(money: Money) -> Self {
        MoneyObject {
            amount: MinorUnitsScalar::output(money.amount),
            currency: CurrencyScalar::output(money.currency),
            decimal: DecimalScalar::output(money.decimal()),
        }
    }
}

fn list(moneys: Vec<Money>) -> Vec<MoneyObject> {
    moneys.into_iter().map(MoneyObject::from).collect()
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Balance")]
pub struct BalanceObject {
    pub available: Vec<MoneyObject>,
    pub pending: Vec<MoneyObject>,
    /// Held against connected accounts' negative balances (platforms only).
    pub reserved: Vec<MoneyObject>,
    pub instant_available: Vec<MoneyObject>,
}

impl From<BalanceView> for BalanceObject {
    fn from(view: BalanceView) -> Self {
        let BalanceView {
            available,
            pending,
            reserved,
            instant_available,
        } = view;
        BalanceObject {
            available: list(available),
            pending: list(pending),
            reserved: list(reserved),
            instant_available: list(instant_available),
        }
    }
}
