//! Integration tests of `trentd`: real processes, real sockets, real RocksDB data dirs.

mod adversarial;
mod auth;
mod backup;
mod bad_input;
mod compose;
mod crash;
mod dev;
mod forwarding;
mod harness;
mod interop;
mod kubernetes;
mod membership;
mod metrics;
mod operator_mistakes;
mod partition;
mod peer_tls;
mod sdk;
mod statefulset;
mod tls;
mod wire;
