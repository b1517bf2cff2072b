//! trent-policy's tests against AWS's documentation: the KMS developer guide's key policy
//! examples (`kms_examples`), the IAM user guide's condition operator examples
//! (`conditions`), malformed documents and their messages (`malformed`), and generated
//! policies for determinism and "a Deny never widens access" (`properties`).

mod conditions;
mod kms_examples;
mod malformed;
mod properties;
mod support;
