//! The AWS KMS API front end: the AWS JSON 1.1 protocol over HTTP, SigV4-authenticated, for
//! the KMS target (`TrentService.<Operation>`) and trent's admin target
//! (`TrentAdmin.<Operation>`).
//!
//! The path of a request: [`wire`] (any node: bounded body, protocol checks, carried to the
//! leader unchanged) -> [`dispatch`] (the leader: SigV4 against the caller's access key, JSON
//! into an operation) -> the service or [`admin`]. Errors leave as AWS sends them: HTTP 400
//! (5xx only for internal and availability failures) with `{"__type", "message"}` and the
//! request id in `x-amzn-RequestId`.
//!
//! Nothing here sees key material: the service and the HSM do the cryptography.

pub mod access;
mod admin;
pub mod audit;
mod body;
mod dispatch;
mod observe;
mod operations;
pub mod sigv4;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use trent_model::AccountId;
use trent_service::Service;

pub use access::{AccessLog, AccessRecord};
pub use admin::OPERATIONS as ADMIN_OPERATIONS;
pub use body::ConnectionBudget;
pub use observe::{RequestObserver, OK, UNKNOWN_OPERATION};
pub use operations::KMS_OPERATIONS;
pub use wire::{RawRequest, TlsSession, CONTENT_TYPE, REQUEST_TIMEOUT};

/// Target prefix of the KMS operations (AWS's own).
pub const KMS_PREFIX: &str = "TrentService";
/// Target prefix of the admin operations.
pub const ADMIN_PREFIX: &str = "TrentAdmin";
/// Largest request body accepted. AWS's largest KMS inputs (a 32 KB key policy, a 6 KB
/// ciphertext blob) fit with room to spare.
pub const MAX_BODY: usize = 256 * 1024;
/// How long a request body may take to arrive, unless [`Api::with_body_timeout`] says.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The forwarding channel of API requests.
const CHANNEL: u8 = b'H';

/// The API of one node. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    service: Service,
    observer: Option<Arc<dyn RequestObserver>>,
    access_log: Option<Arc<dyn AccessLog>>,
    body_timeout: Duration,
    /// Whether clients reach this node over TLS (`aws:SecureTransport`).
    secure_transport: bool,
}

impl Api {
    /// Installs the API on the service's node (as the handler of requests routed to the
    /// leader). `operator` is the account whose root may change the cluster.
    pub fn install(service: Service, operator: AccountId) -> Api {
        let handler = dispatch::Handler {
            service: service.clone(),
            admin: admin::Admin {
                service: service.clone(),
                operator,
            },
        };
        service
            .node()
            .set_forward_handler(CHANNEL, Arc::new(handler));
        Api {
            service,
            observer: None,
            access_log: None,
            body_timeout: BODY_TIMEOUT,
            secure_transport: false,
        }
    }

    /// Tells policies that clients reach this node over TLS (`aws:SecureTransport`).
    pub fn with_secure_transport(mut self, secure: bool) -> Api {
        self.secure_transport = secure;
        self
    }

    /// Reports every request this node receives to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Api {
        self.observer = Some(observer);
        self
    }

    /// Writes one record per request this node receives to `log` (access.rs).
    pub fn with_access_log(mut self, log: Arc<dyn AccessLog>) -> Api {
        self.access_log = Some(log);
        self
    }

    /// Answers 408 to a request whose body has not fully arrived `timeout` after its head.
    pub fn with_body_timeout(mut self, timeout: Duration) -> Api {
        self.body_timeout = timeout;
        self
    }

    /// The HTTP routes: `POST /`, and AWS-style errors for anything else.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", post(wire::handle))
            .fallback(wire::handle)
            .with_state(self.clone())
    }
}
