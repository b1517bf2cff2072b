//! The trust boundary under attack: one test (or a few) per item of the threat model
//! (docs/ARCHITECTURE.md, "Threat model"). Each performs the attack through real sockets
//! against real `trentd` processes and asserts that it fails, and each was checked to pass
//! the attack on the code before its fix.
//!
//! Subnets 100-159 of 127.0.0.0/8 belong to this module, ten per file, so the files run in
//! parallel with each other and with the rest of the suite.

mod clock;
mod crypto;
mod edge;
pub(crate) mod files;
mod ids;
mod peer;
mod tenants;
