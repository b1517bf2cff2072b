//! The access log file (`http_access_log`): trent_api's records, one JSON line each, written
//! by a thread of its own so that a slow disk never holds a request up.
//!
//! The file is opened for appending, created mode 0600 (it names access keys, principals and
//! client addresses); `-` writes to standard output. Lines wait in a bounded queue; when it
//! is full (the disk cannot keep up), lines are dropped and counted, and the count is logged
//! at warn at most once a minute: losing lines is better than stalling every client. Rotate
//! the file with copytruncate (or restart the node): trentd keeps it open.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use trent_api::{AccessLog, AccessRecord};

/// Gives `api` the access log the edge configuration names, if any.
pub fn install(api: trent_api::Api, edge: &crate::edge::Edge) -> anyhow::Result<trent_api::Api> {
    let Some(path) = &edge.access_log else {
        return Ok(api);
    };
    let file = AccessLogFile::open(path)
        .map_err(|e| anyhow::anyhow!("http_access_log {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "writing the access log");
    Ok(api.with_access_log(std::sync::Arc::new(file)))
}

/// Lines that may wait for the writer.
const QUEUE: usize = 65_536;

pub struct AccessLogFile {
    lines: SyncSender<String>,
    dropped: AtomicU64,
    /// Unix minute of the last warning about dropped lines.
    warned: AtomicU64,
}

impl AccessLogFile {
    /// Opens `path` (or standard output for `-`) and starts the writer thread.
    pub fn open(path: &Path) -> std::io::Result<AccessLogFile> {
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            use std::os::unix::fs::OpenOptionsExt;
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)?,
            )
        };
        let (lines, queued) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(queued, std::io::BufWriter::new(out)))?;
        Ok(AccessLogFile {
            lines,
            dropped: AtomicU64::new(0),
            warned: AtomicU64::new(0),
        })
    }
}

/// Writes lines as they come, flushing whenever the queue runs empty.
fn write_lines(queued: Receiver<String>, mut out: impl Write) {
    while let Ok(line) = queued.recv() {
        let mut result = out.write_all(line.as_bytes());
        while let (Ok(()), Ok(line)) = (&result, queued.try_recv()) {
            result = out.write_all(line.as_bytes());
        }
        if let Err(e) = result.and_then(|()| out.flush()) {
            tracing::error!(error = %e, "cannot write the access log");
        }
    }
}

impl AccessLog for AccessLogFile {
    fn record(&self, record: AccessRecord) {
        match self.lines.try_send(record.to_line()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let minute = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() / 60);
                if self.warned.swap(minute, Ordering::Relaxed) != minute {
                    tracing::warn!(
                        dropped,
                        "access log lines dropped: the writer cannot keep up"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file_which_only_its_owner_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLogFile::open(&path).unwrap();
        for status in [200, 400] {
            log.record(AccessRecord {
                time: "2024-01-01T00:00:00Z".into(),
                request_id: uuid::Uuid::nil(),
                client: None,
                operation: "Encrypt",
                access_key_id: None,
                principal: None,
                key_id: None,
                status,
                error_code: None,
                duration_ms: 0.0,
            });
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap().lines().count() < 2 {
            assert!(std::time::Instant::now() < deadline, "lines not written");
            std::thread::yield_now();
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
