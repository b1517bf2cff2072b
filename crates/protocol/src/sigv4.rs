//! The SigV4 `Authorization` header grammar: `AWS4-HMAC-SHA256 Credential=<id>/<date>/
//! <region>/<service>/aws4_request, SignedHeaders=<h1;h2>, Signature=<hex>`. Pure and total:
//! any header text yields an [`Authorization`] or an AWS-style error naming what is wrong,
//! never a panic (fuzzed: `fuzz/fuzz_targets/sigv4_authorization.rs`). Verifying the
//! signature is trent-api's.

use trent_model::Error;

/// The only signing algorithm trent accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parsed `Authorization` header of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lowercase header names, in the order the client gave them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// An `InvalidSignatureException` with `message`.
pub fn invalid(message: impl std::fmt::Display) -> Error {
    Error::signature_invalid(message)
}

fn incomplete(message: &str) -> Error {
    Error::authorization_incomplete(message)
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/<service>/aws4_request,
    /// SignedHeaders=<h1;h2>, Signature=<hex>`. No header at all is
    /// `MissingAuthenticationTokenException`; an element given twice is refused.
    pub fn parse(header: Option<&str>) -> Result<Authorization, Error> {
        Self::parse_all(&header.into_iter().collect::<Vec<_>>())
    }

    /// Like [`Authorization::parse`], given every `Authorization` header of the request:
    /// more than one is refused.
    pub fn parse_all(headers: &[&str]) -> Result<Authorization, Error> {
        if headers.len() > 1 {
            return Err(incomplete("Authorization is given more than once"));
        }
        let header = headers.first().copied().ok_or_else(Error::missing_token)?;
        let rest = header
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| invalid(format!("Authorization: only {ALGORITHM} is supported")))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            let (slot, name, value) = match part.split_once('=') {
                Some((name @ "Credential", v)) => (&mut credential, name, v),
                Some((name @ "SignedHeaders", v)) => (&mut signed, name, v),
                Some((name @ "Signature", v)) => (&mut signature, name, v),
                _ => return Err(incomplete(&format!("unexpected element '{part}'"))),
            };
            // One reader taking the first and another the last of a repeated element is
            // how a request gets attributed to a key that did not sign it: refuse it.
            if slot.replace(value).is_some() {
                return Err(incomplete(&format!("{name} is given more than once")));
            }
        }
        let credential = credential.ok_or_else(|| incomplete("no Credential"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(incomplete(
                "Credential must be <access key id>/<date>/<region>/<service>/aws4_request",
            ));
        };
        let signed = signed.ok_or_else(|| incomplete("no SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("no Signature"))?;
        let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
        if signed_headers
            .iter()
            .any(|h| h.is_empty() || h != &h.to_lowercase())
        {
            return Err(incomplete(
                "SignedHeaders must be lowercase names separated by ';'",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(incomplete("Signature must be 64 hex digits"));
        }
        Ok(Authorization {
            access_key_id: id.into(),
            date: date.into(),
            region: region.into(),
            service: service.into(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }
}
