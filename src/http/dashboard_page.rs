//! The Express dashboard as HTML: pure functions of what the service returned, with the
//! onboarding page's layout. Everything printed is escaped; elements carry ids so the page
//! can be checked as a browser renders it.

use std::collections::BTreeMap;

use super::onboarding_form::{escape_html, page};
use crate::domain::external_account_records::ExternalAccount;
use crate::domain::payout_schedule::{PayoutInterval, PayoutSchedule};
use crate::money::{Currency, Money};
use crate::service::express_dashboard::DashboardView;
use crate::service::login_links::EXPRESS_PATH;

/// The title of every dashboard page.
pub const DASHBOARD_TITLE: &str = "Express dashboard";
/// The form field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrfToken";

pub fn dashboard_path() -> String {
    format!("{EXPRESS_PATH}/dashboard")
}
pub fn add_bank_account_path() -> String {
    format!("{EXPRESS_PATH}/dashboard/bank-accounts")
}
pub fn default_external_account_path() -> String {
    format!("{EXPRESS_PATH}/dashboard/default-external-account")
}
pub fn sign_out_path() -> String {
    format!("{EXPRESS_PATH}/logout")
}

/// A page with only a message on it.
pub fn message_page(message: &str) -> String {
    page(
        DASHBOARD_TITLE,
        &format!("<p id=\"message\">{}</p>", escape_html(message)),
    )
}

/// The whole dashboard, with the problems of a refused form above it.
pub fn render_dashboard(view: &DashboardView, csrf_token: &str, problems: &[String]) -> String {
    let mut body = format!(
        "<h1 id=\"platform\">{}</h1>\n<p>Express dashboard of <span id=\"account\">{}</span></p>\n",
        escape_html(&view.platform_name),
        escape_html(view.account.id().as_ref())
    );
    if !problems.is_empty() {
        body.push_str("<ul class=\"error\" id=\"problems\">\n");
        for problem in problems {
            body.push_str(&format!("<li>{}</li>\n", escape_html(problem)));
        }
        body.push_str("</ul>\n");
    }
    body.push_str(&balance_section(view));
    body.push_str(&payouts_section(view));
    body.push_str(&format!(
        "<h2>Payout schedule</h2>\n<p id=\"payout-schedule\">{}</p>\n",
        escape_html(&describe_schedule(view.account.payout_schedule()))
    ));
    body.push_str(&external_accounts_section(view, csrf_token));
    body.push_str(&add_bank_account_form(view, csrf_token));
    body.push_str(&format!(
        "<form method=\"post\" action=\"{}\">{}<button type=\"submit\">Sign out</button></form>\n",
        sign_out_path(),
        csrf_input(csrf_token)
    ));
    page(DASHBOARD_TITLE, &body)
}

fn csrf_input(csrf_token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        escape_html(csrf_token)
    )
}

fn amount(money: Money) -> String {
    format!(
        "{} {}",
        money.decimal(),
        money.currency.code().to_uppercase()
    )
}

fn balance_section(view: &DashboardView) -> String {
    let mut by_currency: BTreeMap<Currency, (Option<Money>, Option<Money>)> = BTreeMap::new();
    for money in &view.balance.available {
        by_currency.entry(money.currency).or_default().0 = Some(*money);
    }
    for money in &view.balance.pending {
        by_currency.entry(money.currency).or_default().1 = Some(*money);
    }
    let mut html = String::from("<h2>Balance</h2>\n");
    if by_currency.is_empty() {
        html.push_str("<p id=\"no-balance\">Nothing yet.</p>\n");
        return html;
    }
    html.push_str(
        "<table id=\"balance\"><tr><th>Currency</th><th>Available</th><th>Pending</th></tr>\n",
    );
    for (currency, (available, pending)) in by_currency {
        let shown = |money: Option<Money>| money.unwrap_or(Money::zero(currency)).decimal();
        html.push_str(&format!(
            "<tr id=\"balance-{code}\"><th>{upper}</th><td class=\"available\">{}</td><td class=\"pending\">{}</td></tr>\n",
            shown(available),
            shown(pending),
            code = currency.code(),
            upper = currency.code().to_uppercase(),
        ));
    }
    html.push_str("</table>\n");
    html
}

fn payouts_section(view: &DashboardView) -> String {
    let mut html = String::from("<h2>Recent payouts</h2>\n");
    if view.recent_payouts.is_empty() {
        html.push_str("<p id=\"no-payouts\">No payouts yet.</p>\n");
        return html;
    }
    html.push_str(
        "<table id=\"payouts\"><tr><th>Amount</th><th>Status</th><th>Arrival date</th></tr>\n",
    );
    for payout in &view.recent_payouts {
        html.push_str(&format!(
            "<tr id=\"{}\"><td class=\"amount\">{}</td><td class=\"status\">{}</td><td class=\"arrival\">{}</td></tr>\n",
            escape_html(payout.id.as_ref()),
            escape_html(&amount(Money::new(payout.amount, payout.currency))),
            payout.status.as_str(),
            payout.arrival_date.format("%Y-%m-%d"),
        ));
    }
    html.push_str("</table>\n");
    html
}

/// The schedule in words, e.g. "Daily, 2 days after payment".
pub fn describe_schedule(schedule: &PayoutSchedule) -> String {
    let delay = match schedule.delay_days() {
        1 => "1 day after payment".to_owned(),
        days => format!("{days} days after payment"),
    };
    match schedule.interval() {
        PayoutInterval::Manual => "Manual: the platform pays out on request".to_owned(),
        PayoutInterval::Daily => format!("Daily, {delay}"),
        PayoutInterval::Weekly => match schedule.weekly_anchor() {
            Some(day) => format!("Weekly on {day:?}, {delay}"),
            None => format!("Weekly, {delay}"),
        },
        PayoutInterval::Monthly => match schedule.monthly_anchor() {
            Some(day) => format!("Monthly on day {day}, {delay}"),
            None => format!("Monthly, {delay}"),
        },
    }
}

fn describe_external_account(external: &ExternalAccount) -> String {
    match external {
        ExternalAccount::BankAccount(bank) => match bank.bank_name() {
            Some(name) => format!("Bank account ending {} ({name})", bank.last4()),
            None => format!("Bank account ending {}", bank.last4()),
        },
        ExternalAccount::DebitCard(card) => {
            format!(
                "{} debit card ending {}",
                card.brand().as_str(),
                card.last4()
            )
        }
    }
}

fn external_accounts_section(view: &DashboardView, csrf_token: &str) -> String {
    let mut html = String::from("<h2>Payout destinations</h2>\n");
    let externals = view.account.external_accounts();
    if externals.is_empty() {
        html.push_str("<p id=\"no-external-accounts\">None yet: add a bank account below.</p>\n");
        return html;
    }
    html.push_str("<table id=\"external-accounts\"><tr><th>Destination</th><th>Currency</th><th>Status</th><th>Default</th></tr>\n");
    for external in externals {
        let currency = external.currency().code().to_uppercase();
        let default = if external.default_for_currency() {
            format!("<span class=\"default\">Default for {currency}</span>")
        } else {
            format!(
                "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"externalAccount\" value=\"{}\"><button type=\"submit\">Make default for {currency}</button></form>",
                default_external_account_path(),
                csrf_input(csrf_token),
                escape_html(external.id()),
            )
        };
        html.push_str(&format!(
            "<tr id=\"{}\"><td class=\"destination\">{}</td><td>{currency}</td><td class=\"status\">{}</td><td>{default}</td></tr>\n",
            escape_html(external.id()),
            escape_html(&describe_external_account(external)),
            escape_html(&format!("{:?}", external.status()).to_uppercase()),
        ));
    }
    html.push_str("</table>\n");
    html
}

fn add_bank_account_form(view: &DashboardView, csrf_token: &str) -> String {
    format!(
        "<h2>Add a bank account</h2>\n<form id=\"add-bank-account\" method=\"post\" action=\"{}\">\n{}\n\
         <p>Country: {}</p>\n\
         <label>Currency <input name=\"currency\" value=\"{}\"></label>\n\
         <label>Routing number <input name=\"routingNumber\"></label>\n\
         <label>Account number <input name=\"accountNumber\" autocomplete=\"off\"></label>\n\
         <label><input type=\"checkbox\" name=\"defaultForCurrency\" value=\"true\"> Make it the default for its currency</label>\n\
         <button type=\"submit\">Add bank account</button>\n</form>\n",
        add_bank_account_path(),
        csrf_input(csrf_token),
        escape_html(view.account.country().code()),
        escape_html(view.account.default_currency().code()),
    )
}
