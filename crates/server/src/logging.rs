//! trentd's log: text or JSON lines on stderr, filtered by `TRENT_LOG` (default
//! `info,openraft=warn`), with openraft's warnings and errors rate-limited.
//!
//! openraft logs every failed replication attempt and vote request: an unreachable follower
//! costs about 20 lines a second (a warning and an error per heartbeat, at least two a
//! second after its back-off), forever. Each of its warn and error call sites may log at
//! most once per [`PERIOD`]; the rest are dropped. What an operator needs instead comes from
//! trent itself, once per change: "peer unreachable" and "peer reachable again"
//! (trent_cluster's peers.rs), and the per-peer liveness in the status and the metrics.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::callsite::Identifier;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// How often one openraft warn/error call site may log.
pub const PERIOD: Duration = Duration::from_secs(10);

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(RateLimit::default());
    match format {
        LogFormat::Text => registry.with(fmt).init(),
        LogFormat::Json => registry.with(fmt.json()).init(),
    }
}

/// Drops an openraft warning or error whose call site logged less than [`PERIOD`] ago.
#[derive(Default)]
struct RateLimit {
    last: Mutex<HashMap<Identifier, Instant>>,
}

impl RateLimit {
    fn allow(&self, callsite: Identifier, now: Instant) -> bool {
        let mut last = self.last.lock().expect("rate limit lock");
        match last.get(&callsite) {
            Some(at) if now.duration_since(*at) < PERIOD => false,
            _ => {
                last.insert(callsite, now);
                true
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for RateLimit {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        // WARN and ERROR are the levels at or below WARN (less verbose).
        if *meta.level() > Level::WARN || !meta.target().starts_with("openraft") {
            return true;
        }
        self.allow(meta.callsite(), Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_site_logs_once_per_period() {
        // Not zero-sized: call sites are told apart by address.
        struct Site(#[allow(dead_code)] u8);
        impl tracing::callsite::Callsite for Site {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &tracing::Metadata<'_> {
                unimplemented!()
            }
        }
        static A: Site = Site(1);
        static B: Site = Site(2);
        let limit = RateLimit::default();
        let t = Instant::now();
        assert!(limit.allow(Identifier(&A), t));
        assert!(!limit.allow(Identifier(&A), t + Duration::from_secs(1)));
        assert!(limit.allow(Identifier(&B), t + Duration::from_secs(1)));
        assert!(limit.allow(Identifier(&A), t + PERIOD));
    }
}
