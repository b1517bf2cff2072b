//! How an operation fails: with an answer for the caller (`Api`), or because this node cannot
//! serve it now (`Cluster`: not the leader, no quorum). Forwarding retries only the latter.

use trent_cluster::ClusterError;
use trent_model::Error;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Api(#[from] Error),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl OpError {
    /// The error as the caller sees it (a cluster condition becomes 503 or 500).
    pub fn into_api(self) -> Error {
        match self {
            OpError::Api(e) => e,
            OpError::Cluster(e) => e.into(),
        }
    }
}

impl From<trent_hsm::HsmError> for OpError {
    /// An HSM failure the caller did not cause (a wrapped key that does not unwrap under
    /// this node's domain key) is internal; bad ciphertext is mapped by the caller before.
    /// What the PKCS#11 token cannot serve (a key spec whose mechanism it lacks) is refused
    /// as AWS refuses asymmetric keys in a CloudHSM key store: UnsupportedOperationException,
    /// saying what is missing.
    fn from(e: trent_hsm::HsmError) -> Self {
        use trent_hsm::HsmError::{Pkcs11Lacks, Pkcs11Unsupported};
        if matches!(e, Pkcs11Lacks { .. } | Pkcs11Unsupported(_)) {
            return OpError::Api(Error::hsm_refuses(e.to_string()));
        }
        tracing::error!(error = %e, "HSM operation failed");
        OpError::Api(Error::internal("The HSM could not complete the operation"))
    }
}
