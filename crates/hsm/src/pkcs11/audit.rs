//! The audit signing key of the PKCS#11 backend (`audit_key.rs` says what the key is): an
//! ECDSA P-256 key pair stored as token objects labelled `{key_label}/audit`, created only
//! when the token is initialized (`ceremony.rs`), from a scalar derived from the token's own
//! domain MAC; so every token holding the same domain key holds the same pair, and any
//! node's digests verify under one published public key.
//!
//! Guarantees: the private key is a token object, sensitive, not extractable, used only to
//! sign, not modifiable, not copyable; its scalar is in trent's memory only during the
//! initialization, and zeroized there with the template that carried it. At open the pair is
//! found by label and checked (one private and one public key on P-256, the private key
//! sensitive and not extractable, one `CKA_ID`, and a signature made in the token verifies
//! under the public key). A token that fails to answer that lookup fails the open (a reopen
//! retries it), so a transient error never leaves a node without its audit key. A token
//! without a usable pair (missing, half, malformed) still opens and serves every key;
//! [`Hsm::audit_public_key`](crate::Hsm::audit_public_key) and
//! [`Hsm::audit_sign`](crate::Hsm::audit_sign) then answer [`HsmError::Token`] saying why and
//! what to do. Signatures are made in the token (`CKM_ECDSA` over SHA-256 computed here, or
//! `CKM_ECDSA_SHA256` if the token lacks `CKM_ECDSA`) and answered as DER.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::der;
use super::families::P256;
use super::objects::{self, ValueTemplate};
use super::token::{fail, Token};
use super::Pkcs11Hsm;
use crate::audit_key::AuditKeyParts;
use crate::HsmError;

/// The length of an uncompressed P-256 point.
const POINT_LEN: usize = 65;
/// What the pair signs at open to show its halves belong together.
const PAIR_CHECK: &[u8] = b"trent/audit-key-pair-check/v1";

/// The label of the audit key pair beside the domain key labelled `key_label`.
pub(crate) fn audit_label(key_label: &str) -> String {
    format!("{key_label}/audit")
}

/// Where the hash of what the audit key signs is computed.
#[derive(Clone, Copy)]
pub(crate) enum Signer {
    /// Here, then `CKM_ECDSA` in the token (as `sign.rs` signs).
    Ecdsa,
    /// In the token (`CKM_ECDSA_SHA256`).
    EcdsaSha256,
}

/// The audit key pair found at open, or why there is no usable one.
pub(crate) enum AuditPair {
    Found {
        private: ObjectHandle,
        signer: Signer,
        /// SubjectPublicKeyInfo DER.
        public_der: Vec<u8>,
    },
    Unusable(String),
}

/// The audit key's one use: signing (verifying, for its public key).
const SIGN: objects::Uses = objects::Uses {
    sign: true,
    derive: false,
    wrap: false,
    encrypt: false,
    decrypt: false,
};

/// Creates the pair of `parts` labelled [`audit_label`]`(key_label)`, pushing each object to
/// `created` as it is made (the ceremony destroys them if a later step fails).
pub(crate) fn create(
    session: &Session,
    key_label: &str,
    parts: &AuditKeyParts,
    created: &mut Vec<ObjectHandle>,
) -> Result<(), HsmError> {
    let label = audit_label(key_label);
    // The id ties the halves together, as PKCS#11 tools expect: a hash of the public point.
    let id = digest::digest(&digest::SHA256, &parts.point).as_ref()[..16].to_vec();
    let mut private = objects::private_key_template(KeyType::EC, false, SIGN);
    private.extend([
        Attribute::Id(id.clone()),
        Attribute::EcParams(P256.to_vec()),
    ]);
    let handle = {
        // Dropped (the scalar's copy zeroized) as soon as the object exists.
        let private = ValueTemplate::new(objects::token_object(private, &label), &*parts.scalar);
        session.create_object(private.attributes())
    }
    .map_err(|e| fail("creating the audit signing key in the token", e))?;
    created.push(handle);
    let mut public = objects::public_key_template(KeyType::EC, SIGN);
    public.extend([
        Attribute::Id(id),
        Attribute::EcParams(P256.to_vec()),
        Attribute::EcPoint(der::octet_string(&parts.point)),
    ]);
    let handle = session
        .create_object(&objects::token_object(public, &label))
        .map_err(|e| fail("creating the audit public key in the token", e))?;
    created.push(handle);
    Ok(())
}

/// Why a lookup found no usable pair: the token failed to answer (the open fails, and is
/// retried, rather than serve without the audit key until the next reopen), or the pair is
/// missing or malformed (the token serves keys; audit signing says why it cannot).
enum Lookup {
    Failed(HsmError),
    Unusable(String),
}

impl From<HsmError> for Lookup {
    fn from(e: HsmError) -> Lookup {
        Lookup::Failed(e)
    }
}

impl From<String> for Lookup {
    fn from(why: String) -> Lookup {
        Lookup::Unusable(why)
    }
}

/// The audit key pair of the domain key labelled `key_label`, checked; an error when the
/// token does not answer the lookup.
pub(crate) fn find(token: &Token, key_label: &str) -> Result<AuditPair, HsmError> {
    let label = audit_label(key_label);
    match found(token, &label) {
        Ok(pair) => Ok(pair),
        Err(Lookup::Failed(e)) => Err(e),
        Err(Lookup::Unusable(why)) => {
            tracing::warn!(token = %token.label, %label, "no usable audit signing key: {why}");
            Ok(AuditPair::Unusable(why))
        }
    }
}

fn found(token: &Token, label: &str) -> Result<AuditPair, Lookup> {
    let session = token.session();
    let (private, public) = pair_objects(&session, &token.label, label)?;
    let point = check_pair(&session, private, public).map_err(|lookup| match lookup {
        Lookup::Unusable(why) => Lookup::Unusable(format!(
            "the audit key pair labelled {label:?} in token {:?} {why}; re-initialize the \
             token with `trentd hsm init`",
            token.label
        )),
        failed => failed,
    })?;
    let signer = signer(token)?;
    // Halves that differ would sign digests nobody can verify under the published key.
    let signature = sign(&session, private, signer, PAIR_CHECK).map_err(|e| e.to_string())?;
    if UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(PAIR_CHECK, &signature)
        .is_err()
    {
        return Err(Lookup::Unusable(format!(
            "the audit key pair labelled {label:?} in token {:?} does not match: a signature \
             of its private key does not verify under its public key",
            token.label
        )));
    }
    Ok(AuditPair::Found {
        private,
        signer,
        public_der: der::ec_spki(P256, &point),
    })
}

/// The private and public key labelled `label`.
fn pair_objects(
    session: &Session,
    token: &str,
    label: &str,
) -> Result<(ObjectHandle, ObjectHandle), Lookup> {
    match (
        one(session, ObjectClass::PRIVATE_KEY, label)?,
        one(session, ObjectClass::PUBLIC_KEY, label)?,
    ) {
        (Some(private), Some(public)) => Ok((private, public)),
        (None, None) => Err(Lookup::Unusable(format!(
            "token {token:?} holds no audit signing key labelled {label:?}: it was initialized \
             without one and must be re-initialized with `trentd hsm init`"
        ))),
        _ => Err(Lookup::Unusable(format!(
            "token {token:?} holds half of the audit key pair labelled {label:?}: re-initialize \
             it with `trentd hsm init`"
        ))),
    }
}

/// The one object of `class` labelled `label`, if any.
fn one(session: &Session, class: ObjectClass, label: &str) -> Result<Option<ObjectHandle>, Lookup> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| fail("looking for the audit key pair", e))?;
    match found[..] {
        [] => Ok(None),
        [object] => Ok(Some(object)),
        _ => Err(Lookup::Unusable(format!(
            "{} objects of class {class} are labelled {label:?}; the audit key pair's label \
             must be unique",
            found.len()
        ))),
    }
}

/// What an object of the pair says of itself.
#[derive(Default)]
struct Facts {
    p256: bool,
    sensitive: bool,
    extractable: bool,
    sign: bool,
    id: Vec<u8>,
    point: Vec<u8>,
}

fn facts(session: &Session, object: ObjectHandle, of: &[AttributeType]) -> Result<Facts, Lookup> {
    let attributes = session
        .get_attributes(object, of)
        .map_err(|e| fail("reading the audit key pair's attributes", e))?;
    let (mut facts, mut ec) = (Facts::default(), false);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => ec = t == KeyType::EC,
            Attribute::EcParams(p) => facts.p256 = p == P256,
            Attribute::Sensitive(b) => facts.sensitive = b,
            Attribute::Extractable(b) => facts.extractable = b,
            Attribute::Sign(b) => facts.sign = b,
            Attribute::Id(id) => facts.id = id,
            Attribute::EcPoint(point) => facts.point = point,
            _ => {}
        }
    }
    facts.p256 &= ec;
    Ok(facts)
}

/// The public point of the pair if both halves are what [`create`] makes; else what is
/// wrong.
fn check_pair(
    session: &Session,
    private: ObjectHandle,
    public: ObjectHandle,
) -> Result<Vec<u8>, Lookup> {
    use AttributeType as T;
    let of_private = [
        T::KeyType,
        T::EcParams,
        T::Sensitive,
        T::Extractable,
        T::Sign,
        T::Id,
    ];
    let p = facts(session, private, &of_private)?;
    let q = facts(
        session,
        public,
        &[T::KeyType, T::EcParams, T::EcPoint, T::Id],
    )?;
    let point = der::ec_point(&q.point, POINT_LEN);
    let problems: Vec<&str> = [
        (!p.p256, "has a private key that is not a P-256 key"),
        (
            !p.sensitive,
            "has a private key that is not sensitive (CKA_SENSITIVE false)",
        ),
        (
            p.extractable,
            "has an extractable private key (CKA_EXTRACTABLE true)",
        ),
        (
            !p.sign,
            "has a private key that may not sign (CKA_SIGN false)",
        ),
        (!q.p256, "has a public key that is not a P-256 key"),
        (
            point.is_none(),
            "has a public key whose CKA_EC_POINT is not a P-256 point",
        ),
        (p.id != q.id, "has halves of different CKA_ID"),
    ]
    .into_iter()
    .filter_map(|(wrong, what)| wrong.then_some(what))
    .collect();
    match point {
        Some(point) if problems.is_empty() => Ok(point.to_vec()),
        _ => Err(Lookup::Unusable(problems.join(", "))),
    }
}

/// The mechanism the audit key signs with: `CKM_ECDSA` if the token signs with it, else
/// `CKM_ECDSA_SHA256`.
fn signer(token: &Token) -> Result<Signer, Lookup> {
    let signs = |mechanism| {
        token
            .mechanism_info(mechanism)
            .map(|info| info.is_some_and(|info| info.sign()))
    };
    if signs(MechanismType::ECDSA)? {
        Ok(Signer::Ecdsa)
    } else if signs(MechanismType::ECDSA_SHA256)? {
        Ok(Signer::EcdsaSha256)
    } else {
        Err(Lookup::Unusable(format!(
            "token {:?} lacks CKM_ECDSA and CKM_ECDSA_SHA256, needed to sign with the audit key",
            token.label
        )))
    }
}

/// `data` signed with the audit key `private`: ECDSA over SHA-256, as DER.
fn sign(
    session: &Session,
    private: ObjectHandle,
    signer: Signer,
    data: &[u8],
) -> Result<Vec<u8>, HsmError> {
    let hash = digest::digest(&digest::SHA256, data);
    let (mechanism, input) = match signer {
        Signer::Ecdsa => (Mechanism::Ecdsa, hash.as_ref()),
        Signer::EcdsaSha256 => (Mechanism::EcdsaSha256, data),
    };
    let raw = session
        .sign(&mechanism, private, input)
        .map_err(|e| fail("signing with the audit key", e))?;
    match raw.len() {
        64 => der::ecdsa_signature(&raw),
        _ => None,
    }
    .ok_or_else(|| {
        HsmError::Token(format!(
            "the token's audit key signature is {} bytes, not r || s (64)",
            raw.len()
        ))
    })
}

impl Pkcs11Hsm {
    /// [`Hsm::audit_public_key`](crate::Hsm::audit_public_key).
    pub(super) fn audit_public(&self) -> Result<Vec<u8>, HsmError> {
        match &self.audit {
            AuditPair::Found { public_der, .. } => Ok(public_der.clone()),
            AuditPair::Unusable(why) => Err(HsmError::Token(why.clone())),
        }
    }

    /// [`Hsm::audit_sign`](crate::Hsm::audit_sign).
    pub(super) fn audit_signature(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        match &self.audit {
            AuditPair::Found {
                private, signer, ..
            } => sign(&self.token.session(), *private, *signer, data),
            AuditPair::Unusable(why) => Err(HsmError::Token(why.clone())),
        }
    }
}
