//! trent-faultfs through a real mount: each test mounts its own file system in a temporary
//! directory (root and /dev/fuse needed) and checks what survives a power loss.

mod cache;
mod data;
mod disk_full;
mod failing_fsync;
mod mounting;
mod namespace;
mod rename;
mod smoke;
mod support;
