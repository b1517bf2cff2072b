//! Integration tests of `trentd`: real processes, real sockets, real RocksDB data dirs.

mod auth;
mod bad_input;
mod compose;
mod crash;
mod dev;
mod forwarding;
mod harness;
mod interop;
mod kubernetes;
mod membership;
mod partition;
mod sdk;
mod statefulset;
mod tls;
mod wire;
