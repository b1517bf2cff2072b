//! SigV4 verification: parses the `Authorization` header, checks the credential scope and
//! the clock-skew window, and recomputes the signature with `aws-sigv4` (the signer AWS's
//! own SDKs use) over exactly the headers the client signed, comparing in constant time.
//!
//! Pure: the caller looks up the secret (an HSM unwrap, on the leader) between
//! [`Authorization::parse`] (trent-protocol's grammar) and [`verify`].

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use subtle::ConstantTimeEq;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use trent_model::Error;

use crate::wire::RawRequest;
pub use trent_protocol::sigv4::{invalid, Authorization, ALGORITHM};

/// How far a request's time may be from the server's, either way (AWS: 5 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(300);
const SERVICE: &str = "kms";
const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// Checks what needs no secret: scope, signed headers, request time against `now`.
/// Returns the request time.
pub fn check(
    auth: &Authorization,
    req: &RawRequest,
    region: &str,
    now: SystemTime,
) -> Result<SystemTime, Error> {
    if auth.service != SERVICE {
        return Err(invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE}'"
        )));
    }
    if auth.region != region {
        return Err(invalid(format!(
            "Credential should be scoped to a valid region, not '{}'; this endpoint serves '{region}'",
            auth.region
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(invalid(format!("'{required}' must be a signed header")));
        }
    }
    let amz_date = req
        .header("x-amz-date")
        .ok_or_else(|| invalid("X-Amz-Date header is missing"))?;
    let time = PrimitiveDateTime::parse(amz_date, AMZ_DATE)
        .map_err(|_| invalid(format!("X-Amz-Date '{amz_date}' is not YYYYMMDDTHHMMSSZ")))?
        .assume_utc();
    if !amz_date.starts_with(&auth.date) {
        return Err(invalid(format!(
            "Credential date {} does not match X-Amz-Date {amz_date}",
            auth.date
        )));
    }
    let time = SystemTime::from(time);
    let stamp = |t: SystemTime| OffsetDateTime::from(t).format(AMZ_DATE).unwrap_or_default();
    match now.duration_since(time) {
        Ok(behind) if behind > MAX_SKEW => {
            let limit = stamp(now - MAX_SKEW);
            return Err(Error::signature_expired(amz_date, limit, stamp(now)));
        }
        Err(ahead) if ahead.duration() > MAX_SKEW => {
            let limit = stamp(now + MAX_SKEW);
            return Err(Error::signature_not_yet_current(
                amz_date,
                limit,
                stamp(now),
            ));
        }
        _ => {}
    }
    Ok(time)
}

/// Recomputes the signature of `req` with `secret` and compares it with the client's.
pub fn verify(
    auth: &Authorization,
    req: &RawRequest,
    secret: &str,
    region: &str,
    time: SystemTime,
) -> Result<(), Error> {
    let identity: Identity =
        Credentials::new(&auth.access_key_id, secret, None, None, "trent").into();
    let mut settings = SigningSettings::default();
    // Sign exactly the headers the client signed: nothing excluded, nothing added but what
    // SigV4 always signs (host, x-amz-date), which the client must have signed too.
    settings.excluded_headers = None;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error::internal(format!("signing parameters: {e}")))?
        .into();
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values = req.header_values(name);
        if values.is_empty() {
            return Err(invalid(format!(
                "signed header '{name}' is not in the request"
            )));
        }
        headers.extend(values.into_iter().map(|v| (name.as_str(), v)));
    }
    let signable = SignableRequest::new(
        &req.method,
        req.uri.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| invalid(format!("request cannot be canonicalized: {e}")))?;
    let output =
        sign(signable, &params).map_err(|e| invalid(format!("request cannot be signed: {e}")))?;
    let expected = output.signature().as_bytes();
    if expected.ct_eq(auth.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(Error::signature_mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_model::ErrorKind;

    const ID: &str = "TKIATEST000000000001";
    const SECRET: &str = "secret/of+the+test";

    /// A request signed by `aws-sigv4` as a client would sign it, at `time`.
    fn signed(body: &[u8], time: SystemTime) -> RawRequest {
        let identity: Identity = Credentials::new(ID, SECRET, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("kms")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("host", "127.0.0.1:7700"),
            ("x-amz-target", "TrentService.ListKeys"),
        ];
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:7700/",
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        all.extend(
            instructions
                .headers()
                .map(|(n, v)| (n.to_lowercase(), v.to_string())),
        );
        RawRequest {
            method: "POST".into(),
            uri: "/".into(),
            headers: all,
            body: body.to_vec(),
        }
    }

    fn verdict(req: &RawRequest, secret: &str, now: SystemTime) -> Result<(), Error> {
        let auth = Authorization::parse(req.header("authorization"))?;
        let time = check(&auth, req, "us-east-1", now)?;
        verify(&auth, req, secret, "us-east-1", time)
    }

    #[test]
    fn a_correctly_signed_request_verifies() {
        let now = SystemTime::now();
        verdict(&signed(b"{}", now), SECRET, now).unwrap();
    }

    #[test]
    fn tampering_a_wrong_secret_and_skew_are_invalid_signatures() {
        let now = SystemTime::now();
        let mut tampered = signed(b"{}", now);
        tampered.body = b"{\"Limit\":1}".to_vec();
        let mut retargeted = signed(b"{}", now);
        for (n, v) in retargeted.headers.iter_mut() {
            if n == "x-amz-target" {
                *v = "TrentService.CreateKey".into();
            }
        }
        let old = signed(b"{}", now - Duration::from_secs(301));
        for (req, secret) in [
            (&tampered, SECRET),
            (&retargeted, SECRET),
            (&signed(b"{}", now), "other"),
            (&old, SECRET),
        ] {
            let e = verdict(req, secret, now).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature, "{e}");
        }
        let e = verdict(&old, SECRET, now).unwrap_err();
        assert!(e.message.starts_with("Signature expired: "), "{e}");
        assert!(e.message.ends_with(" - 5 min.)"), "{e}");
    }

    #[test]
    fn malformed_authorization_headers_are_refused_by_what_is_wrong() {
        let missing = Authorization::parse(None).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::MissingAuthenticationToken);
        for (header, says) in [
            ("Basic abc", "only AWS4-HMAC-SHA256"),
            ("AWS4-HMAC-SHA256 Credential=a/b/c", "Credential must be"),
            (
                "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/kms/aws4_request, SignedHeaders=host",
                "no Signature",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/kms/aws4_request, SignedHeaders=Host, Signature=00",
                "lowercase",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=A/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=zz",
                "64 hex digits",
            ),
        ] {
            let e = Authorization::parse(Some(header)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature, "{header}");
            assert!(e.message.contains(says), "{header}: {e}");
        }
    }

    #[test]
    fn repeated_elements_and_headers_are_refused_by_name() {
        const CRED: &str = "Credential=A/20260101/us-east-1/kms/aws4_request";
        const VICTIM: &str = "Credential=V/20260101/us-east-1/kms/aws4_request";
        const SIGNED: &str = "SignedHeaders=host;x-amz-date";
        let signature = format!("Signature={}", "a".repeat(64));
        let other_signature = format!("Signature={}", "b".repeat(64));
        let header = |parts: &[&str]| format!("AWS4-HMAC-SHA256 {}", parts.join(", "));
        for (parts, name) in [
            (vec![VICTIM, CRED, SIGNED, &signature], "Credential"),
            (vec![CRED, SIGNED, &signature, VICTIM], "Credential"),
            (vec![CRED, CRED, SIGNED, &signature], "Credential"),
            (
                vec![CRED, SIGNED, "SignedHeaders=host", &signature],
                "SignedHeaders",
            ),
            (
                vec![CRED, SIGNED, &signature, &other_signature],
                "Signature",
            ),
        ] {
            let text = header(&parts);
            let e = Authorization::parse(Some(&text)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSignature, "{text}");
            assert!(
                e.message
                    .contains(&format!("{name} is given more than once")),
                "{text}: {e}"
            );
        }
        let one = header(&[CRED, SIGNED, &signature]);
        assert_eq!(
            Authorization::parse_all(&[&one]).unwrap().access_key_id,
            "A"
        );
        let e = Authorization::parse_all(&[&one, &one]).unwrap_err();
        assert!(
            e.message.contains("Authorization is given more than once"),
            "{e}"
        );
        let missing = Authorization::parse_all(&[]).unwrap_err();
        assert_eq!(missing.kind, ErrorKind::MissingAuthenticationToken);
    }

    #[test]
    fn the_scope_must_name_kms_and_this_region() {
        let now = SystemTime::now();
        let req = signed(b"{}", now);
        let auth = Authorization::parse(req.header("authorization")).unwrap();
        let e = check(&auth, &req, "eu-west-1", now).unwrap_err();
        assert!(e.message.contains("region"), "{e}");
        let mut s3 = auth.clone();
        s3.service = "s3".into();
        assert!(check(&s3, &req, "us-east-1", now).is_err());
        let mut unsigned_host = auth;
        unsigned_host.signed_headers.retain(|h| h != "host");
        let e = check(&unsigned_host, &req, "us-east-1", now).unwrap_err();
        assert!(e.message.contains("'host' must be a signed header"), "{e}");
    }
}
