//! Initializing a token (`trentd hsm init`): creating the domain key and the audit key pair in
//! it, the domain key either generated in the token ([`Pkcs11Hsm::init`]) or combined from key
//! components ([`Pkcs11Hsm::init_from_components`]: the key ceremony, which gives the token of
//! every node of a cluster the same domain key).
//!
//! Guarantees:
//! - Split knowledge: the domain key is the XOR of the components (each custodian holds one;
//!   none alone knows anything of the key), computed here for the one `C_CreateObject` that
//!   puts it into the token; every buffer that held it is zeroized. Each custodian checks their
//!   component by its check value ([`component_check_value`], a bank's 3-byte KCV), and the
//!   nodes compare the key check value of the result ([`InitReport::key_check_value`]).
//! - The created domain key has the attributes of a generated one (a token object, AES-256,
//!   sensitive, not extractable, derive only, not modifiable, not copyable), so open and every
//!   operation treat both alike. (The token marks an imported key's `CKA_ALWAYS_SENSITIVE` and
//!   `CKA_NEVER_EXTRACTABLE` false, truthfully: its value existed outside, as components.)
//! - Refused before the token is touched: no components, a component of zeros, two equal
//!   components (they cancel out, leaving the key to the other custodians), components whose
//!   XOR is zero. Refused before anything is created: a token holding a secret key with the
//!   domain key's label (it may wrap every key of a cluster) or objects with the audit pair's.
//! - All or nothing: if a step fails after the domain key is created, the objects created are
//!   destroyed, so the initialization can be run again.
//! - The audit key pair (`audit.rs`) is created from the scalar `audit_key.rs` derives from the
//!   new domain key's MAC, computed in the token; the scalar is zeroized after its import.

use std::sync::Arc;

use aes::cipher::{BlockEncrypt, KeyInit};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use super::audit::{self, audit_label, AuditPair};
use super::token::{fail, Token};
use super::{find_keys, objects, Pkcs11Config, Pkcs11Hsm};
use crate::audit_key::AuditKeyParts;
use crate::HsmError;

/// What an initialization answers: values to compare, nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The domain key's key check value, what [`crate::Hsm::key_check_value`] answers once the
    /// token is opened: equal on every token holding the same domain key.
    pub key_check_value: [u8; 32],
    /// The [`component_check_value`] of each component, in order; empty for a generated key.
    pub component_check_values: Vec<[u8; 3]>,
    /// The audit signing key's public key (DER SubjectPublicKeyInfo), what
    /// [`crate::Hsm::audit_public_key`] answers: to publish for auditors.
    pub audit_public_key: Vec<u8>,
}

/// A key component's check value: the first 3 bytes of AES-256-ECB(component, zero block), the
/// KCV payment HSMs print, so a custodian can confirm they entered their component right. It
/// says nothing useful of the component (a 24-bit prefix of a block cipher's output).
pub fn component_check_value(component: &[u8; 32]) -> [u8; 3] {
    // `aes` zeroizes the key schedule when the cipher drops (its `zeroize` feature).
    let cipher = aes::Aes256::new(component.into());
    let mut block = aes::Block::default();
    cipher.encrypt_block(&mut block);
    [block[0], block[1], block[2]]
}

/// The domain key of `components` (their XOR), refusing what would weaken it.
fn combine(components: &[Zeroizing<[u8; 32]>]) -> Result<Zeroizing<[u8; 32]>, HsmError> {
    let refuse = |why: String| Err(HsmError::DomainKey(why));
    if components.is_empty() {
        return refuse("no key components were given; the key ceremony needs at least one".into());
    }
    for (i, component) in components.iter().enumerate() {
        if component.iter().all(|&b| b == 0) {
            return refuse(format!("key component {} is all zeros", i + 1));
        }
        if let Some(j) = components[..i].iter().position(|c| c[..] == component[..]) {
            return refuse(format!(
                "key components {} and {} are equal: they cancel out, leaving the domain key to \
                 the others",
                j + 1,
                i + 1
            ));
        }
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for component in components {
        for (k, c) in key.iter_mut().zip(component.iter()) {
            *k ^= c;
        }
    }
    if key.iter().all(|&b| b == 0) {
        return refuse("the key components XOR to zero, which is no key".into());
    }
    Ok(key)
}

impl Pkcs11Hsm {
    /// Creates the domain key in the token, generated there (AES-256, a token object,
    /// sensitive, never extractable, derive only), and the audit key pair beside it. Refuses
    /// if the labels are taken.
    pub fn init(config: &Pkcs11Config) -> Result<InitReport, HsmError> {
        let template = objects::domain_key_template(&config.key_label);
        initialize(config, Vec::new(), |session| {
            session.generate_key(&Mechanism::AesKeyGen, &template)
        })
    }

    /// The key ceremony: creates the domain key in the token as the XOR of `components`, with
    /// the attributes [`Pkcs11Hsm::init`] gives a generated one, and the audit key pair beside
    /// it. Tokens initialized from the same components hold the same domain and audit keys.
    /// Refuses no components, weak ones (see the module) and taken labels.
    pub fn init_from_components(
        config: &Pkcs11Config,
        components: &[Zeroizing<[u8; 32]>],
    ) -> Result<InitReport, HsmError> {
        let template = {
            let key = combine(components)?;
            objects::domain_key_value_template(&config.key_label, &key)
        };
        let check_values = components
            .iter()
            .map(|c| component_check_value(c))
            .collect();
        // The closure owns the template: it is zeroized as soon as the object is created.
        initialize(config, check_values, move |session| {
            session.create_object(template.attributes())
        })
    }

    /// [`Pkcs11Hsm::init_from_components`] with each component read from a file of 64 hex
    /// digits, under the domain key file's permission checks (`trentd hsm init`).
    pub fn init_from_component_files(
        config: &Pkcs11Config,
        paths: &[std::path::PathBuf],
    ) -> Result<InitReport, HsmError> {
        let components = paths
            .iter()
            .map(|path| {
                let key = crate::DomainKey::from_file(path, "component_file")?;
                Ok(Zeroizing::new(*key.0))
            })
            .collect::<Result<Vec<_>, HsmError>>()?;
        Self::init_from_components(config, &components)
    }
}

/// Opens the token, refuses taken labels, creates the domain key with `create`, then the
/// audit key pair, and answers the report; destroys what it created if a step fails.
fn initialize(
    config: &Pkcs11Config,
    component_check_values: Vec<[u8; 3]>,
    create: impl FnOnce(&Session) -> Result<ObjectHandle, cryptoki::error::Error>,
) -> Result<InitReport, HsmError> {
    let token = Arc::new(Token::open(config)?);
    refuse_taken(&token, config)?;
    let mut created = Created {
        token: token.clone(),
        objects: Vec::new(),
    };
    let domain = create(&token.session()).map_err(|e| fail("creating the domain key", e))?;
    created.objects.push(domain);
    let hsm = Pkcs11Hsm::on_token(token.clone(), config, 1)?;
    let imported = {
        let parts = AuditKeyParts::derive(|purpose, data| hsm.mac(purpose, data))?;
        audit::create(
            &token.session(),
            &config.key_label,
            &parts,
            &mut created.objects,
        )?;
        parts.public_der.clone()
        // The scalar is zeroized here.
    };
    let audit_public_key = match audit::find(&token, &config.key_label)? {
        AuditPair::Found { public_der, .. } if public_der == imported => public_der,
        AuditPair::Found { .. } => {
            return Err(HsmError::Token(
                "the token answers another audit public key than the one imported".into(),
            ))
        }
        AuditPair::Unusable(why) => return Err(HsmError::Token(why)),
    };
    created.objects.clear();
    Ok(InitReport {
        key_check_value: hsm.check_value,
        component_check_values,
        audit_public_key,
    })
}

/// Refuses a token holding a secret key labelled as the domain key, or any object labelled
/// as the audit key pair.
fn refuse_taken(token: &Token, config: &Pkcs11Config) -> Result<(), HsmError> {
    let session = token.session();
    let existing = find_keys(&session, &config.key_label)
        .map_err(|e| fail("looking for the domain key", e))?;
    if !existing.is_empty() {
        return Err(HsmError::Token(format!(
            "token {:?} already holds a key labelled {:?}; refusing to create another (it may \
             wrap every key of a cluster)",
            token.label, config.key_label
        )));
    }
    let label = audit_label(&config.key_label);
    let audit = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| fail("looking for the audit key pair", e))?;
    if !audit.is_empty() {
        return Err(HsmError::Token(format!(
            "token {:?} already holds objects labelled {label:?} (an audit key pair left by an \
             earlier initialization?); refusing to create another: delete them first",
            token.label
        )));
    }
    Ok(())
}

/// The token objects an initialization has created so far: destroyed when this drops unless
/// the initialization cleared the list (it succeeded).
struct Created {
    token: Arc<Token>,
    objects: Vec<ObjectHandle>,
}

impl Drop for Created {
    fn drop(&mut self) {
        if self.objects.is_empty() {
            return;
        }
        let session = self.token.session();
        for object in self.objects.drain(..).rev() {
            if let Err(e) = session.destroy_object(object) {
                tracing::warn!(error = %e, token = %self.token.label,
                    "destroying an object of a failed initialization failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(byte: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([byte; 32])
    }

    #[test]
    fn a_component_check_value_is_the_banks_kcv() {
        // AES-256 of the zero block under the zero key (FIPS 197 style known answer).
        assert_eq!(component_check_value(&[0; 32]), [0xdc, 0x95, 0xc0]);
        assert_ne!(component_check_value(&[1; 32]), [0xdc, 0x95, 0xc0]);
    }

    #[test]
    fn components_combine_by_xor_and_weak_ones_are_refused() {
        let key = combine(&[component(0x0f), component(0xf1)]).unwrap();
        assert_eq!(*key, [0xfe; 32]);
        assert_eq!(*combine(&[component(7)]).unwrap(), [7; 32]);
        let error = |components: &[Zeroizing<[u8; 32]>]| match combine(components) {
            Err(HsmError::DomainKey(why)) => why,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        };
        assert!(error(&[]).contains("no key components"));
        assert!(error(&[component(1), component(0)]).contains("component 2 is all zeros"));
        let e = error(&[component(1), component(2), component(1)]);
        assert!(e.contains("components 1 and 3 are equal"), "{e}");
        let e = error(&[component(1), component(2), component(3)]);
        assert!(e.contains("XOR to zero"), "{e}");
    }
}
