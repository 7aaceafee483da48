//! Account links and the hosted onboarding page behind them: a single-use, expiring URL where
//! the holder of a STANDARD or EXPRESS account submits the same details as
//! `submitAccountDetails`, plus a bank account; or, with an update link, where the holder of
//! an EXPRESS or CUSTOM account changes its current details.

use chrono::{DateTime, Utc};

use super::accounts::input_param;
use super::external_accounts::parse_bank_account;
use super::idempotency::{self, Prepared};
use super::onboarding::parse_details;
use super::{Access, Caller, Draft, ServiceError, Services};
use crate::domain::account_links::{AccountLink, AccountLinkType};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::BankAccountInput;
use crate::domain::details::DetailsInput;
use crate::domain::external_account_records::ExternalAccount;
use crate::domain::permissions::{check_may_manage_external_accounts, Actor};
use crate::domain::platforms::Platform;
use crate::ids::{AccountId, AccountLinkId, BankAccountId, PlatformId};
use crate::store::Versioned;

/// Where the hosted onboarding page is served; links are `<base>/onboarding/<platform>/<link>`.
pub const ONBOARDING_PATH: &str = "/onboarding";

/// The server's public base URL (`--public-url`, or the address it listens on), e.g.
/// `https://pay.example.com`; never taken from a request's Host header.
#[derive(Clone, Debug)]
pub struct PublicBaseUrl(pub String);

/// A parsed `createAccountLink` input.
#[derive(Clone, Debug)]
pub struct NewAccountLinkRequest {
    pub account: AccountId,
    pub refresh_url: String,
    pub return_url: String,
    pub link_type: AccountLinkType,
}

/// What `createAccountLink` returns.
#[derive(Clone, Debug)]
pub struct CreatedAccountLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// One problem with a submitted form, named by its field (`individual.dobDay`, `accountNumber`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormError {
    pub param: String,
    pub message: String,
}

/// What the hosted page shows.
#[derive(Clone, Debug)]
pub enum HostedPage {
    /// The form for this account, with the problems of a rejected submission.
    Form {
        account: Box<AccountRecord>,
        link_type: AccountLinkType,
        errors: Vec<FormError>,
    },
    /// Send the browser on: to returnUrl when done, to refreshUrl when the link is spent.
    Redirect(String),
    /// No such link.
    Missing,
}

/// The hosted form as submitted, already sorted into details and a bank account.
#[derive(Clone, Debug, Default)]
pub struct HostedSubmission {
    pub details: DetailsInput,
    pub account_number: Option<String>,
    pub routing_number: Option<String>,
}

/// The error a build returns when the link was spent between reading and committing.
fn link_spent() -> ServiceError {
    ServiceError::NotFound {
        message: "the link was used or expired".into(),
        param: Some("link".into()),
    }
}

impl Services {
    pub async fn create_account_link(
        &self,
        caller: &Caller,
        request: NewAccountLinkRequest,
        base: &PublicBaseUrl,
    ) -> Result<CreatedAccountLink, ServiceError> {
        let found = self.account_named(caller, &request.account, "input.account")?;
        let now = self.clock.now(&caller.platform.id);
        let link = AccountLink::new(
            self.ids.next(),
            request.account.clone(),
            found.value.account_type(),
            request.link_type,
            &request.refresh_url,
            &request.return_url,
            now,
        )
        .map_err(|error| ServiceError::invalid(input_param(error.param()), error.to_string()))?;
        let link_id = link.id().to_string();
        idempotency::run(self, caller, "createAccountLink", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, now);
            draft.insert(&link_id, &link, &[])?;
            Ok(Prepared {
                draft,
                object_id: link_id.clone(),
                error: None,
            })
        })
        .await?;
        Ok(CreatedAccountLink {
            url: format!(
                "{}{ONBOARDING_PATH}/{}/{link_id}",
                base.0.trim_end_matches('/'),
                caller.platform.id
            ),
            expires_at: link.expires_at(),
        })
    }

    /// The platform behind a link's URL as a caller, with the link; None when either is unknown.
    fn hosted_link(
        &self,
        platform: &str,
        link: &str,
    ) -> Result<Option<(Caller, Versioned<AccountLink>)>, ServiceError> {
        let (Ok(platform_id), Ok(link_id)) =
            (PlatformId::parse(platform), AccountLinkId::parse(link))
        else {
            return Ok(None);
        };
        let Some(found) = self
            .store
            .get_object::<Platform>(platform_id.as_ref(), platform_id.as_ref())?
        else {
            return Ok(None);
        };
        let caller = Caller {
            platform: found.value,
            connect_account: None,
            access: Access::Change,
            read_only: false,
        };
        Ok(self
            .find::<AccountLink>(&caller, link_id.as_ref())?
            .map(|link| (caller, link)))
    }

    /// The page for a GET of a link's URL.
    pub fn hosted_onboarding_page(
        &self,
        platform: &str,
        link: &str,
    ) -> Result<HostedPage, ServiceError> {
        let Some((caller, link)) = self.hosted_link(platform, link)? else {
            return Ok(HostedPage::Missing);
        };
        if !link.value.is_usable(self.clock.now(&caller.platform.id)) {
            return Ok(HostedPage::Redirect(link.value.refresh_url().to_owned()));
        }
        let account = self.account(&caller, link.value.account())?.value;
        Ok(HostedPage::Form {
            account: Box::new(account),
            link_type: link.value.link_type(),
            errors: Vec::new(),
        })
    }

    /// A POST of the form: invalid input shows the form again with its problems; valid input is
    /// submitted, the link is spent, and the browser goes to returnUrl.
    pub async fn submit_hosted_onboarding(
        &self,
        platform: &str,
        link: &str,
        submission: HostedSubmission,
    ) -> Result<HostedPage, ServiceError> {
        let Some((caller, found_link)) = self.hosted_link(platform, link)? else {
            return Ok(HostedPage::Missing);
        };
        let refresh = HostedPage::Redirect(found_link.value.refresh_url().to_owned());
        if !found_link
            .value
            .is_usable(self.clock.now(&caller.platform.id))
        {
            return Ok(refresh);
        }
        let account = self.account(&caller, found_link.value.account())?;
        let errors = self.check_submission(&caller, &account.value, &submission);
        if !errors.is_empty() {
            return Ok(HostedPage::Form {
                account: Box::new(account.value),
                link_type: found_link.value.link_type(),
                errors,
            });
        }
        let link_id = found_link.value.id().to_string();
        let outcome = idempotency::run(self, &caller, "hostedOnboarding", None, &(), || {
            self.prepare_hosted_submission(&caller, &link_id, &submission)
        })
        .await;
        match outcome {
            Ok(_) => Ok(HostedPage::Redirect(
                found_link.value.return_url().to_owned(),
            )),
            Err(error) if error == link_spent() => Ok(refresh),
            Err(error) => Err(error),
        }
    }

    /// Every problem with a submission, checked against the account as it is now.
    fn check_submission(
        &self,
        caller: &Caller,
        account: &AccountRecord,
        submission: &HostedSubmission,
    ) -> Vec<FormError> {
        let now = self.clock.now(&caller.platform.id);
        let mut problems = Vec::new();
        let mut trial = account.clone();
        match parse_details(&submission.details, account, now) {
            Ok(details) => {
                if let Err(error) = trial.submit_details(&details, now) {
                    problems.push(ServiceError::invalid(error.param(), error.to_string()));
                }
            }
            Err(error) => problems.push(error),
        }
        if let Some(bank) = bank_input(account, submission) {
            let may_add =
                check_may_manage_external_accounts(account.account_type(), Actor::AccountHolder);
            if let Err(denied) = may_add {
                problems.push(ServiceError::invalid("accountNumber", denied.to_string()));
            } else if let Err(error) = parse_bank_account(caller, bank, "") {
                problems.push(error);
            }
        }
        problems
            .into_iter()
            .map(|error| match error {
                ServiceError::InvalidRequest { message, param } => FormError {
                    param: param
                        .unwrap_or_default()
                        .trim_start_matches("input.")
                        .to_owned(),
                    message,
                },
                other => FormError {
                    param: String::new(),
                    message: other.to_string(),
                },
            })
            .collect()
    }

    fn prepare_hosted_submission(
        &self,
        caller: &Caller,
        link_id: &str,
        submission: &HostedSubmission,
    ) -> Result<Prepared, ServiceError> {
        let now = self.clock.now(&caller.platform.id);
        let link = self
            .find::<AccountLink>(caller, link_id)?
            .ok_or_else(link_spent)?;
        if !link.value.is_usable(now) {
            return Err(link_spent());
        }
        let found = self.account(caller, link.value.account())?;
        let mut account = found.value.clone();
        let details = parse_details(&submission.details, &account, now)?;
        let mut changes = account
            .submit_details(&details, now)
            .map_err(|error| ServiceError::invalid(error.param(), error.to_string()))?;
        let mut draft = Draft::new(&caller.platform.id, now);
        if let Some(bank) = bank_input(&account, submission) {
            check_may_manage_external_accounts(account.account_type(), Actor::AccountHolder)
                .map_err(|denied| {
                    ServiceError::forbidden(Some("accountNumber"), denied.to_string())
                })?;
            let bank = parse_bank_account(caller, bank, "")?;
            let id: BankAccountId = self.ids.next();
            let added = ExternalAccount::bank_account(id, bank, now);
            let added_changes =
                self.add_external_account_to_draft(&mut draft, &mut account, added, None)?;
            changes = changes.then(added_changes);
        }
        self.record_account_change(
            &mut draft,
            &caller.platform_key(),
            &found,
            &account,
            &changes,
        )?;
        draft.update(link_id, &link.value.consumed(), link.revision)?;
        Ok(Prepared {
            draft,
            object_id: account.id().to_string(),
            error: None,
        })
    }
}

/// The bank account a submission gives, in the account's country and default currency.
fn bank_input(account: &AccountRecord, submission: &HostedSubmission) -> Option<BankAccountInput> {
    submission
        .account_number
        .as_ref()
        .map(|account_number| BankAccountInput {
            country: account.country(),
            currency: account.default_currency(),
            routing_number: submission.routing_number.clone(),
            account_number: account_number.clone(),
        })
}
