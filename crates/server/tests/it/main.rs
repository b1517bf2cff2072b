//! Integration tests of `trentd`: real processes, real sockets, real RocksDB data dirs.

mod auth;
mod bad_input;
mod crash;
mod dev;
mod forwarding;
mod harness;
mod interop;
mod membership;
mod partition;
mod sdk;
mod tls;
mod wire;
