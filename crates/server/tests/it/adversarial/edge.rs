//! Item 2, the HTTP edge under abuse: 1,000 connections that trickle request headers and 50
//! HTTP/2 connections that keep streams open with half-sent bodies, against one real `trentd`,
//! while boto3 calls Encrypt. Every call must be answered, the node's memory (VmRSS) must stay
//! bounded, and the node must have cut the slow clients (header deadline) and answered the
//! stalled bodies 408 (body deadline). Subnet 127.110.0.x.
//!
//! The deadlines are shortened by flags so that they fire several times within the attack;
//! `trentd run --help` must show the production defaults.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;
use crate::interop::venv_python;

const SUBNET: u8 = 110;
/// Connections that trickle a request head, one byte every half second.
const SLOW: usize = 1000;
/// HTTP/2 connections, each keeping up to `H2_STREAMS` requests open with half a body sent.
const H2_CONNECTIONS: usize = 50;
const H2_STREAMS: usize = 100;
/// The declared body: the largest the API takes; half of it is sent.
const BODY: usize = 256 * 1024;
/// How much the node's RSS may grow under the attack. Unbounded buffering of the stalled
/// bodies alone would be 50 x 100 x 128 KiB = 625 MiB.
const RSS_GROWTH_LIMIT_KIB: u64 = 192 * 1024;
/// The shortest time boto3 keeps calling, so that every deadline fires during its calls.
const ATTACK_SECONDS: u64 = 8;

/// Counters of what the attack saw.
#[derive(Default)]
struct Seen {
    slow_connects: AtomicUsize,
    slow_cut: AtomicUsize,
    h2_streams: AtomicUsize,
    h2_408: AtomicUsize,
    peak_rss_kib: AtomicU64,
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_stalled_clients_neither_starve_boto3_nor_grow_memory() {
    raise_fd_limit();
    assert_defaults_are_documented();
    let cluster = TestCluster::start(
        SUBNET,
        1,
        &[
            "--http-header-timeout-ms",
            "2000",
            "--http-body-timeout-ms",
            "3000",
            "--http-idle-timeout-ms",
            "5000",
        ],
    );
    cluster.leader().await;
    let node = &cluster.nodes[0];
    let pid = node.pid().unwrap();
    let key_id = create_key(&node.client()).await.unwrap();
    let addr = format!("{}:7700", node.ip);
    let baseline = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let mut tasks = vec![];
    for _ in 0..SLOW {
        tasks.push(tokio::spawn(slow_headers(
            addr.clone(),
            stop.clone(),
            seen.clone(),
        )));
    }
    for _ in 0..H2_CONNECTIONS {
        tasks.push(tokio::spawn(stalled_bodies(
            addr.clone(),
            stop.clone(),
            seen.clone(),
        )));
    }
    tasks.push(tokio::spawn(sample_rss(pid, stop.clone(), seen.clone())));
    wait_for("the attack to be in place", Duration::from_secs(30), || {
        let seen = seen.clone();
        async move {
            let slow = seen.slow_connects.load(Ordering::Relaxed) >= SLOW;
            let h2 = seen.h2_streams.load(Ordering::Relaxed) >= H2_CONNECTIONS * 8;
            (slow && h2).then_some(())
        }
    })
    .await;

    let boto3 = boto3_encrypts(node.api(), key_id).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.abort();
    }
    let peak = seen.peak_rss_kib.load(Ordering::SeqCst).max(rss_kib(pid));
    let report = format!(
        "baseline RSS {baseline} KiB, peak {peak} KiB; slow connects {}, cut {}; h2 streams {}, 408s {}; boto3: {boto3}",
        seen.slow_connects.load(Ordering::SeqCst),
        seen.slow_cut.load(Ordering::SeqCst),
        seen.h2_streams.load(Ordering::SeqCst),
        seen.h2_408.load(Ordering::SeqCst),
    );
    eprintln!("edge attack: {report}");
    assert!(boto3.starts_with("answered"), "{report}");
    assert!(
        peak.saturating_sub(baseline) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew beyond {RSS_GROWTH_LIMIT_KIB} KiB: {report}"
    );
    assert!(
        seen.slow_cut.load(Ordering::SeqCst) > 0,
        "slow heads never cut: {report}"
    );
    assert!(
        seen.h2_408.load(Ordering::SeqCst) > 0,
        "stalled bodies never answered 408: {report}"
    );
    // The node still serves once the attack is over, and an HTTP/1.1 body that stalls is
    // answered 408 on a connection that is then closed.
    create_key(&node.client()).await.unwrap();
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let head = "POST / HTTP/1.1\r\nHost: trent\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.Encrypt\r\nContent-Length: 100\r\n\r\n{";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeoutException"), "{answer}");
}

/// Past `--http-max-connections` a connection is closed at once, and the accepted ones are
/// still served. Subnet 127.111.0.x.
#[tokio::test(flavor = "multi_thread")]
async fn connections_past_the_cap_are_closed_and_accepted_ones_served() {
    let cluster = TestCluster::start(111, 1, &["--http-max-connections", "4"]);
    cluster.leader().await;
    let addr = format!("{}:7700", cluster.nodes[0].ip);
    // The probes above used connections of their own: wait until the node has let them go.
    let mut held = vec![];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while held.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "4 connections never served"
        );
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: trent\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        match tcp.read(&mut buf).await {
            Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200") => held.push(tcp),
            _ => {}
        }
    }
    let mut refused = TcpStream::connect(&addr).await.unwrap();
    let _ = refused
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: trent\r\n\r\n")
        .await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.is_empty(), "a fifth connection was served: {answer}");
    for tcp in &mut held {
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: trent\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
}

/// Everything `tcp` receives until the node closes it (within 20 s).
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = vec![];
    let read = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the node kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

/// The test opens more than a thousand sockets; the default soft limit may be 1024.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit write and read only the struct passed.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        assert!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur >= 4096,
            "RLIMIT_NOFILE {} is too low for this test (ulimit -Hn)",
            limit.rlim_cur
        );
    }
}

/// `trentd run --help` names every edge setting with its production default.
fn assert_defaults_are_documented() {
    let out = Command::new(env!("CARGO_BIN_EXE_trentd"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for (flag, default) in [
        (
            "--http-header-timeout-ms",
            "10000",
            "TRENT_HTTP_HEADER_TIMEOUT_MS",
        ),
        (
            "--http-body-timeout-ms",
            "30000",
            "TRENT_HTTP_BODY_TIMEOUT_MS",
        ),
        (
            "--http-idle-timeout-ms",
            "60000",
            "TRENT_HTTP_IDLE_TIMEOUT_MS",
        ),
        (
            "--http-max-connections",
            "4096",
            "TRENT_HTTP_MAX_CONNECTIONS",
        ),
        ("--http2-max-streams", "32", "TRENT_HTTP2_MAX_STREAMS"),
        (
            "--http-connection-buffer-kib",
            "1024",
            "TRENT_HTTP_CONNECTION_BUFFER_KIB",
        ),
    ]
    .map(|(flag, default, env)| (flag, format!("[default: {default}] [env: {env}=")))
    {
        assert!(help.contains(flag), "{flag} missing from trentd run --help");
        assert!(
            help.contains(&default),
            "{flag}: no '{default}' in trentd run --help:\n{help}"
        );
    }
}

/// VmRSS of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    // 0 once the process is gone (a failed test tearing down).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

async fn sample_rss(pid: u32, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    while !stop.load(Ordering::Relaxed) {
        seen.peak_rss_kib.fetch_max(rss_kib(pid), Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One slowloris connection: a request head sent one byte every half second, reconnecting
/// whenever the node hangs up.
async fn slow_headers(addr: String, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let head = b"POST / HTTP/1.1\r\nHost: trent\r\nX-Amz-Target: TrentService.Encrypt\r\nX-Slow: ";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        seen.slow_connects.fetch_add(1, Ordering::Relaxed);
        let mut cut = false;
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if tcp.write_all(&[*byte]).await.is_err() {
                cut = true;
                break;
            }
            // Pacing of the attack, not synchronisation: a hang-up shows as a readable EOF.
            let mut buf = [0u8; 512];
            let pace = Duration::from_millis(500);
            if tokio::time::timeout(pace, tcp.read(&mut buf)).await.is_ok() {
                cut = true;
                break;
            }
        }
        if cut {
            seen.slow_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One HTTP/2 connection that keeps `H2_STREAMS` Encrypt requests open, each with half of a
/// `BODY`-byte body sent, opening a new one whenever one is answered, and reconnecting when the
/// node hangs up.
async fn stalled_bodies(addr: String, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let half = Bytes::from(vec![b' '; BODY / 2]);
    while !stop.load(Ordering::Relaxed) {
        let Ok(tcp) = TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok((client, connection)) = h2::client::handshake(tcp).await else {
            continue;
        };
        let driver = tokio::spawn(connection);
        let open = Arc::new(tokio::sync::Semaphore::new(H2_STREAMS));
        let mut client = client;
        loop {
            let Ok(permit) = open.clone().acquire_owned().await else {
                break;
            };
            client = match client.ready().await {
                Ok(client) => client,
                Err(_) => break,
            };
            let request = http::Request::post(format!("http://{addr}/"))
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amz-target", "TrentService.Encrypt")
                .header("content-length", BODY.to_string())
                .body(())
                .unwrap();
            let Ok((response, mut body)) = client.send_request(request, false) else {
                break;
            };
            if body.send_data(half.clone(), false).is_err() {
                break;
            }
            seen.h2_streams.fetch_add(1, Ordering::Relaxed);
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(response) = response.await {
                    if response.status() == 408 {
                        seen.h2_408.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(body);
                drop(permit);
            });
        }
        driver.abort();
    }
}

/// boto3 Encrypts, no retries, for at least `ATTACK_SECONDS`; "answered N" when every call
/// was, else what went wrong.
async fn boto3_encrypts(endpoint: String, key_id: String) -> String {
    let script = format!(
        r#"
import time, boto3
from botocore.config import Config
kms = boto3.client("kms", endpoint_url="{endpoint}",
    config=Config(retries={{"max_attempts": 1, "mode": "standard"}}, connect_timeout=10, read_timeout=30))
end = time.time() + {ATTACK_SECONDS}
n, slowest = 0, 0.0
while time.time() < end or n < 20:
    started = time.time()
    out = kms.encrypt(KeyId="{key_id}", Plaintext=b"attack at dawn")
    assert out["CiphertextBlob"]
    slowest = max(slowest, time.time() - started)
    n += 1
print("answered", n, "slowest %.0f ms" % (slowest * 1000))
"#
    );
    let mut child = Command::new(venv_python())
        .args(["-c", &script])
        .as_test_root()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for("boto3 to finish", Duration::from_secs(90), || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await;
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut out).unwrap();
    match status.success() {
        true => out.trim().to_owned(),
        false => format!("boto3 failed: {out}"),
    }
}

/// The TLS listener holds the same deadlines: a client that completes the handshake and then
/// trickles a head is cut at the header deadline. `openssl s_client` is the client. Subnet
/// 127.112.0.x.
#[tokio::test(flavor = "multi_thread")]
async fn the_tls_listener_cuts_a_slow_head_too() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.112.0.1";
    let (cert, key) = crate::tls::self_signed(dir.path(), ip);
    let mut cluster = TestCluster::start(112, 0, &[]);
    let mut node = cluster.new_node(1, &format!("1={ip}:7701"));
    node.extra_args = ["--tls-cert-file", &cert, "--tls-key-file", &key]
        .iter()
        .chain(&["--http-header-timeout-ms", "1000"])
        .map(|s| s.to_string())
        .collect();
    node.tls = true;
    node.start();
    cluster.nodes.push(node);
    wait_for("trentd over TLS", Duration::from_secs(30), || async {
        let ok = Command::new("curl")
            .args(["-sf", "--max-time", "5", "--cacert", &cert])
            .arg(format!("https://{ip}:7700/healthz"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then_some(())
    })
    .await;
    let mut client = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &format!("{ip}:7700")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl (scripts/test installs it)");
    let mut stdin = client.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"POST / HTTP/1.1\r\nHost: trent\r\nX-Slow: a").unwrap();
    wait_for(
        "the node to cut the slow TLS client",
        Duration::from_secs(20),
        || {
            let exited = client.try_wait().unwrap();
            async move { exited }
        },
    )
    .await;
    drop(stdin);
    let mut said = String::new();
    std::io::Read::read_to_string(client.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert!(said.contains("trent-test"), "no TLS handshake: {said}");
    let mut answer = String::new();
    std::io::Read::read_to_string(client.stdout.as_mut().unwrap(), &mut answer).unwrap();
    assert!(answer.is_empty(), "a slow head was answered: {answer}");
}
