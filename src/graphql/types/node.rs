//! The `Node` interface and `node(id:)` resolution by id prefix.

use async_graphql::Interface;

use super::balance_transactions::BalanceTransactionObject;
use super::platform::{EventObject, PlatformObject, TopupObject};
use crate::domain::balance_transactions::BalanceTransaction;
use crate::domain::events::Event;
use crate::domain::topups::Topup;
use crate::ids::prefix_of;
use crate::service::{Caller, ServiceError, Services};

#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "async_graphql::ID"))]
pub enum Node {
    Platform(PlatformObject),
    Topup(TopupObject),
    BalanceTransaction(BalanceTransactionObject),
    Event(EventObject),
}

/// Finds any of the caller's objects by id; another platform's is simply absent.
pub fn resolve(services: &Services, caller: &Caller, id: &str) -> Result<Option<Node>, ServiceError> {
    let node = match prefix_of(id) {
        Some("plat") if id == caller.platform.id.as_ref() => Some(Node::Platform(PlatformObject(caller.platform.clone()))),
        Some("tu") => services.find::<Topup>(caller, id)?.map(|found| Node::Topup(TopupObject(found.value))),
        Some("txn") => services
            .find::<BalanceTransaction>(caller, id)?
            .map(|found| Node::BalanceTransaction(BalanceTransactionObject(found.value))),
        Some("evt") => services.find::<Event>(caller, id)?.map(|found| Node::Event(EventObject(found.value))),
        _ => None,
    };
    Ok(node)
}
