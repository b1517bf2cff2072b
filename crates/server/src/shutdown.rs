//! How a node stops on SIGTERM without costing retrying clients an error: the order below is
//! what a rolling restart behind a load balancer that follows `/readyz` needs.
//!
//! 1. `/readyz` answers 503 at once (`stopping`), so the load balancer stops sending here.
//! 2. A leader hands leadership to a caught-up voter (trent-cluster `handover.rs`); from
//!    then on this node forwards what it still receives to the new leader, and the other
//!    nodes forward to the new leader too, instead of to a node about to vanish.
//! 3. It goes on serving for the shutdown delay (`--http-shutdown-delay-ms`, default 2 s,
//!    running alongside step 2): requests the load balancer sent before it noticed still get
//!    answers.
//! 4. The listener closes and requests in flight finish (up to 10 s, `http.rs`).
//! 5. Raft and the peer listener stop.
//!
//! A node that is the only voter, or whose handover does not finish in time, still stops
//! this way; its followers elect a leader after it is gone and requests wait for that
//! (within the request timeout) instead of failing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use trent_cluster::ClusterNode;

/// How long a stopping leader tries to hand over leadership.
const HANDOVER_WITHIN: Duration = Duration::from_secs(3);

/// Runs steps 1-5; `stop_http` and `http` are the client listener's stop switch and task.
pub async fn run(
    node: &ClusterNode,
    stopping: &AtomicBool,
    delay: Duration,
    stop_http: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
) {
    stopping.store(true, Ordering::SeqCst);
    tracing::info!(
        delay_ms = delay.as_millis() as u64,
        leader = node.is_leader(),
        "shutting down: /readyz answers 503; handing over leadership and draining requests"
    );
    let handover = async {
        if node.is_leader() {
            node.hand_over(HANDOVER_WITHIN).await;
        }
    };
    tokio::join!(handover, tokio::time::sleep(delay));
    let _ = stop_http.send(true);
    let _ = http.await;
    node.shutdown().await;
    tracing::info!("stopped");
}
