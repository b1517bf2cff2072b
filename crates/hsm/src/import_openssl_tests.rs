//! Material wrapped by the `openssl` command line, as AWS's importing guide does it, imports.

use std::path::Path;
use std::process::Command;

use super::*;

/// Runs `openssl` with `args` in `dir`; panics with its error output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn openssl_missing() -> bool {
    let found = Command::new("openssl").arg("version").output();
    if found.as_ref().is_ok_and(|out| out.status.success()) {
        return false;
    }
    eprintln!("SKIPPED: the openssl command line is not installed");
    true
}

/// `openssl pkeyutl` RSA-OAEP-SHA-256 of `input` under the token's public key into `output`.
fn oaep_sha256(dir: &Path, p: &ImportParameters, input: &str, output: &str) {
    std::fs::write(dir.join("public.der"), &p.public_key).unwrap();
    openssl(
        dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "public.der",
            "-in",
            input,
            "-out",
            output,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
}

/// The RSA_AES_KEY_WRAP form: the OAEP-wrapped AES key, then `openssl enc -id-aes256-wrap-pad`.
fn rsa_aes(dir: &Path, p: &ImportParameters, material: &str) -> Vec<u8> {
    let aes_key = random(32);
    std::fs::write(dir.join("aes.bin"), &aes_key).unwrap();
    let hex: String = aes_key.iter().map(|b| format!("{b:02x}")).collect();
    openssl(
        dir,
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &hex,
            "-iv",
            "A65959A6",
            "-in",
            material,
            "-out",
            "kwp.bin",
        ],
    );
    oaep_sha256(dir, p, "aes.bin", "aes.wrapped");
    let mut encrypted = std::fs::read(dir.join("aes.wrapped")).unwrap();
    encrypted.extend_from_slice(&std::fs::read(dir.join("kwp.bin")).unwrap());
    encrypted
}

#[test]
fn material_wrapped_by_the_openssl_cli_imports() {
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let hsm = hsm();
    std::fs::write(dir.join("material.bin"), random(32)).unwrap();

    let p = params(RsaesOaepSha256, WrappingKeySpec::Rsa3072, 0);
    oaep_sha256(dir, p, "material.bin", "material.wrapped");
    let encrypted = std::fs::read(dir.join("material.wrapped")).unwrap();
    let spec = KeySpec::SymmetricDefault;
    let by_oaep = hsm
        .import_material(&p.token, &encrypted, KEY, 1, spec)
        .unwrap();

    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let encrypted = rsa_aes(dir, p, "material.bin");
    let by_key_wrap = hsm
        .import_material(&p.token, &encrypted, KEY, 1, spec)
        .unwrap();
    assert_eq!(by_oaep.fingerprint, by_key_wrap.fingerprint);
    assert_eq!(
        round_trip(&hsm, &by_oaep.blob, &by_key_wrap.blob),
        b"imported"
    );
}

#[test]
fn an_openssl_ec_key_imports_in_the_form_aws_lc_writes() {
    if openssl_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let hsm = hsm();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-outform", "DER", "-out", "ec.p8",
        ],
    );
    openssl(
        dir,
        &[
            "pkey", "-in", "ec.pem", "-pubout", "-outform", "DER", "-out", "ec.spki",
        ],
    );
    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let spec = KeySpec::EccNistP256;
    let imported = hsm
        .import_material(&p.token, &rsa_aes(dir, p, "ec.p8"), KEY, 1, spec)
        .unwrap();
    let blob = at(&imported.blob, 1);
    let spki = std::fs::read(dir.join("ec.spki")).unwrap();
    assert_eq!(hsm.public_key(blob, spec).unwrap(), spki);
    // Stored as aws-lc serializes the parsed key, so the same key in aws-lc's own encoding
    // fingerprints the same.
    let openssl_der = std::fs::read(dir.join("ec.p8")).unwrap();
    let signing = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let ours = EcdsaKeyPair::from_pkcs8(signing, &openssl_der)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    assert_eq!(&hsm.unwrap_other(blob, spec).unwrap()[..], ours.as_ref());
    let again = hsm
        .import_material(&p.token, &wrap(p, ours.as_ref()), KEY, 2, spec)
        .unwrap();
    assert_eq!(again.fingerprint, imported.fingerprint);
}
