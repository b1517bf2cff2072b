//! The migration of a cluster's domain key (soft -> PKCS#11, issue 26; command set 6): the
//! switch from the old key to the new one at one log index, and the rewrapped blobs that
//! replace the old key's.
//!
//! Guarantees: the switch changes the recorded key check value only from the value it names
//! (a stale or repeated switch changes nothing), so every replica starts writing under the new
//! key at the same index; a rewrap replaces a blob only while the record still holds exactly
//! the blob it names, so a rewrap computed before a rotation, a deletion or another rewrap
//! changes nothing. Blobs are wrapped; nothing here can open them.

use std::fmt;

use serde::{Deserialize, Serialize};
use trent_model::{Error, KeyId, KeySpec};

use crate::{Outcome, RecordKey, Response, State};

/// One blob replaced by the same material wrapped under the cluster's new domain key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rewrap {
    /// A version of a key's material (current, older, or imported and pending).
    Material {
        key_id: KeyId,
        version: u32,
        old: Vec<u8>,
        new: Vec<u8>,
    },
    /// An access key's wrapped secret.
    Secret {
        access_key_id: String,
        old: Vec<u8>,
        new: Vec<u8>,
    },
}

impl fmt::Debug for Rewrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rewrap::Material {
                key_id, version, ..
            } => write!(f, "Rewrap::Material({key_id} v{version})"),
            Rewrap::Secret { access_key_id, .. } => write!(f, "Rewrap::Secret({access_key_id})"),
        }
    }
}

/// A blob under the outgoing key, as the leader's rewrap task finds it.
#[derive(Clone)]
pub enum Outgoing {
    Material {
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        blob: Vec<u8>,
    },
    Secret {
        access_key_id: String,
        blob: Vec<u8>,
    },
}

/// How many blobs are still under the outgoing key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutgoingCount {
    pub material: usize,
    pub secrets: usize,
}

impl State {
    /// Audit public keys of the domain keys the cluster switched away from, oldest first.
    pub fn retired_audit_keys(&self) -> &[Vec<u8>] {
        &self.retired_audit_keys
    }

    /// `SwitchDomainKey`: the recorded key check value becomes `to` if it is `from`, and the
    /// old key's audit public key is kept.
    pub(crate) fn switch_domain_key(
        &mut self,
        from: &[u8],
        to: &[u8],
        retired_audit_key: &[u8],
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let Some(identity) = self.identity.as_mut() else {
            return Err(Error::admin_state(
                "The cluster has not recorded its domain key yet; try again",
            ));
        };
        if identity.key_check == to {
            return Ok(Outcome::Done);
        }
        if identity.key_check != from {
            return Err(Error::admin_state(
                "The cluster's domain key is not the one this switch starts from",
            ));
        }
        identity.key_check = to.to_vec();
        touched.push(RecordKey::ClusterIdentity);
        let retired = retired_audit_key.to_vec();
        if !retired.is_empty() && !self.retired_audit_keys.contains(&retired) {
            self.retired_audit_keys.push(retired);
            touched.push(RecordKey::RetiredAuditKeys);
        }
        Ok(Outcome::Done)
    }

    /// `RewrapBlobs`: each blob still held replaced by its rewrap; the others left alone.
    pub(crate) fn rewrap(&mut self, rewraps: &[Rewrap], touched: &mut Vec<RecordKey>) -> Response {
        for rewrap in rewraps {
            match rewrap {
                Rewrap::Material {
                    key_id,
                    version,
                    old,
                    new,
                } => self.rewrap_material(*key_id, *version, old, new, touched),
                Rewrap::Secret {
                    access_key_id,
                    old,
                    new,
                } => {
                    if let Some(key) = self.access_keys.get_mut(access_key_id) {
                        if key.wrapped_secret == *old {
                            key.wrapped_secret = new.clone();
                            touched.push(RecordKey::AccessKey(access_key_id.clone()));
                        }
                    }
                }
            }
        }
        Ok(Outcome::Done)
    }

    fn rewrap_material(
        &mut self,
        key_id: KeyId,
        version: u32,
        old: &[u8],
        new: &[u8],
        touched: &mut Vec<RecordKey>,
    ) {
        if let Some(key) = self.keys.get_mut(&key_id) {
            let held = key.material.iter_mut();
            if let Some(m) = held
                .into_iter()
                .find(|m| m.version == version && m.blob == old)
            {
                m.blob = new.to_vec();
                touched.push(RecordKey::Key(key_id));
            }
        }
        if let Some(pending) = self.pending.get_mut(&key_id) {
            let m = &mut pending.material;
            if m.version == version && m.blob == old {
                m.blob = new.to_vec();
                touched.push(RecordKey::PendingMaterial(key_id));
            }
        }
    }

    /// Up to `limit` blobs for which `outgoing` holds (under the key a migration leaves).
    pub fn outgoing_blobs(&self, outgoing: &dyn Fn(&[u8]) -> bool, limit: usize) -> Vec<Outgoing> {
        let material = self.keys.values().flat_map(|k| {
            let spec = k.metadata.key_spec;
            let pending = self.pending.get(&k.metadata.key_id).map(|p| &p.material);
            k.material
                .iter()
                .chain(pending)
                .map(move |m| (k.metadata.key_id, spec, m))
        });
        let material = material
            .filter(|(_, _, m)| outgoing(&m.blob))
            .map(|(key_id, spec, m)| Outgoing::Material {
                key_id,
                version: m.version,
                spec,
                blob: m.blob.clone(),
            });
        let secrets = self
            .access_keys
            .values()
            .filter(|a| outgoing(&a.wrapped_secret))
            .map(|a| Outgoing::Secret {
                access_key_id: a.access_key_id.clone(),
                blob: a.wrapped_secret.clone(),
            });
        material.chain(secrets).take(limit).collect()
    }

    /// How many blobs `outgoing` holds for.
    pub fn count_outgoing(&self, outgoing: &dyn Fn(&[u8]) -> bool) -> OutgoingCount {
        let pending = self.pending.values().map(|p| &p.material);
        let material = self.keys.values().flat_map(|k| &k.material).chain(pending);
        OutgoingCount {
            material: material.filter(|m| outgoing(&m.blob)).count(),
            secrets: self
                .access_keys
                .values()
                .filter(|a| outgoing(&a.wrapped_secret))
                .count(),
        }
    }
}
