//! Service integration tests: real state machine, real RocksDB, real Raft over loopback
//! sockets, the real soft HSM; several nodes in one process.

mod harness;

mod cluster;
mod crypto;
mod deletion;
mod disk;
mod import;
mod import_rotation;
mod keys;
mod rotation;
mod usage;
