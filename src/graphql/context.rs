//! Reading the application state and the caller out of a resolver's context.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, OutputType};

use super::errors::to_graphql;
use crate::service::account_links::PublicBaseUrl;
use crate::service::{AppState, Caller, Page, PageRequest, ServiceError, Services};

pub fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<AppState>()
}

/// The authenticated caller; the HTTP layer refuses requests without one before execution.
pub fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Caller> {
    ctx.data::<Caller>().map_err(|_| {
        to_graphql(ServiceError::Unauthenticated {
            message: "Send 'Authorization: Bearer sk_…' with a platform's secret key".into(),
        })
    })
}

/// Where links to this server point: the request's (set by the HTTP layer), else
/// `--public-url`, else the listening address.
pub fn public_base_url(ctx: &Context<'_>) -> PublicBaseUrl {
    let services = services(ctx);
    ctx.data_opt::<PublicBaseUrl>().cloned().unwrap_or_else(|| {
        PublicBaseUrl(services.settings.public_url.as_ref().map_or_else(
            || format!("http://{}", services.settings.listen),
            |url| url.as_str().to_owned(),
        ))
    })
}

pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    PageRequest::parse(first, after.as_deref()).map_err(to_graphql)
}

/// A Relay connection from a page of records.
pub fn connection<T, N: OutputType>(page: Page<T>, node: impl Fn(T) -> N) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, item)| Edge::new(cursor, node(item))),
    );
    connection
}
