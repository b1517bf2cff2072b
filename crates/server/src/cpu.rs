//! The CPU features this build of trentd needs, checked before anything runs on them.
//!
//! RocksDB's C++ is compiled with SSE4.2 and PCLMULQDQ (`.cargo/config.toml`) so the CRC32C
//! of every WAL record runs on the CPU's instructions. On a CPU without them the first write
//! would die of an illegal instruction; trentd refuses to start instead, and says why.

/// `Err` naming what is missing when this CPU cannot run this build.
pub fn check() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        let missing: Vec<&str> = [
            ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
            (
                "pclmulqdq",
                std::arch::is_x86_feature_detected!("pclmulqdq"),
            ),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
        if !missing.is_empty() {
            return Err(format!(
                "this CPU lacks {}, which this build of trentd's storage engine uses for its \
                 checksums (any x86-64 server CPU since 2010 has them)",
                missing.join(" and ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_build_machine_can_run_what_it_built() {
        // The tests run where the build ran: a machine that compiled RocksDB with these
        // instructions must pass its own check, or no trentd it built would start.
        super::check().unwrap();
    }
}
