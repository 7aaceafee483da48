//! The test payment methods (Stripe's names) and what each one does.

/// The card behind a payment method, as policies see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Card {
    pub brand: &'static str,
    pub country: &'static str,
    pub funding: &'static str,
}

/// What happens when a payment method is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Succeeds,
    /// Declined with this decline code and message.
    Declined {
        decline_code: &'static str,
        message: &'static str,
    },
    /// Succeeds, then the customer disputes it.
    SucceedsThenDisputed,
    /// Succeeds and the funds are available at once.
    SucceedsAvailableAtOnce,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethod {
    pub name: &'static str,
    pub card: Card,
    pub behaviour: Behaviour,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a test payment method; use pm_card_visa, pm_card_mastercard, tok_visa, pm_card_chargeDeclined, pm_card_chargeDeclinedInsufficientFunds, pm_card_createDispute or pm_card_bypassPending")]
pub struct UnknownPaymentMethod(pub String);

const VISA: Card = Card {
    brand: "visa",
    country: "US",
    funding: "credit",
};

const MASTERCARD: Card = Card {
    brand: "mastercard",
    country: "US",
    funding: "credit",
};

const TABLE: &[PaymentMethod] = &[
    PaymentMethod {
        name: "pm_card_visa",
        card: VISA,
        behaviour: Behaviour::Succeeds,
    },
    PaymentMethod {
        name: "tok_visa",
        card: VISA,
        behaviour: Behaviour::Succeeds,
    },
    PaymentMethod {
        name: "pm_card_mastercard",
        card: MASTERCARD,
        behaviour: Behaviour::Succeeds,
    },
    PaymentMethod {
        name: "pm_card_chargeDeclined",
        card: VISA,
        behaviour: Behaviour::Declined {
            decline_code: "generic_decline",
            message: "Your card was declined.",
        },
    },
    PaymentMethod {
        name: "pm_card_chargeDeclinedInsufficientFunds",
        card: VISA,
        behaviour: Behaviour::Declined {
            decline_code: "insufficient_funds",
            message: "Your card has insufficient funds.",
        },
    },
    PaymentMethod {
        name: "pm_card_createDispute",
        card: VISA,
        behaviour: Behaviour::SucceedsThenDisputed,
    },
    PaymentMethod {
        name: "pm_card_bypassPending",
        card: VISA,
        behaviour: Behaviour::SucceedsAvailableAtOnce,
    },
];

impl PaymentMethod {
    /// Every test payment method, in the order the README lists them.
    pub fn all() -> &'static [PaymentMethod] {
        TABLE
    }

    pub fn parse(name: &str) -> Result<PaymentMethod, UnknownPaymentMethod> {
        TABLE
            .iter()
            .find(|method| method.name == name)
            .cloned()
            .ok_or_else(|| UnknownPaymentMethod(name.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_method_has_its_behaviour() {
        let cases = [
            ("pm_card_visa", Behaviour::Succeeds),
            ("tok_visa", Behaviour::Succeeds),
            ("pm_card_mastercard", Behaviour::Succeeds),
            ("pm_card_createDispute", Behaviour::SucceedsThenDisputed),
            ("pm_card_bypassPending", Behaviour::SucceedsAvailableAtOnce),
        ];
        for (name, behaviour) in cases {
            assert_eq!(
                PaymentMethod::parse(name).map(|m| m.behaviour),
                Ok(behaviour),
                "{name}"
            );
        }
        assert!(matches!(
            PaymentMethod::parse("pm_card_chargeDeclinedInsufficientFunds").map(|m| m.behaviour),
            Ok(Behaviour::Declined {
                decline_code: "insufficient_funds",
                ..
            })
        ));
        assert!(PaymentMethod::parse("pm_card_unknown").is_err());
    }
}
