//! Clients as real AWS SDKs behave: SigV4 over HTTP, one invocation id for every attempt of a
//! call (so the service applies a retried write once), retries on transport errors and 5xx
//! with backoff, here across nodes as a load balancer in front of the cluster would, within
//! a time budget. What the caller learns is classified for the history:
//!
//! - an answer (200, or a 4xx business error such as `DisabledException`) -> `Answered`;
//! - no attempt could have reached a node (connection refused) -> `NotApplied`;
//! - some attempt may have reached one and none answered -> `Unknown`.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use tokio::time::Instant;
use trent_client::{Client, ClientError};

use crate::nodes::{self, Nodes};

/// The error codes that are answers about the state, not failures of the request.
pub const BUSINESS_ERRORS: &[&str] = &[
    "NotFoundException",
    "AlreadyExistsException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "KMSInvalidSignatureException",
];

/// How one call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The service answered: the output, or a business error code.
    Answered {
        node: u64,
        answer: Result<Value, String>,
        /// The answering attempt's `x-amzn-RequestId`.
        request_id: Option<String>,
    },
    /// Certainly not applied (never reached a node, or refused before it could be); the
    /// refusing attempt's request id, when a node answered.
    NotApplied {
        node: Option<u64>,
        error: String,
        request_id: Option<String>,
    },
    /// Perhaps applied.
    Unknown { node: Option<u64>, error: String },
}

/// One signed client per node.
#[derive(Clone)]
pub struct Clients {
    per_node: Vec<(u64, Client)>,
    budget: Duration,
    attempt_timeout: Duration,
    /// `AccessDeniedException` is an answer (the authorization workload's grantee), not a
    /// refusal of the request.
    access_denied_answers: bool,
}

impl Clients {
    /// Clients signing as the account root.
    pub fn new(ids: &[u64], attempt_timeout: Duration, budget: Duration) -> anyhow::Result<Self> {
        let credentials = trent_client::credentials(nodes::ROOT_ACCESS_KEY_ID, nodes::ROOT_SECRET);
        Self::signing_as(ids, attempt_timeout, budget, credentials)
    }

    /// The same clients signing with another access key, for which `AccessDeniedException`
    /// is an answer about the state (a principal's access), like `DisabledException`.
    pub fn as_principal(&self, access_key_id: &str, secret: &str) -> anyhow::Result<Self> {
        let ids: Vec<u64> = self.per_node.iter().map(|(id, _)| *id).collect();
        let credentials = trent_client::credentials(access_key_id, secret);
        let mut clients = Self::signing_as(&ids, self.attempt_timeout, self.budget, credentials)?;
        clients.access_denied_answers = true;
        Ok(clients)
    }

    fn signing_as(
        ids: &[u64],
        attempt_timeout: Duration,
        budget: Duration,
        credentials: trent_client::Credentials,
    ) -> anyhow::Result<Self> {
        let per_node = ids
            .iter()
            .map(|&id| {
                Client::with_timeout(
                    &Nodes::api(id),
                    nodes::REGION,
                    credentials.clone(),
                    attempt_timeout,
                )
                .map(|c| (id, c))
                .map_err(anyhow::Error::msg)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Clients {
            per_node,
            budget,
            attempt_timeout,
            access_denied_answers: false,
        })
    }

    /// Calls KMS operation `op`, first at a random node, retrying at the next ones.
    pub async fn call(&self, op: &str, input: &Value) -> Outcome {
        self.call_target(&format!("TrentService.{op}"), input).await
    }

    /// Calls an admin operation the same way.
    pub async fn admin(&self, op: &str, input: &Value) -> Outcome {
        self.call_target(&format!("TrentAdmin.{op}"), input).await
    }

    async fn call_target(&self, target: &str, input: &Value) -> Outcome {
        let invocation = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + self.budget;
        let first = rand::thread_rng().gen_range(0..self.per_node.len());
        let mut maybe_applied: Option<(u64, String)> = None;
        let mut last_error = (None, String::from("no attempt"));
        for attempt in 0u32.. {
            let (node, client) = &self.per_node[(first + attempt as usize) % self.per_node.len()];
            let (result, request_id) = client.call_traced(target, input, Some(&invocation)).await;
            match classify(result, self.access_denied_answers) {
                Attempt::Answer(answer) => {
                    return Outcome::Answered {
                        node: *node,
                        answer,
                        request_id,
                    }
                }
                Attempt::Refused(error) if maybe_applied.is_none() => {
                    return Outcome::NotApplied {
                        node: Some(*node),
                        error,
                        request_id,
                    }
                }
                Attempt::Refused(error) => last_error = (Some(*node), error),
                Attempt::NotSent(error) => last_error = (Some(*node), error),
                Attempt::Unknown(error) => {
                    maybe_applied = Some((*node, error.clone()));
                    last_error = (Some(*node), error);
                }
            }
            let backoff = Duration::from_millis((50u64 << attempt.min(4)).min(500));
            if Instant::now() + backoff >= deadline {
                break;
            }
            tokio::time::sleep(backoff).await;
        }
        match maybe_applied {
            Some((node, error)) => Outcome::Unknown {
                node: Some(node),
                error: format!("{error} (last: {})", last_error.1),
            },
            None => Outcome::NotApplied {
                node: last_error.0,
                error: last_error.1,
                request_id: None,
            },
        }
    }
}

enum Attempt {
    Answer(Result<Value, String>),
    /// A definite refusal that is not about the state (validation, authentication).
    Refused(String),
    NotSent(String),
    Unknown(String),
}

fn classify(result: Result<Value, ClientError>, access_denied_answers: bool) -> Attempt {
    match result {
        Ok(value) => Attempt::Answer(Ok(value)),
        Err(ClientError::Api { code, .. }) if BUSINESS_ERRORS.contains(&code.as_str()) => {
            Attempt::Answer(Err(code))
        }
        Err(ClientError::Api { code, .. })
            if access_denied_answers && code == "AccessDeniedException" =>
        {
            Attempt::Answer(Err(code))
        }
        Err(ClientError::Api {
            status,
            code,
            message,
        }) if status >= 500 => Attempt::Unknown(format!("{code}: {message}")),
        Err(ClientError::Api { code, message, .. }) => {
            Attempt::Refused(format!("{code}: {message}"))
        }
        Err(ClientError::Transport(e)) if e.is_connect() => Attempt::NotSent(e.to_string()),
        Err(ClientError::Transport(e)) => Attempt::Unknown(e.to_string()),
        Err(ClientError::Signing(e)) => Attempt::Refused(e),
    }
}
