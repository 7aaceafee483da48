//! The hosted onboarding form as HTML: the fields for the account's business type, refilled
//! with what was sent (or, for an update link, the account's current details), never with a
//! secret. Everything printed is escaped.

use std::collections::HashMap;

use super::onboarding_page::CSRF_FIELD;
use crate::domain::account_links::AccountLinkType;
use crate::domain::account_record::AccountRecord;
use crate::domain::accounts::BusinessType;
use crate::domain::identity::Address;
use crate::domain::permissions::{check_may_manage_external_accounts, Actor};
use crate::service::account_links::FormError;

/// A form's fields by name.
pub(super) type FormValues = HashMap<String, String>;

/// Fields whose values are never printed back into the form after a failed submission.
pub(super) const SECRET_FIELDS: [&str; 4] = [
    "accountNumber",
    "individual.ssnLast4",
    "individual.idNumber",
    "company.taxId",
];

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The layout of every hosted page: a title and a narrow, unstyled-but-readable body.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}label{{display:block;margin:.4em 0}}\
         .error{{color:#b00}}\
         table{{border-collapse:collapse;margin:.4em 0}}th,td{{text-align:left;padding:.2em .8em .2em 0}}</style></head><body>{body}</body></html>",
        escape_html(title)
    )
}

pub(super) fn message_page(message: &str) -> String {
    page(
        "tollgate onboarding",
        &format!("<p>{}</p>", escape_html(message)),
    )
}

/// One text input, refilled with what was submitted unless it is a secret.
fn input(values: &FormValues, name: &str, label: &str) -> String {
    let current = if SECRET_FIELDS.contains(&name) {
        ""
    } else {
        values.get(name).map(String::as_str).unwrap_or_default()
    };
    format!(
        "<label>{} <input name=\"{}\" value=\"{}\"></label>\n",
        escape_html(label),
        escape_html(name),
        escape_html(current)
    )
}

fn individual_fields(account: &AccountRecord, values: &FormValues) -> String {
    let mut html = String::from("<fieldset><legend>About you</legend>\n");
    for (name, label) in [
        ("individual.firstName", "First name"),
        ("individual.lastName", "Last name"),
        ("individual.dobDay", "Day of birth"),
        ("individual.dobMonth", "Month of birth"),
        ("individual.dobYear", "Year of birth"),
    ] {
        html.push_str(&input(values, name, label));
    }
    if account.country().is_united_states() {
        html.push_str(&input(
            values,
            "individual.ssnLast4",
            "Last 4 digits of your SSN",
        ));
    } else {
        html.push_str(&input(values, "individual.idNumber", "National ID number"));
    }
    html.push_str(&address_fields(values, "individual"));
    html.push_str("</fieldset>\n");
    html
}

fn company_fields(values: &FormValues) -> String {
    let mut html = String::from("<fieldset><legend>Your company</legend>\n");
    html.push_str(&input(values, "company.name", "Company name"));
    html.push_str(&input(values, "company.taxId", "Tax ID"));
    html.push_str(&address_fields(values, "company"));
    html.push_str("</fieldset>\n");
    html
}

fn address_fields(values: &FormValues, prefix: &str) -> String {
    [
        ("line1", "Address"),
        ("city", "City"),
        ("postalCode", "Postal code"),
        ("state", "State or region"),
    ]
    .into_iter()
    .map(|(name, label)| input(values, &format!("{prefix}.address.{name}"), label))
    .collect()
}

/// The account's current details as form values, for an update link; secrets (ID and tax
/// numbers, bank accounts) are never shown.
pub(super) fn current_values(account: &AccountRecord) -> FormValues {
    let mut values = FormValues::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            values.insert(name.to_owned(), value.to_owned());
        }
    };
    let details = account.details();
    if let Some(individual) = details.individual() {
        put("individual.firstName", individual.first_name());
        put("individual.lastName", individual.last_name());
        if let Some(born) = individual.date_of_birth() {
            use chrono::Datelike;
            put("individual.dobDay", Some(&born.day().to_string()));
            put("individual.dobMonth", Some(&born.month().to_string()));
            put("individual.dobYear", Some(&born.year().to_string()));
        }
        put_address(&mut put, "individual", individual.address());
    }
    if let Some(company) = details.company() {
        put("company.name", company.name());
        put_address(&mut put, "company", company.address());
    }
    put("businessUrl", details.business_url());
    put("mcc", details.mcc());
    values
}

fn put_address(put: &mut impl FnMut(&str, Option<&str>), prefix: &str, address: Option<&Address>) {
    let Some(address) = address else {
        return;
    };
    put(&format!("{prefix}.address.line1"), address.line1());
    put(&format!("{prefix}.address.city"), address.city());
    put(
        &format!("{prefix}.address.postalCode"),
        address.postal_code(),
    );
    put(&format!("{prefix}.address.state"), address.state());
}

pub(super) fn render_form(
    account: &AccountRecord,
    link_type: AccountLinkType,
    errors: &[FormError],
    values: &FormValues,
    csrf_token: &str,
) -> String {
    let heading = match link_type {
        AccountLinkType::AccountOnboarding => "Set up your account",
        AccountLinkType::AccountUpdate => "Update your account",
    };
    let mut body = format!(
        "<h1>{heading}</h1>\n<p>Account {} ({}, {})</p>\n",
        escape_html(account.id().as_ref()),
        escape_html(account.account_type().as_str()),
        escape_html(account.country().code())
    );
    if !errors.is_empty() {
        body.push_str("<ul class=\"error\">\n");
        for error in errors {
            body.push_str(&format!(
                "<li>{}: {}</li>\n",
                escape_html(&error.param),
                escape_html(&error.message)
            ));
        }
        body.push_str("</ul>\n");
    }
    let due: Vec<String> = account
        .requirements()
        .currently_due
        .iter()
        .map(|field| escape_html(field.as_str()))
        .collect();
    if !due.is_empty() {
        body.push_str(&format!("<p>Still needed: {}</p>\n", due.join(", ")));
    }
    body.push_str(&format!(
        "<form method=\"post\">\n<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\n",
        escape_html(csrf_token)
    ));
    match account.business_type() {
        None => {
            body.push_str(
                "<label>Business type <select name=\"businessType\"><option value=\"\"></option>\
                 <option value=\"INDIVIDUAL\">Individual</option><option value=\"COMPANY\">Company</option>\
                 <option value=\"NON_PROFIT\">Non-profit</option></select></label>\n",
            );
            body.push_str(&individual_fields(account, values));
            body.push_str(&company_fields(values));
        }
        Some(BusinessType::Individual) => body.push_str(&individual_fields(account, values)),
        Some(BusinessType::Company | BusinessType::NonProfit) => {
            body.push_str(&company_fields(values))
        }
    }
    body.push_str("<fieldset><legend>Your business</legend>\n");
    body.push_str(&input(values, "businessUrl", "Website"));
    body.push_str(&input(values, "mcc", "Merchant category code"));
    body.push_str("</fieldset>\n");
    // A CUSTOM account's bank accounts are the platform's to manage.
    if check_may_manage_external_accounts(account.account_type(), Actor::AccountHolder).is_ok() {
        body.push_str("<fieldset><legend>Where to send payouts</legend>\n");
        body.push_str(
            "<label>Bank account number <input name=\"accountNumber\" autocomplete=\"off\"></label>\n",
        );
        body.push_str(&input(values, "routingNumber", "Routing number"));
        body.push_str("</fieldset>\n");
    }
    body.push_str(
        "<label><input type=\"checkbox\" name=\"tosAcceptance\" value=\"true\"> \
         I accept the terms of service</label>\n<button type=\"submit\">Submit</button>\n</form>\n",
    );
    page("tollgate onboarding", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_printed_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
        let values = FormValues::from([("mcc".to_owned(), "\"><script>".to_owned())]);
        assert!(!input(&values, "mcc", "MCC").contains("<script>"));
    }

    #[test]
    fn secrets_are_never_refilled() {
        for name in SECRET_FIELDS {
            let values = FormValues::from([(name.to_owned(), "4321".to_owned())]);
            assert!(!input(&values, name, "secret").contains("4321"), "{name}");
        }
        let values = FormValues::from([("individual.firstName".to_owned(), "Jo".to_owned())]);
        assert!(input(&values, "individual.firstName", "First name").contains("value=\"Jo\""));
    }
}
