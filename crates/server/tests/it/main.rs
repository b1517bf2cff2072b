//! Integration tests of `trentd`: real processes, real sockets, real RocksDB data dirs.

mod adversarial;
mod auth;
mod authorization;
mod backup;
mod bad_input;
mod compose;
mod crash;
mod dev;
mod disk_faults;
mod fidelity;
mod forwarding;
mod harness;
mod interop;
mod kubernetes;
mod membership;
mod metrics;
mod observe;
mod operator_mistakes;
mod partition;
mod peer_tls;
mod sdk;
mod shapes;
mod statefulset;
mod tls;
mod user_policies;
mod wire;
