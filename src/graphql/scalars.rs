//! The contract's scalars. Inputs are taken as given and converted to domain types in the
//! resolvers, so a bad value becomes an INVALID_REQUEST naming the offending parameter
//! rather than a generic parse failure.

use async_graphql::{InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::money::{Currency, MinorUnits, MAX_JSON_INTEGER};
use crate::service::ServiceError;

macro_rules! raw_scalar {
    ($(#[$doc:meta])* $name:ident, $graphql_name:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name(pub Value);

        #[Scalar(name = $graphql_name)]
        impl ScalarType for $name {
            fn parse(value: Value) -> InputValueResult<Self> {
                Ok($name(value))
            }

            fn is_valid(_value: &Value) -> bool {
                true
            }

            fn to_value(&self) -> Value {
                self.0.clone()
            }
        }
    };
}

raw_scalar!(
    /// An amount in the currency's smallest unit, as a JSON integer within ±(2^53 − 1).
    MinorUnitsScalar,
    "MinorUnits"
);
raw_scalar!(
    /// A lowercase ISO 4217 currency code the gateway supports.
    CurrencyScalar,
    "Currency"
);
raw_scalar!(
    /// An uppercase ISO 3166-1 alpha-2 country code.
    CountryCodeScalar,
    "CountryCode"
);
raw_scalar!(
    /// An RFC 3339 timestamp in UTC.
    DateTimeScalar,
    "DateTime"
);
raw_scalar!(
    /// A decimal number written as a JSON string.
    DecimalScalar,
    "Decimal"
);
raw_scalar!(
    /// A JSON object of string keys to string values.
    MetadataScalar,
    "Metadata"
);
raw_scalar!(
    /// A JSON value.
    JsonScalar,
    "JSON"
);

fn describe(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(64).collect()
}

impl MinorUnitsScalar {
    pub fn output(amount: MinorUnits) -> MinorUnitsScalar {
        MinorUnitsScalar(Value::from(amount.get()))
    }

    /// Any integer within ±(2^53 − 1); the use case narrows it further.
    pub fn to_integer(&self, param: &str) -> Result<i64, ServiceError> {
        let invalid = || {
            ServiceError::invalid(
                param,
                format!(
                    "Invalid {param}: {} is not an integer number of minor units within ±{MAX_JSON_INTEGER}",
                    describe(&self.0)
                ),
            )
        };
        let Value::Number(number) = &self.0 else {
            return Err(invalid());
        };
        let value = number.as_i64().ok_or_else(invalid)?;
        if value.unsigned_abs() > MAX_JSON_INTEGER.unsigned_abs() {
            return Err(invalid());
        }
        Ok(value)
    }

    /// An amount for one operation: positive and at most the per-operation limit.
    pub fn to_amount(&self, param: &str) -> Result<MinorUnits, ServiceError> {
        MinorUnits::positive_amount(self.to_integer(param)?)
            .map_err(|error| ServiceError::money(param, error))
    }

    /// A fee: zero or more, at most the per-operation limit.
    pub fn to_fee(&self, param: &str) -> Result<MinorUnits, ServiceError> {
        MinorUnits::fee_amount(self.to_integer(param)?)
            .map_err(|error| ServiceError::money(param, error))
    }
}

impl CurrencyScalar {
    pub fn output(currency: Currency) -> CurrencyScalar {
        CurrencyScalar(Value::from(currency.code()))
    }

    pub fn to_currency(&self, param: &str) -> Result<Currency, ServiceError> {
        let Value::String(code) = &self.0 else {
            return Err(ServiceError::invalid(
                param,
                format!(
                    "Invalid {param}: {} is not a currency code",
                    describe(&self.0)
                ),
            ));
        };
        Currency::parse(code).map_err(|error| ServiceError::money(param, error))
    }
}

impl CountryCodeScalar {
    pub fn output(code: &str) -> CountryCodeScalar {
        CountryCodeScalar(Value::from(code))
    }

    pub fn to_text(&self, param: &str) -> Result<String, ServiceError> {
        match &self.0 {
            Value::String(code) => Ok(code.clone()),
            other => Err(ServiceError::invalid(
                param,
                format!("Invalid {param}: {} is not a country code", describe(other)),
            )),
        }
    }
}

impl DateTimeScalar {
    pub fn output(time: DateTime<Utc>) -> DateTimeScalar {
        DateTimeScalar(Value::from(time.to_rfc3339_opts(SecondsFormat::Secs, true)))
    }

    pub fn to_time(&self, param: &str) -> Result<DateTime<Utc>, ServiceError> {
        let invalid = || {
            ServiceError::invalid(
                param,
                format!(
                    "Invalid {param}: {} is not an RFC 3339 timestamp",
                    describe(&self.0)
                ),
            )
        };
        let Value::String(text) = &self.0 else {
            return Err(invalid());
        };
        DateTime::parse_from_rfc3339(text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| invalid())
    }
}

impl DecimalScalar {
    pub fn output(text: String) -> DecimalScalar {
        DecimalScalar(Value::String(text))
    }
}

impl JsonScalar {
    pub fn output(value: &serde_json::Value) -> JsonScalar {
        JsonScalar(Value::from_json(value.clone()).unwrap_or(Value::Null))
    }
}

impl MetadataScalar {
    pub fn output(map: &std::collections::BTreeMap<String, String>) -> MetadataScalar {
        let object = map
            .iter()
            .map(|(key, value)| (async_graphql::Name::new(key), Value::from(value.as_str())))
            .collect();
        MetadataScalar(Value::Object(object))
    }

    /// The raw key/value pairs, each value a string; limits are checked by the domain.
    pub fn to_pairs(
        &self,
        param: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, ServiceError> {
        let Value::Object(object) = &self.0 else {
            return Err(ServiceError::invalid(
                param,
                format!("Invalid {param}: metadata must be an object of string values"),
            ));
        };
        let mut pairs = std::collections::BTreeMap::new();
        for (key, value) in object {
            let Value::String(text) = value else {
                return Err(ServiceError::invalid(
                    format!("{param}.{key}"),
                    format!("Invalid {param}: the value of '{key}' must be a string"),
                ));
            };
            pairs.insert(key.to_string(), text.clone());
        }
        Ok(pairs)
    }
}
