//! The facts a policy sees: charges, accounts and payouts as Rust structs, and the Rhai maps they become.
//!
//! Maps carry the field names the policy documentation promises (`amount`, `currency`,
//! `flow`, `card.brand`, `account.type`, …). Absent optional values are `()`.

use std::collections::BTreeMap;

use rhai::{Dynamic, ImmutableString, Map};

use crate::money::{Currency, MinorUnits};

/// How a charge moves money between the platform and its connected accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeFlow {
    /// Created on the connected account; the platform takes an application fee.
    Direct,
    /// Created on the platform with `transferData.destination`.
    Destination,
    /// Created on the platform; transfers follow separately (the `route` hook).
    Separate,
}

impl ChargeFlow {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeFlow::Direct => "direct",
            ChargeFlow::Destination => "destination",
            ChargeFlow::Separate => "separate",
        }
    }

    pub fn parse(text: &str) -> Option<ChargeFlow> {
        [
            ChargeFlow::Direct,
            ChargeFlow::Destination,
            ChargeFlow::Separate,
        ]
        .into_iter()
        .find(|flow| flow.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountType {
    Standard,
    Express,
    Custom,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Standard => "standard",
            AccountType::Express => "express",
            AccountType::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<AccountType> {
        [
            AccountType::Standard,
            AccountType::Express,
            AccountType::Custom,
        ]
        .into_iter()
        .find(|account_type| account_type.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    /// Lowercase brand: "visa", "mastercard", …
    pub brand: String,
    /// Two-letter issuing country, uppercase.
    pub country: String,
    /// "credit", "debit", "prepaid" or "unknown".
    pub funding: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    pub id: String,
    pub account_type: AccountType,
    pub country: String,
    pub default_currency: Currency,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformFacts {
    pub id: String,
    pub name: String,
    pub country: String,
}

/// Everything a policy may know about a charge. Policies never see the store; this is it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeFacts {
    pub amount: MinorUnits,
    pub currency: Currency,
    pub flow: ChargeFlow,
    pub payment_method: String,
    pub card: CardFacts,
    /// The connected account involved: the one charged (direct), the destination, or none.
    pub account: Option<AccountFacts>,
    pub on_behalf_of: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub platform: PlatformFacts,
    pub created_unix_seconds: i64,
}

/// An instant payout, for the `instant_payout_fee` hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutFacts {
    pub amount: MinorUnits,
    pub currency: Currency,
    pub account: AccountFacts,
}

impl ChargeFacts {
    /// The `charge` map a hook receives.
    pub(crate) fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        insert(&mut map, "amount", Dynamic::from(self.amount.get()));
        insert(&mut map, "currency", text(self.currency.code()));
        insert(&mut map, "flow", text(self.flow.as_str()));
        insert(&mut map, "payment_method", text(&self.payment_method));
        insert(&mut map, "card", self.card.to_dynamic());
        insert(
            &mut map,
            "account",
            self.account
                .as_ref()
                .map_or(Dynamic::UNIT, AccountFacts::to_dynamic),
        );
        insert(
            &mut map,
            "on_behalf_of",
            optional_text(self.on_behalf_of.as_deref()),
        );
        insert(&mut map, "metadata", metadata(&self.metadata));
        insert(
            &mut map,
            "description",
            optional_text(self.description.as_deref()),
        );
        insert(
            &mut map,
            "transfer_group",
            optional_text(self.transfer_group.as_deref()),
        );
        insert(&mut map, "platform", self.platform.to_dynamic());
        insert(
            &mut map,
            "created",
            Dynamic::from(self.created_unix_seconds),
        );
        Dynamic::from_map(map)
    }
}

/// A charge converted once into the map its hooks receive. Build one per charge and pass
/// it to every hook: each call then copies the map (sharing its strings) instead of
/// rebuilding it.
#[derive(Debug, Clone)]
pub struct PreparedCharge {
    amount: MinorUnits,
    map: Dynamic,
}

impl PreparedCharge {
    pub fn new(facts: &ChargeFacts) -> PreparedCharge {
        PreparedCharge {
            amount: facts.amount,
            map: facts.to_dynamic(),
        }
    }

    pub fn amount(&self) -> MinorUnits {
        self.amount
    }

    /// A fresh copy for one hook call, so that nothing a hook does to its map reaches the next.
    pub(crate) fn to_argument(&self) -> Dynamic {
        self.map.clone()
    }
}

impl From<&ChargeFacts> for PreparedCharge {
    fn from(facts: &ChargeFacts) -> PreparedCharge {
        PreparedCharge::new(facts)
    }
}

impl CardFacts {
    fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        insert(&mut map, "brand", text(&self.brand));
        insert(&mut map, "country", text(&self.country));
        insert(&mut map, "funding", text(&self.funding));
        Dynamic::from_map(map)
    }
}

impl AccountFacts {
    /// The `account` map: `#{id, type, country, default_currency, metadata}`.
    pub(crate) fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        insert(&mut map, "id", text(&self.id));
        insert(&mut map, "type", text(self.account_type.as_str()));
        insert(&mut map, "country", text(&self.country));
        insert(
            &mut map,
            "default_currency",
            text(self.default_currency.code()),
        );
        insert(&mut map, "metadata", metadata(&self.metadata));
        Dynamic::from_map(map)
    }
}

impl PlatformFacts {
    fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        insert(&mut map, "id", text(&self.id));
        insert(&mut map, "name", text(&self.name));
        insert(&mut map, "country", text(&self.country));
        Dynamic::from_map(map)
    }
}

impl PayoutFacts {
    /// The `payout` map: `#{amount, currency, account}`.
    pub(crate) fn to_dynamic(&self) -> Dynamic {
        let mut map = Map::new();
        insert(&mut map, "amount", Dynamic::from(self.amount.get()));
        insert(&mut map, "currency", text(self.currency.code()));
        insert(&mut map, "account", self.account.to_dynamic());
        Dynamic::from_map(map)
    }
}

fn insert(map: &mut Map, key: &str, value: Dynamic) {
    map.insert(key.into(), value);
}

fn text(value: &str) -> Dynamic {
    // Straight to Rhai's string type: one allocation instead of two per value.
    Dynamic::from(ImmutableString::from(value))
}

fn optional_text(value: Option<&str>) -> Dynamic {
    value.map_or(Dynamic::UNIT, text)
}

fn metadata(entries: &BTreeMap<String, String>) -> Dynamic {
    let map: Map = entries
        .iter()
        .map(|(key, value)| (key.as_str().into(), text(value)))
        .collect();
    Dynamic::from_map(map)
}
