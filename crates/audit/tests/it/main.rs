//! trent-audit's tests: the event's CloudTrail shape, what may be recorded, the chain, and
//! export and verification of real directories with every tampering.

mod common;

mod chain;
mod event;
mod export;
mod parameters;
