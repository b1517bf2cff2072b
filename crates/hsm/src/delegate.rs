//! [`delegate_material_ops!`]: the [`crate::Hsm`] methods that use one key's material, each
//! handed whole to another HSM chosen per call. The wrappers (`ReopeningPkcs11`: the token
//! open now; `MigratingHsm`: the backend that wrote the blob) differ only in that choice, so
//! the thirteen signatures are written once, here.

/// Inside an `impl Hsm`, `delegate_material_ops!(self, key => TARGET)` defines every method
/// taking a `MaterialRef` as `TARGET.method(key, ...)`; `TARGET` may use `self` and `key`
/// (and `?`).
macro_rules! delegate_material_ops {
    ($self:ident, $key:ident => $target:expr) => {
        fn encrypt(
            &$self,
            $key: $crate::MaterialRef<'_>,
            salt: &$crate::Salt,
            plaintext: &[u8],
            aad: &[u8],
        ) -> Result<$crate::Sealed, $crate::HsmError> {
            $target.encrypt($key, salt, plaintext, aad)
        }

        fn encrypt_append(
            &$self,
            $key: $crate::MaterialRef<'_>,
            salt: &$crate::Salt,
            plaintext: &[u8],
            aad: &[u8],
            out: &mut Vec<u8>,
        ) -> Result<(), $crate::HsmError> {
            $target.encrypt_append($key, salt, plaintext, aad, out)
        }

        fn decrypt(
            &$self,
            $key: $crate::MaterialRef<'_>,
            salt: Option<&$crate::Salt>,
            nonce: &[u8; $crate::NONCE_LEN],
            ciphertext: &[u8],
            aad: &[u8],
        ) -> Result<$crate::Plaintext, $crate::HsmError> {
            $target.decrypt($key, salt, nonce, ciphertext, aad)
        }

        fn public_key(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
        ) -> Result<Vec<u8>, $crate::HsmError> {
            $target.public_key($key, spec)
        }

        fn sign(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::SigningAlgorithm,
            message_type: trent_model::MessageType,
            message: &[u8],
        ) -> Result<Vec<u8>, $crate::HsmError> {
            $target.sign($key, spec, algorithm, message_type, message)
        }

        fn verify(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::SigningAlgorithm,
            message_type: trent_model::MessageType,
            message: &[u8],
            signature: &[u8],
        ) -> Result<bool, $crate::HsmError> {
            $target.verify($key, spec, algorithm, message_type, message, signature)
        }

        fn encrypt_asymmetric(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::EncryptionAlgorithm,
            plaintext: &[u8],
        ) -> Result<Vec<u8>, $crate::HsmError> {
            $target.encrypt_asymmetric($key, spec, algorithm, plaintext)
        }

        fn decrypt_asymmetric(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::EncryptionAlgorithm,
            ciphertext: &[u8],
        ) -> Result<$crate::Plaintext, $crate::HsmError> {
            $target.decrypt_asymmetric($key, spec, algorithm, ciphertext)
        }

        fn generate_mac(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::MacAlgorithm,
            message: &[u8],
        ) -> Result<Vec<u8>, $crate::HsmError> {
            $target.generate_mac($key, spec, algorithm, message)
        }

        fn verify_mac(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            algorithm: trent_model::MacAlgorithm,
            message: &[u8],
            mac: &[u8],
        ) -> Result<bool, $crate::HsmError> {
            $target.verify_mac($key, spec, algorithm, message, mac)
        }

        fn derive_shared_secret(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            peer_public: &[u8],
        ) -> Result<$crate::Plaintext, $crate::HsmError> {
            $target.derive_shared_secret($key, spec, peer_public)
        }

        fn encapsulate(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
        ) -> Result<(Vec<u8>, $crate::Plaintext), $crate::HsmError> {
            $target.encapsulate($key, spec)
        }

        fn decapsulate(
            &$self,
            $key: $crate::MaterialRef<'_>,
            spec: trent_model::KeySpec,
            ciphertext: &[u8],
        ) -> Result<$crate::Plaintext, $crate::HsmError> {
            $target.decapsulate($key, spec, ciphertext)
        }
    };
}

pub(crate) use delegate_material_ops;
