//! What a client's answer or cancellation needs of the backend it is meant for, as a small
//! trait: sessions and callers hold a [`ServerLink`] instead of the backend itself, so they do
//! not depend on the backend module (which depends on them).

use futures_util::future::BoxFuture;
use gigmcp_mcp::jsonrpc::{ErrorObject, Id};
use serde_json::Value;
use std::sync::{Arc, Weak};
use tokio::sync::{Notify, oneshot};

/// A running server as seen by those who answer or cancel its requests.
pub trait ServerLink: Send + Sync {
    /// Sends a client's answer to the server's own request `id`.
    fn reply(&self, id: Id, outcome: Result<Value, ErrorObject>) -> BoxFuture<'_, ()>;
    /// Tells the server to stop working on its request `backend_id`.
    fn cancel<'a>(&'a self, backend_id: i64, reason: &'a str) -> BoxFuture<'a, ()>;
}

/// Where a client's answer to a server's request goes.
pub enum AnswerTo {
    /// A handshake-era server's own request: answered on its connection, under its id.
    Server { link: Weak<dyn ServerLink>, id: Id },
    /// One input request of a stateless server's `InputRequiredResult`: the gateway gathers
    /// the answers and retries the call with them.
    Gatherer(oneshot::Sender<Result<Value, ErrorObject>>),
}

impl AnswerTo {
    /// Passes the client's answer (or why there is none) on.
    pub async fn answer(self, outcome: Result<Value, ErrorObject>) {
        match self {
            AnswerTo::Server { link, id } => {
                if let Some(link) = link.upgrade() {
                    link.reply(id, outcome).await;
                }
            }
            AnswerTo::Gatherer(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// How a client's cancellation reaches the backend request its call became.
pub struct CancelHandle {
    /// `None` while the gateway itself waits for the client (asking it a server's questions).
    pub link: Option<Weak<dyn ServerLink>>,
    pub backend_id: i64,
    /// Wakes the gateway task waiting for the backend's answer.
    pub cancelled: Arc<Notify>,
}

impl CancelHandle {
    /// Cancels the backend request (if any) and wakes whoever waits for it.
    pub async fn cancel(self, reason: &str) {
        if let Some(link) = self.link.as_ref().and_then(Weak::upgrade) {
            link.cancel(self.backend_id, reason).await;
        }
        self.cancelled.notify_one();
    }
}
