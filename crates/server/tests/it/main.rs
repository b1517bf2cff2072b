//! Integration tests of `trentd`: real processes, real sockets, real RocksDB data dirs.

mod bad_input;
mod crash;
mod forwarding;
mod harness;
mod membership;
mod partition;
