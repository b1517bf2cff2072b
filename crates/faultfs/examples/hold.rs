//! Holds faultfs mounts for programs started by hand or by a script (scripts/bench-faultfs):
//! mounts every directory named on the command line, prints `mounted`, and unmounts them
//! all at SIGTERM or SIGINT. Nothing here injects a fault; it is the file system's cost that
//! such a run measures.
//!
//! `cargo run --release -p trent-faultfs --example hold -- DIR...` (root: it mounts).

use std::io;
use std::path::PathBuf;

fn main() -> io::Result<()> {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: hold DIR...");
        std::process::exit(2);
    }
    // Blocked before any thread starts, so only `sigwait` below receives them.
    let signals = termination_signals();
    // SAFETY: `signals` is an initialised set; blocking signals has no other precondition.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) };
    let mounts = dirs
        .iter()
        .map(|dir| trent_faultfs::mount(dir))
        .collect::<io::Result<Vec<_>>>()?;
    println!("mounted");
    let mut received = 0;
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::sigwait(&signals, &mut received) };
    drop(mounts);
    Ok(())
}

fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}
