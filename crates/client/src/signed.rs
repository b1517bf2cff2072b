//! A SigV4-signing client for any endpoint that speaks the AWS JSON 1.1 protocol: trent's
//! KMS target (`TrentService`), its admin target (`TrentAdmin`), or another KMS (AWS, moto).
//! Requests are signed with `aws-sigv4`, the signer AWS's own SDKs use; connections are kept
//! alive; `https` endpoints are verified against the system roots and an optional extra CA
//! bundle (see `tls`).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

use crate::tls::CaBundle;
use crate::ClientError;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Attempts of one call by [`Client::call_retrying`].
pub const ATTEMPTS: u32 = 5;

/// A failure another attempt may not meet: no answer, or the service's 503.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(_) => true,
        ClientError::Api { status, .. } => *status == 503,
        ClientError::Signing(_) => false,
    }
}

/// A client of one endpoint with one set of credentials. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    /// `endpoint` + `/`, where every request goes.
    url: String,
    host: String,
    region: String,
    identity: Identity,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type")]
    code: String,
    #[serde(alias = "Message", default)]
    message: String,
}

impl Client {
    /// A client of `endpoint` (`http://host:port` or `https://...`) in `region`.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials) -> Result<Client, String> {
        Self::with_timeout(endpoint, region, credentials, Duration::from_secs(30))
    }

    pub fn with_timeout(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Client, String> {
        Self::build(endpoint, region, credentials, timeout, None)
    }

    /// A client of `endpoint` that also trusts the CA certificates of `ca` (if any).
    pub fn with_ca_bundle(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
        ca: Option<&CaBundle>,
    ) -> Result<Client, String> {
        Self::build(endpoint, region, credentials, Duration::from_secs(30), ca)
    }

    fn build(
        endpoint: &str,
        region: &str,
        credentials: Credentials,
        timeout: Duration,
        ca: Option<&CaBundle>,
    ) -> Result<Client, String> {
        crate::tls::install_default_provider();
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url =
            reqwest::Url::parse(&endpoint).map_err(|e| format!("endpoint {endpoint}: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(format!("endpoint {endpoint}: no host")),
        };
        let mut http = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256);
        if url.scheme() == "https" {
            http = http.use_preconfigured_tls(crate::tls::client_config(ca)?);
        }
        let http = http.build().map_err(|e| format!("http client: {e}"))?;
        Ok(Client {
            http,
            url: format!("{endpoint}/"),
            endpoint,
            host,
            region: region.into(),
            identity: credentials.into(),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls KMS operation `op` with JSON `input`.
    pub async fn kms(&self, op: &str, input: &Value) -> Result<Value, ClientError> {
        self.call(&format!("TrentService.{op}"), input).await
    }

    /// Calls admin operation `op` with JSON `input`.
    pub async fn admin(&self, op: &str, input: &Value) -> Result<Value, ClientError> {
        self.call(&format!("TrentAdmin.{op}"), input).await
    }

    /// [`Client::admin`], asked again after a 503 or a transport failure (as AWS SDKs do),
    /// with the same invocation id, up to [`ATTEMPTS`] times over about 6 s: a leader that
    /// cannot serve for a moment (an election, a node fetching the audit trail) is waited for.
    pub async fn admin_retrying(&self, op: &str, input: &Value) -> Result<Value, ClientError> {
        self.call_retrying(&format!("TrentAdmin.{op}"), input).await
    }

    /// [`Client::call`] with [`Client::admin_retrying`]'s retries.
    pub async fn call_retrying(&self, target: &str, input: &Value) -> Result<Value, ClientError> {
        let invocation = uuid::Uuid::new_v4().to_string();
        let mut attempt = 1;
        loop {
            match self.call_with(target, input, Some(&invocation)).await {
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Sends a signed request for `target` (`<prefix>.<Operation>`).
    pub async fn call(&self, target: &str, input: &Value) -> Result<Value, ClientError> {
        self.call_with(target, input, None).await
    }

    /// Like [`Client::call`]; with `invocation`, sends it as `amz-sdk-invocation-id`, as AWS
    /// SDKs do on every attempt of one call, so the service applies a retried write once.
    pub async fn call_with(
        &self,
        target: &str,
        input: &Value,
        invocation: Option<&str>,
    ) -> Result<Value, ClientError> {
        self.call_traced(target, input, invocation).await.0
    }

    /// Like [`Client::call_with`], also answering the `x-amzn-RequestId` the service gave the
    /// attempt (when it answered at all): what its audit event's `requestID` says.
    pub async fn call_traced(
        &self,
        target: &str,
        input: &Value,
        invocation: Option<&str>,
    ) -> (Result<Value, ClientError>, Option<String>) {
        let body = serde_json::to_vec(input).expect("JSON values serialize");
        let mut request = match self.request(target, body, SystemTime::now()) {
            Ok(request) => request,
            Err(e) => return (Err(e), None),
        };
        if let Some(id) = invocation {
            request = request.header("amz-sdk-invocation-id", id);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (Err(e.into()), None),
        };
        let request_id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return (Err(e.into()), request_id),
        };
        if status == 200 {
            let value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Api {
                status,
                code: "UndecodableResponse".into(),
                message: e.to_string(),
            });
            return (value, request_id);
        }
        (Err(api_error(status, &bytes)), request_id)
    }

    /// A request to send many times (the load generator): the body is encoded and hashed
    /// once; each [`Client::send_prepared`] only signs it anew (SigV4 binds the time).
    pub fn prepare(&self, target: &str, input: &Value) -> Prepared {
        let body = serde_json::to_vec(input).expect("JSON values serialize");
        let sha256 = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Prepared {
            target: target.to_owned(),
            body: body.into(),
            sha256,
        }
    }

    /// Sends `prepared`, signed now; success is HTTP 200 (the answer is not decoded).
    pub async fn send_prepared(&self, prepared: &Prepared) -> Result<(), ClientError> {
        let body = SignableBody::Precomputed(prepared.sha256.clone());
        let request = self.signed(&prepared.target, body, SystemTime::now())?;
        let response = request.body(prepared.body.clone()).send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        match status {
            200 => Ok(()),
            _ => Err(api_error(status, &bytes)),
        }
    }

    /// The signed request, signed as of `time` (tests sign in the past to check expiry).
    pub fn request(
        &self,
        target: &str,
        body: Vec<u8>,
        time: SystemTime,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let request = self.signed(target, SignableBody::Bytes(&body), time)?;
        Ok(request.body(body))
    }

    /// A POST of `target` with the SigV4 headers for `body`, without the body itself.
    fn signed(
        &self,
        target: &str,
        body: SignableBody<'_>,
        time: SystemTime,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("host", self.host.as_str()),
            ("x-amz-target", target),
        ];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ClientError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new("POST", &self.url, headers.iter().copied(), body)
            .map_err(|e| ClientError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ClientError::Signing(e.to_string()))?
            .into_parts();
        let mut request = self.http.post(&self.url);
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        Ok(request)
    }
}

/// The error an endpoint answered with HTTP `status` and `body`.
fn api_error(status: u16, body: &[u8]) -> ClientError {
    let error: ErrorBody = serde_json::from_slice(body).unwrap_or(ErrorBody {
        code: "UnknownError".into(),
        message: String::from_utf8_lossy(body).into_owned(),
    });
    // Some services send `namespace#Code`.
    let code = error.code.rsplit('#').next().unwrap_or_default().to_owned();
    ClientError::Api {
        status,
        code,
        message: error.message,
    }
}

/// A request body encoded once and hashed once, for [`Client::send_prepared`].
#[derive(Clone)]
pub struct Prepared {
    target: String,
    body: bytes::Bytes,
    sha256: String,
}
