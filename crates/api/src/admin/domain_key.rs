//! `SwitchDomainKey` and `DescribeDomainKey`: the migration of the cluster's domain key from
//! the soft backend to a PKCS#11 token (trent_service's `domain_key.rs`), for the operator (its
//! root, or a user of the operator account allowed `trent:<operation>`).

use serde_json::{json, Value};
use trent_service::{Call, DomainKeyStatus, OpError};

use super::{input, Admin, Empty};

impl Admin {
    pub(super) async fn switch_domain_key(
        &self,
        call: &Call,
        body: Value,
    ) -> Result<Value, OpError> {
        input::<Empty>("SwitchDomainKey", body)?;
        self.operator_authorized(call, "SwitchDomainKey").await?;
        let status = self.service.switch_domain_key(call).await?;
        Ok(status_json(&status))
    }

    pub(super) async fn describe_domain_key(
        &self,
        call: &Call,
        body: Value,
    ) -> Result<Value, OpError> {
        input::<Empty>("DescribeDomainKey", body)?;
        self.operator_authorized(call, "DescribeDomainKey").await?;
        let status = self.service.domain_key_status(call).await?;
        Ok(status_json(&status))
    }
}

/// Key check values as `trentd hsm init` and trentd's start-up log print them: the first six
/// bytes in hex.
fn check_value(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn status_json(status: &DomainKeyStatus) -> Value {
    let mut out = json!({
        "KeyCheckValue": check_value(&status.recorded),
        "MaterialUnderOtherKey": status.outgoing.material,
        "SecretsUnderOtherKey": status.outgoing.secrets,
        "CannotRewrap": status.stuck,
    });
    if let Some(next) = &status.next {
        out["NewKeyCheckValue"] = json!(check_value(next));
        out["Switched"] = json!(*next == status.recorded);
    }
    json!({ "DomainKey": out })
}
