//! trent's chaos harness, in the Jepsen tradition: `trentd` nodes as separate hosts (network
//! namespaces on a bridge), nemeses that partition, kill, pause, skew clocks and change
//! membership, concurrent clients speaking the AWS KMS API with SigV4, a recorded history,
//! checkers over it and an HTML report. `jepsen/README.md` tells how to run it.
//!
//! Layers: [`hosts`] and [`nodes`] make the cluster; [`client`] and [`workload`] talk to it;
//! [`nemesis`] breaks it; [`recorder`] writes [`history`]; [`check`] and [`report`] judge it;
//! [`run`] ties one test together.

pub mod check;
pub mod client;
pub mod disks;
pub mod history;
pub mod hosts;
pub mod nemesis;
pub mod nodes;
pub mod recorder;
pub mod report;
pub mod run;
pub mod trail;
pub mod workload;
