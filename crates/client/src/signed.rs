//! A SigV4-signing client for any endpoint that speaks the AWS JSON 1.1 protocol: trent's
//! KMS target (`TrentService`), its admin target (`TrentAdmin`), or another KMS (AWS, moto).
//! Requests are signed with `aws-sigv4`, the signer AWS's own SDKs use; connections are kept
//! alive.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use serde_json::Value;

use crate::ClientError;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A client of one endpoint with one set of credentials. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
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
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url =
            reqwest::Url::parse(&endpoint).map_err(|e| format!("endpoint {endpoint}: {e}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(format!("endpoint {endpoint}: no host")),
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Client {
            http,
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
        let body = serde_json::to_vec(input).expect("JSON values serialize");
        let mut request = self.request(target, body, SystemTime::now())?;
        if let Some(id) = invocation {
            request = request.header("amz-sdk-invocation-id", id);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if status == 200 {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Api {
                status,
                code: "UndecodableResponse".into(),
                message: e.to_string(),
            });
        }
        let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
            code: "UnknownError".into(),
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
        // Some services send `namespace#Code`.
        let code = error.code.rsplit('#').next().unwrap_or_default().to_owned();
        Err(ClientError::Api {
            status,
            code,
            message: error.message,
        })
    }

    /// The signed request, signed as of `time` (tests sign in the past to check expiry).
    pub fn request(
        &self,
        target: &str,
        body: Vec<u8>,
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
        let signable = SignableRequest::new(
            "POST",
            format!("{}/", self.endpoint),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| ClientError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ClientError::Signing(e.to_string()))?
            .into_parts();
        let mut request = self.http.post(format!("{}/", self.endpoint));
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        Ok(request.body(body))
    }
}
