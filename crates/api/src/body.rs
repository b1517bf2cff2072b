//! Reading a request body before anyone knows who sent it: bounded in size ([`MAX_BODY`]), in
//! time (the body deadline) and in memory per connection ([`ConnectionBudget`]).
//!
//! The budget is what keeps one HTTP/2 connection from buffering a body on each of its
//! streams: every stream of a connection draws from the same budget, the bytes stay drawn
//! until the request has been answered, and a request that cannot draw waits, within its
//! deadline, without reading (so HTTP/2 flow control stops the sender). A body is read only
//! within its deadline; past it the request is answered 408.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use trent_model::Error;

use crate::MAX_BODY;

/// The bytes of request bodies one connection may hold before they are authenticated,
/// shared by all its requests. The listener puts one in the extensions of every request of a
/// connection; a request without one (a test, an in-process caller) is bounded by
/// [`MAX_BODY`] and its deadline only.
#[derive(Clone, Debug)]
pub struct ConnectionBudget(Arc<Semaphore>);

impl ConnectionBudget {
    /// A budget of `bytes`; at least [`MAX_BODY`], so that the largest request can pass.
    pub fn new(bytes: usize) -> ConnectionBudget {
        ConnectionBudget(Arc::new(Semaphore::new(bytes.max(MAX_BODY))))
    }

    /// Bytes not drawn now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }

    async fn draw(&self, bytes: usize) -> OwnedSemaphorePermit {
        let bytes = u32::try_from(bytes).expect("at most MAX_BODY bytes are drawn at once");
        self.0
            .clone()
            .acquire_many_owned(bytes)
            .await
            .expect("the budget's semaphore is never closed")
    }
}

/// Why a body was not read.
pub(crate) enum Refused {
    /// Too large, or the stream broke.
    Bad(Error),
    /// The deadline passed (answered 408).
    Deadline,
}

/// The body, and the budget it holds until the request is answered.
pub(crate) struct Read {
    pub body: Vec<u8>,
    pub held: Option<OwnedSemaphorePermit>,
}

/// Reads `body` within `deadline`, drawing from `budget` as it goes: the whole declared
/// length at once (so two requests of one connection never each hold half of what both
/// need), or each chunk of a body of unknown length.
pub(crate) async fn read(
    headers: &HeaderMap,
    body: Body,
    budget: Option<&ConnectionBudget>,
    deadline: Duration,
) -> Result<Read, Refused> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let reading = read_within_budget(body, budget, declared.map(|n| n as usize));
    match tokio::time::timeout(deadline, reading).await {
        Ok(result) => result,
        Err(_) => Err(Refused::Deadline),
    }
}

async fn read_within_budget(
    mut body: Body,
    budget: Option<&ConnectionBudget>,
    declared: Option<usize>,
) -> Result<Read, Refused> {
    let mut held: Option<OwnedSemaphorePermit> = match (budget, declared) {
        (Some(budget), Some(n)) if n > 0 => Some(budget.draw(n).await),
        _ => None,
    };
    let mut out = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(frame) = frame else {
            return Err(Refused::Bad(Error::body_unreadable()));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if out.len() + data.len() > MAX_BODY {
            return Err(too_large());
        }
        let beyond_declared = (out.len() + data.len()).saturating_sub(declared.unwrap_or(0));
        let unheld = beyond_declared.min(data.len());
        if let (Some(budget), true) = (budget, unheld > 0) {
            let more = budget.draw(unheld).await;
            match &mut held {
                Some(permit) => permit.merge(more),
                None => held = Some(more),
            }
        }
        out.extend_from_slice(&data);
    }
    Ok(Read { body: out, held })
}

fn too_large() -> Refused {
    Refused::Bad(Error::too_large(MAX_BODY))
}
