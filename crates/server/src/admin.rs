//! The admin API: JSON over HTTP on the client listener (loopback only until SigV4
//! authentication arrives with the AWS API front end).
//!
//! Status and `consistency=local` reads are answered by the node that receives them. Everything
//! else is a [`LeaderOp`] routed to the leader through the cluster layer, which forwards it
//! from a follower and answers as if the follower had served it.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use trent_cluster::{ClusterError, ClusterNode, ForwardHandler};
use trent_model::{AccountId, Error, KeyId};
use trent_state::Command;
use uuid::Uuid;

const REQUEST_ID_HEADER: &str = "x-trent-request-id";
/// AWS SDKs send the same invocation id on every retry of one call.
const SDK_INVOCATION_HEADER: &str = "amz-sdk-invocation-id";
const LIST_LIMIT: usize = 1_000;
/// The forwarding channel of admin requests.
const CHANNEL: u8 = b'A';

/// An operation only the leader may carry out.
#[derive(Serialize, Deserialize)]
enum LeaderOp {
    AddNode { id: u64, addr: String },
    RemoveNode { id: u64 },
    Command(Command),
    GetKey(KeyId),
    ListKeys(AccountId),
}

/// The leader's answer, carried back to the node that received the request.
#[derive(Serialize, Deserialize)]
struct Reply {
    status: u16,
    body: serde_json::Value,
}

impl Reply {
    fn ok(body: impl Serialize) -> Reply {
        Reply {
            status: 200,
            body: serde_json::to_value(body).expect("reply serializes"),
        }
    }
    fn error(e: &Error) -> Reply {
        Reply {
            status: e.http_status(),
            body: serde_json::json!({"__type": e.aws_code(), "message": e.message}),
        }
    }
}

/// Serves [`LeaderOp`]s on the leader.
pub struct LeaderHandler {
    pub node: ClusterNode,
}

#[async_trait::async_trait]
impl ForwardHandler for LeaderHandler {
    async fn handle(&self, request_id: Uuid, payload: Vec<u8>) -> Result<Vec<u8>, ClusterError> {
        let op: LeaderOp = serde_json::from_slice(&payload)
            .map_err(|e| ClusterError::Invalid(format!("undecodable forwarded request: {e}")))?;
        let node = &self.node;
        let reply = match op {
            LeaderOp::AddNode { id, addr } => node
                .add_node(id, addr)
                .await
                .map(|_| Reply::ok(serde_json::json!({}))),
            LeaderOp::RemoveNode { id } => node
                .remove_node(id)
                .await
                .map(|_| Reply::ok(serde_json::json!({}))),
            LeaderOp::Command(command) => {
                node.write(request_id, command)
                    .await
                    .map(|response| match response {
                        Ok(outcome) => Reply::ok(outcome),
                        Err(e) => Reply::error(&e),
                    })
            }
            LeaderOp::GetKey(id) => node.read(|s| s.key(&id).cloned()).await.map(Reply::ok),
            LeaderOp::ListKeys(account) => node
                .read(|s| {
                    s.keys(&account, None, LIST_LIMIT)
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .await
                .map(Reply::ok),
        };
        let reply = match reply {
            Ok(reply) => reply,
            // Nothing was done: let the cluster layer take the request to the new leader.
            Err(e @ ClusterError::NotLeader { .. }) => return Err(e),
            Err(e) => Reply::error(&e.into()),
        };
        Ok(serde_json::to_vec(&reply).expect("reply serializes"))
    }
}

pub fn router(node: ClusterNode) -> Router {
    node.set_forward_handler(CHANNEL, Arc::new(LeaderHandler { node: node.clone() }));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/admin/v1/cluster/status", get(status))
        .route("/admin/v1/cluster/nodes", post(add_node))
        .route("/admin/v1/cluster/nodes/{id}", delete(remove_node))
        .route("/admin/v1/state/commands", post(command))
        .route("/admin/v1/state/keys", get(list_keys))
        .route("/admin/v1/state/keys/{id}", get(get_key))
        .with_state(node)
}

fn error_response(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(serde_json::json!({"__type": e.aws_code(), "message": e.message})),
    )
        .into_response()
}

/// The request id of a client request: the caller's, if it sent a valid one, else a new one.
fn request_id(headers: &HeaderMap) -> Uuid {
    [REQUEST_ID_HEADER, SDK_INVOCATION_HEADER]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok()?.parse().ok())
        .next()
        .unwrap_or_else(Uuid::new_v4)
}

async fn route(node: &ClusterNode, headers: &HeaderMap, op: LeaderOp) -> Response {
    let id = request_id(headers);
    let payload = serde_json::to_vec(&op).expect("op serializes");
    let mut response = match node.route(CHANNEL, id, payload).await {
        Err(e) => error_response(&e.into()),
        Ok(bytes) => match serde_json::from_slice::<Reply>(&bytes) {
            Ok(reply) => {
                let status =
                    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(reply.body)).into_response()
            }
            Err(e) => error_response(&Error::internal(format!(
                "undecodable reply from the leader: {e}"
            ))),
        },
    };
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

async fn status(State(node): State<ClusterNode>) -> Json<trent_model::ClusterStatus> {
    Json(node.status())
}

#[derive(Deserialize)]
struct AddNodeBody {
    id: u64,
    addr: String,
}

async fn add_node(
    State(node): State<ClusterNode>,
    headers: HeaderMap,
    Json(body): Json<AddNodeBody>,
) -> Response {
    route(
        &node,
        &headers,
        LeaderOp::AddNode {
            id: body.id,
            addr: body.addr,
        },
    )
    .await
}

async fn remove_node(
    State(node): State<ClusterNode>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    route(&node, &headers, LeaderOp::RemoveNode { id }).await
}

async fn command(
    State(node): State<ClusterNode>,
    headers: HeaderMap,
    Json(command): Json<Command>,
) -> Response {
    route(&node, &headers, LeaderOp::Command(command)).await
}

#[derive(Deserialize)]
struct ReadParams {
    consistency: Option<String>,
    account: Option<String>,
}

/// Whether the caller asked for a local (possibly stale) read; anything else is linearizable.
fn wants_local(params: &ReadParams) -> Result<bool, Error> {
    match params.consistency.as_deref() {
        None | Some("linearizable") => Ok(false),
        Some("local") => Ok(true),
        Some(other) => Err(Error::validation(
            "consistency",
            format!("'{other}' is neither linearizable nor local"),
        )),
    }
}

async fn get_key(
    State(node): State<ClusterNode>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ReadParams>,
) -> Response {
    let id: KeyId = match id.parse() {
        Ok(id) => id,
        Err(e) => return error_response(&e),
    };
    match wants_local(&params) {
        Err(e) => error_response(&e),
        Ok(true) => Json(node.read_local(|s| s.key(&id).cloned())).into_response(),
        Ok(false) => route(&node, &headers, LeaderOp::GetKey(id)).await,
    }
}

async fn list_keys(
    State(node): State<ClusterNode>,
    headers: HeaderMap,
    Query(params): Query<ReadParams>,
) -> Response {
    let account: AccountId = match params.account.as_deref().unwrap_or_default().parse() {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    match wants_local(&params) {
        Err(e) => error_response(&e),
        Ok(true) => Json(node.read_local(|s| {
            s.keys(&account, None, LIST_LIMIT)
                .cloned()
                .collect::<Vec<_>>()
        }))
        .into_response(),
        Ok(false) => route(&node, &headers, LeaderOp::ListKeys(account)).await,
    }
}
