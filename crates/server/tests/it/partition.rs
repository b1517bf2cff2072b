//! A leader cut off from the majority must not serve linearizable reads or writes.
//!
//! Each node sends peer traffic from its own loopback address, so iptables rules between node
//! addresses cut the peer links while the test client (on 127.0.0.1) still reaches every node.

use std::process::Command;
use std::time::Duration;

use crate::harness::*;

/// iptables rules that drop traffic between one address and others; removed on drop.
struct Partition {
    rules: Vec<Vec<String>>,
}

impl Partition {
    fn isolate(ip: &str, from: &[String]) -> Partition {
        let mut rules = vec![];
        for other in from {
            for (src, dst) in [(ip, other.as_str()), (other.as_str(), ip)] {
                let rule: Vec<String> = ["INPUT", "-s", src, "-d", dst, "-j", "DROP"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                iptables("-I", &rule);
                rules.push(rule);
            }
        }
        Partition { rules }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for rule in &self.rules {
            iptables("-D", rule);
        }
    }
}

fn iptables(action: &str, rule: &[String]) {
    let out = Command::new("iptables")
        .arg("-w")
        .arg(action)
        .args(rule)
        .output()
        .expect("iptables is needed for partition tests (scripts/test installs it; run as root)");
    assert!(
        out.status.success(),
        "iptables {action} {rule:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With leader leases (the default), the old leader's lease has run out before the majority
/// can elect another leader, so it refuses reads as well as writes.
#[tokio::test(flavor = "multi_thread")]
async fn an_isolated_old_leader_serves_no_linearizable_read_and_no_write() {
    isolated_old_leader_is_refused(41, &["--request-timeout-ms", "3000"]).await;
}

/// Without leases every read waits for a quorum round, which the old leader cannot finish.
#[tokio::test(flavor = "multi_thread")]
async fn without_lease_reads_an_isolated_old_leader_serves_no_read_either() {
    isolated_old_leader_is_refused(42, &["--request-timeout-ms", "3000", "--lease-reads=false"])
        .await;
}

async fn isolated_old_leader_is_refused(subnet: u8, args: &[&str]) {
    let cluster = TestCluster::start(subnet, 3, args);
    let old = cluster.leader().await;
    let key = create_key(&cluster.client(old)).await.unwrap();
    let others: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|&id| id != old)
        .collect();
    let other_ips: Vec<String> = others
        .iter()
        .map(|&id| TestCluster::ip(subnet, id))
        .collect();

    let partition = Partition::isolate(&TestCluster::ip(subnet, old), &other_ips);

    // The majority elects a new leader and keeps accepting writes.
    let majority_node = cluster.nodes.iter().find(|n| n.id == others[0]).unwrap();
    let majority = majority_node.client();
    let new_leader = wait_for(
        "a new leader in the majority",
        Duration::from_secs(30),
        || async { majority_node.local().await?.leader.filter(|&l| l != old) },
    )
    .await;
    assert!(others.contains(&new_leader));
    let newer = create_key(&majority)
        .await
        .expect("the majority serves writes");

    // The old leader may still believe it leads, but cannot prove it: no read, no write.
    let isolated = cluster.client(old);
    let err = describe(&isolated, &key).await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err}");
    let err = describe(&isolated, &newer).await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err}");
    let err = create_key(&isolated).await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err}");

    drop(partition);
    // Healed: the old leader follows the new one and serves the newer write.
    cluster.wait_all_applied().await;
    let read = describe(&isolated, &newer).await.unwrap();
    assert_eq!(read["KeyMetadata"]["KeyId"], newer);
}
