//! A Rust client for trent's admin API (JSON over HTTP), used by the `trent` CLI and the
//! integration tests, and the load generator behind `trent bench`.

pub mod bench;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use trent_model::{AccountId, ClusterStatus, KeyId, KeyRecord};
use trent_state::{Command, Outcome};
use uuid::Uuid;

/// The header that carries a client request id; a retried write with the same id is applied
/// once.
pub const REQUEST_ID_HEADER: &str = "x-trent-request-id";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request did not get an answer (connection refused, timeout).
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The service answered with an error.
    #[error("{code} ({status}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClientError {
    /// The AWS-style error code, if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            ClientError::Transport(_) => None,
        }
    }
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Through the leader's read barrier: reflects every acknowledged write.
    Linearizable,
    /// From the answering node's own state; may be stale. For diagnostics and tests.
    Local,
}

impl Consistency {
    fn as_str(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Local => "local",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct AddNode {
    id: u64,
    addr: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type")]
    code: String,
    message: String,
}

/// A client for one node's admin endpoint.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    endpoint: String,
}

impl AdminClient {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self::with_timeout(endpoint, Duration::from_secs(30))
    }

    pub fn with_timeout(endpoint: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("http client");
        AdminClient {
            http,
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub async fn status(&self) -> Result<ClusterStatus, ClientError> {
        self.send(self.http.get(self.url("/admin/v1/cluster/status")))
            .await
    }

    /// Adds a node (as learner, then voter) at its peer address.
    pub async fn add_node(&self, id: u64, addr: &str) -> Result<(), ClientError> {
        let body = AddNode {
            id,
            addr: addr.into(),
        };
        self.send::<serde_json::Value>(
            self.http
                .post(self.url("/admin/v1/cluster/nodes"))
                .json(&body),
        )
        .await
        .map(drop)
    }

    pub async fn remove_node(&self, id: u64) -> Result<(), ClientError> {
        self.send::<serde_json::Value>(
            self.http
                .delete(self.url(&format!("/admin/v1/cluster/nodes/{id}"))),
        )
        .await
        .map(drop)
    }

    /// Proposes a state command. With a request id, a retry of the same write is applied once.
    pub async fn command(
        &self,
        request_id: Option<Uuid>,
        command: &Command,
    ) -> Result<Outcome, ClientError> {
        let mut request = self
            .http
            .post(self.url("/admin/v1/state/commands"))
            .json(command);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID_HEADER, id.to_string());
        }
        self.send(request).await
    }

    pub async fn get_key(
        &self,
        id: KeyId,
        consistency: Consistency,
    ) -> Result<Option<KeyRecord>, ClientError> {
        let url = self.url(&format!(
            "/admin/v1/state/keys/{id}?consistency={}",
            consistency.as_str()
        ));
        self.send(self.http.get(url)).await
    }

    pub async fn list_keys(
        &self,
        account: &AccountId,
        consistency: Consistency,
    ) -> Result<Vec<KeyRecord>, ClientError> {
        let url = self.url(&format!(
            "/admin/v1/state/keys?account={account}&consistency={}",
            consistency.as_str()
        ));
        self.send(self.http.get(url)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Api {
                status,
                code: "ClientDecodeError".into(),
                message: format!("cannot decode response: {e}"),
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status,
                code: body.code,
                message: body.message,
            }),
            Err(_) => Err(ClientError::Api {
                status,
                code: "Unknown".into(),
                message: String::from_utf8_lossy(&bytes).into(),
            }),
        }
    }
}
