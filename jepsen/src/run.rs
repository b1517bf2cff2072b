//! One run: set up the hosts and nodes, make the keys the workloads act on, run the clients
//! and the nemesis for the time limit, heal everything, read back what must have survived,
//! check the history and write the report. The run's directory holds the history, every
//! node's log, the verdicts and `report.html`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::Rng;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::check::{self, CheckConfig, Validity, Verdict};
use crate::client::{Clients, Outcome};
use crate::history::{self, Entry, Kind, Op};
use crate::hosts::Hosts;
use crate::nemesis::{self, Fault, Nemesis, PartitionMode, PowerLossMode};
use crate::nodes::{Nodes, Spec};
use crate::recorder::Recorder;
use crate::report::{self, RunMeta};
use crate::workload::{self, execute, ClientState, Plan, Workload};

#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: u64,
    pub nemeses: Vec<Fault>,
    pub partition_modes: Vec<PartitionMode>,
    /// Whom power losses take (all modes when empty).
    pub power_loss_modes: Vec<PowerLossMode>,
    pub time_limit: Duration,
    /// Healthy time before each fault, and how long a fault lasts.
    pub interval: Duration,
    pub fault_duration: Duration,
    /// Clients per workload.
    pub concurrency: usize,
    /// Operations per second over all clients (a target, not a promise).
    pub rate: f64,
    /// How many keys and aliases the workloads spread over (1: the default few).
    pub scale: usize,
    pub out: PathBuf,
    pub trentd: PathBuf,
    pub failpoints: Option<String>,
    /// More `trentd run` arguments for every node.
    pub trentd_args: Vec<String>,
    pub check: CheckConfig,
    /// The command line, for the report.
    pub command: String,
}

/// Runs the test; answers whether every checker passed.
pub async fn run(options: Options) -> Result<bool> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let started_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let hosts = Hosts::setup(options.nodes)?;
    let mut nodes = Nodes::new(Spec {
        trentd: options.trentd.clone(),
        dir: options.out.clone(),
        count: options.nodes,
        faketime: options.nemeses.contains(&Fault::Clock),
        failpoints: options.failpoints.clone(),
        extra_args: options.trentd_args.clone(),
        faulty_disks: options.nemeses.iter().any(|f| f.needs_faulty_disks()),
    })?;
    for id in nodes.ids() {
        nodes.start(id)?;
    }
    let nodes = Arc::new(Mutex::new(nodes));
    let clients = Clients::new(&hosts.ids, Duration::from_secs(4), Duration::from_secs(12))?;
    wait_healthy(&nodes, &clients).await?;
    let plan = make_plan(&clients, options.scale.max(1)).await?;
    let grantee = make_grantee(&clients, &plan).await?;
    tracing::info!(?plan, "keys and aliases made; starting clients and nemesis");

    let recorder = Arc::new(Recorder::create(&options.out.join("history.jsonl"))?);
    let nemesis = Nemesis {
        nodes: nodes.clone(),
        recorder: recorder.clone(),
        clients: clients.clone(),
        partition_modes: options.partition_modes.clone(),
        clock_faults: Default::default(),
        wipe_findings: Default::default(),
        power_loss_modes: options.power_loss_modes.clone(),
        disk_findings: Default::default(),
        audit_dir: (!audit_off(&options)).then(|| options.out.join("audit")),
        audit_checks: Default::default(),
    };
    let deadline = Instant::now() + options.time_limit;
    let crashes = Arc::new(std::sync::Mutex::new(vec![]));
    let clients_done = run_clients(&options, &plan, (&clients, &grantee), &recorder, deadline);
    let faults = run_nemesis(&options, &nemesis, deadline, crashes.clone());
    let (_, faults) = tokio::join!(clients_done, faults);
    faults?;

    tracing::info!("time limit reached; healing and reading back");
    wait_healthy(&nodes, &clients).await?;
    final_reads(&clients, &recorder, &plan).await;

    let trail = match &nemesis.audit_dir {
        None => None,
        Some(dir) => Some(collect_trail_healed(&clients, dir).await),
    };
    let entries = recorder.entries();
    let mut verdicts = check::check_all(&entries, &options.check);
    if let Some(trail) = trail {
        let ops = crate::history::completed(&entries);
        let trail = trail.map_err(|failed| format!("{failed:?}"));
        let mut verdict = check::audit::check_audit(&ops, trail);
        let (verified, findings) = std::mem::take(&mut *nemesis.audit_checks.lock().unwrap());
        check::audit::add_mid_run(&mut verdict, verified, findings);
        verdicts.push(verdict);
    }
    verdicts.push(crash_verdict(&crashes.lock().unwrap()));
    if options.nemeses.contains(&Fault::Wipe) {
        verdicts.push(wipe_verdict(&nemesis.wipe_findings.lock().unwrap()));
    }
    if options.nemeses.iter().any(|f| f.needs_faulty_disks()) {
        verdicts.push(disk_verdict(&nemesis.disk_findings.lock().unwrap()));
    }
    let meta = RunMeta {
        command: options.command.clone(),
        nodes: options.nodes as usize,
        nemeses: options
            .nemeses
            .iter()
            .map(|f| f.name().to_owned())
            .collect(),
        time_limit_secs: options.time_limit.as_secs(),
        started_at,
    };
    report::write_report(&options.out, &entries, &verdicts, &meta)?;
    print_summary(&options, &verdicts);
    let passed = verdicts.iter().all(|v| v.validity == Validity::Valid);
    if !passed {
        keep_data_dirs(&*nodes.lock().await, &options.out);
    }
    drop(nodes);
    drop(hosts);
    if passed {
        for id in 1..=options.nodes {
            let _ = std::fs::remove_dir_all(options.out.join(format!("n{id}/data")));
        }
    }
    Ok(passed)
}

/// Waits until every node is up and they agree on a leader that serves a read.
async fn wait_healthy(nodes: &Arc<Mutex<Nodes>>, clients: &Clients) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (ids, all_up) = {
            let nodes = nodes.lock().await;
            let ids = nodes.ids();
            let up = ids
                .iter()
                .all(|&id| nodes.is_running(id) && !nodes.is_paused(id));
            (ids, up)
        };
        if all_up && nemesis::find_leader(&ids).await.is_some() {
            let read = clients.call("ListKeys", &json!({ "Limit": 1 })).await;
            if matches!(read, Outcome::Answered { answer: Ok(_), .. }) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the cluster did not become healthy within 90 s (see the node logs)");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fresh keys for the deletion-schedule workload, each scheduled at most once (a second
/// schedule of a pending key is refused), per unit of scale.
const DELETION_KEYS: usize = 20;

/// The keys and aliases of a run: 3 key-state registers, 2 alias targets, 1 key for
/// ciphertexts, 3 aliases, 20 deletion keys, 3 authorization keys and 4 signing keys (3
/// ECC_NIST_P256, 1 RSA_2048), each count times `scale`, so that more clients spread over
/// more registers (each register's history stays checkable).
async fn make_plan(clients: &Clients, scale: usize) -> Result<Plan> {
    let mut keys = vec![];
    for _ in 0..(9 + DELETION_KEYS) * scale {
        keys.push(create_key(clients, &json!({ "Description": "jepsen" })).await?);
    }
    let mut signing_keys = vec![];
    for (spec, algorithm) in workload::signing::KEY_SPECS.repeat(scale) {
        let input = json!({ "Description": "jepsen signing", "KeySpec": spec,
                            "KeyUsage": "SIGN_VERIFY" });
        signing_keys.push(workload::signing::SigningKey {
            key: create_key(clients, &input).await?,
            algorithm: algorithm.to_owned(),
        });
    }
    let run_tag = uuid::Uuid::new_v4().simple().to_string();
    let mut keys = keys.into_iter();
    let mut take = |n: usize| keys.by_ref().take(n * scale).collect::<Vec<_>>();
    Ok(Plan {
        register_keys: take(3),
        alias_targets: take(2),
        durable_keys: take(1),
        deletion_keys: take(DELETION_KEYS),
        authz_keys: take(3),
        signing_keys,
        aliases: (0..3 * scale)
            .map(|i| format!("alias/jepsen-{}-{i}", &run_tag[..8]))
            .collect(),
        run_tag,
        list_share: 0.25 / (scale * scale) as f64,
    })
}

/// The authorization workload's grantee: a user with no identity policy, and its access key;
/// then every authorization key gets the policy that is silent on it (the workload's first
/// state: the grantee may encrypt only through a grant). Answers clients signing as it.
async fn make_grantee(clients: &Clients, plan: &Plan) -> Result<Clients> {
    let user = json!({ "UserName": workload::GRANTEE });
    match clients.admin("CreateUser", &user).await {
        Outcome::Answered { answer: Ok(_), .. } => {}
        other => bail!("could not create the grantee user: {other:?}"),
    }
    let made = match clients.admin("CreateAccessKey", &user).await {
        Outcome::Answered { answer: Ok(v), .. } => v,
        other => bail!("could not create the grantee's access key: {other:?}"),
    };
    let (id, secret) = (
        made["AccessKey"]["AccessKeyId"].as_str(),
        made["AccessKey"]["SecretAccessKey"].as_str(),
    );
    let (Some(id), Some(secret)) = (id, secret) else {
        bail!("CreateAccessKey answered no access key: {made}");
    };
    for key in &plan.authz_keys {
        let input = json!({
            "KeyId": key,
            "PolicyName": "default",
            "Policy": workload::key_policy(history::GranteePolicy::Silent),
        });
        match clients.call("PutKeyPolicy", &input).await {
            Outcome::Answered { answer: Ok(_), .. } => {}
            other => bail!("could not put the first key policy on {key}: {other:?}"),
        }
    }
    clients.as_principal(id, secret)
}

async fn create_key(clients: &Clients, input: &serde_json::Value) -> Result<String> {
    match clients.call("CreateKey", input).await {
        Outcome::Answered { answer: Ok(v), .. } => Ok(v["KeyMetadata"]["KeyId"]
            .as_str()
            .context("CreateKey answered no KeyId")?
            .to_owned()),
        other => bail!("could not create the workload keys: {other:?}"),
    }
}

/// Every workload's clients; the authorization workload's users sign as the grantee.
async fn run_clients(
    options: &Options,
    plan: &Plan,
    (root, grantee): (&Clients, &Clients),
    recorder: &Arc<Recorder>,
    deadline: Instant,
) {
    let total = (workload::ALL.len() * options.concurrency) as f64;
    let mean_gap = Duration::from_secs_f64(total / options.rate.max(0.1));
    let mut tasks = vec![];
    for workload in workload::ALL {
        let clients = match workload {
            Workload::AuthzUse => grantee,
            _ => root,
        };
        for _ in 0..options.concurrency {
            let (plan, clients, recorder) = (plan.clone(), clients.clone(), recorder.clone());
            tasks.push(tokio::spawn(async move {
                client_loop(workload, plan, clients, recorder, deadline, mean_gap).await
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// How far a client may fall behind its schedule before it stops catching up (after a
/// stall it would otherwise burst for as long as the stall lasted).
const MAX_LAG: Duration = Duration::from_secs(1);

/// One logical client: invoke, record the completion, wait for the next invocation on its
/// schedule (a random gap of `mean_gap` on average from the last one, so a request's own
/// latency does not lower the rate offered), repeat until the deadline.
async fn client_loop(
    workload: Workload,
    plan: Plan,
    clients: Clients,
    recorder: Arc<Recorder>,
    deadline: Instant,
    mean_gap: Duration,
) {
    let mut process = recorder.new_process();
    let mut seq = 0u64;
    let mut state = ClientState::default();
    let mut next = Instant::now();
    while Instant::now() < deadline {
        let op = workload.next_op(&plan, &mut state, &mut rand::thread_rng(), seq);
        seq += 1;
        recorder.invoke(process, &op);
        let done = execute(&clients, &op).await;
        let kind = done.kind;
        state.observe(kind, &done.op);
        recorder.complete(process, done);
        if kind == Kind::Info {
            process = recorder.new_process();
        }
        next += mean_gap.mul_f64(rand::thread_rng().gen_range(0.0..2.0));
        next = next.max(Instant::now() - MAX_LAG);
        tokio::time::sleep_until(next).await;
    }
}

/// The fault schedule: healthy for `interval`, one fault for `fault_duration` (the chosen
/// nemeses in turn), until the deadline; notes nodes that exit by themselves. Each chosen
/// nemesis acts at least once: on a slow machine, where starting and stopping faults eat
/// into the schedule, the run ends late rather than skip one.
async fn run_nemesis(
    options: &Options,
    nemesis: &Nemesis,
    deadline: Instant,
    crashes: Arc<std::sync::Mutex<Vec<String>>>,
) -> Result<()> {
    let cycle = options.interval + options.fault_duration;
    // Start the rotation at a random nemesis, so short runs together cover all of them.
    let mut order = options.nemeses.clone();
    if !order.is_empty() {
        let start = rand::thread_rng().gen_range(0..order.len());
        order.rotate_left(start);
    }
    for (acted, fault) in order.iter().cycle().enumerate() {
        if options.nemeses.is_empty() || (acted >= order.len() && Instant::now() + cycle > deadline)
        {
            break;
        }
        tokio::time::sleep(options.interval).await;
        note_crashes(nemesis, &crashes).await;
        let active = nemesis.start(*fault).await?;
        tokio::time::sleep(options.fault_duration).await;
        nemesis.stop(active).await?;
        check_trail_after(nemesis, fault.name()).await;
    }
    tokio::time::sleep_until(deadline).await;
    note_crashes(nemesis, &crashes).await;
    nemesis::heal_partitions(&nemesis.nodes.lock().await.ids());
    Ok(())
}

async fn note_crashes(nemesis: &Nemesis, crashes: &std::sync::Mutex<Vec<String>>) {
    let mut nodes = nemesis.nodes.lock().await;
    for (id, status) in nodes.exited_by_itself() {
        tracing::error!(node = id, %status, "trentd exited by itself; restarting it");
        crashes
            .lock()
            .unwrap()
            .push(format!("node {id} exited by itself ({status})"));
        let _ = nodes.start(id);
    }
}

/// After healing: the final ListKeys, a read of every key-state register and alias, a
/// DescribeKey of every deletion-schedule key, a GetPublicKey of every signing key, and a
/// Decrypt of every acknowledged ciphertext.
async fn final_reads(clients: &Clients, recorder: &Arc<Recorder>, plan: &Plan) {
    let list = Op::ListKeys {
        final_read: true,
        keys: None,
    };
    record_one(clients, recorder, list).await;
    for key in &plan.register_keys {
        let read = Op::KeyRead {
            key: key.clone(),
            state: None,
        };
        record_one(clients, recorder, read).await;
    }
    for alias in &plan.aliases {
        let read = Op::AliasRead {
            alias: alias.clone(),
            target: None,
        };
        record_one(clients, recorder, read).await;
    }
    for key in &plan.deletion_keys {
        let read = Op::DeletionRead {
            key: key.clone(),
            at_ms: workload::wall_ms(),
            final_read: true,
            state: None,
        };
        record_one(clients, recorder, read).await;
    }
    for signing in &plan.signing_keys {
        let read = Op::GetPublicKey {
            key: signing.key.clone(),
            final_read: true,
            public_key: None,
        };
        record_one(clients, recorder, read).await;
    }
    let decrypts: Vec<Op> = history::completed(&recorder.entries())
        .into_iter()
        .filter(|c| c.kind == Kind::Ok)
        .filter_map(|c| decrypt_of(&c.op))
        .collect();
    tracing::info!(
        count = decrypts.len(),
        "decrypting every acknowledged ciphertext"
    );
    let queue = Arc::new(std::sync::Mutex::new(decrypts));
    let mut workers = vec![];
    for _ in 0..8 {
        let (queue, clients, recorder) = (queue.clone(), clients.clone(), recorder.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(op) = queue.lock().unwrap().pop() else {
                    return;
                };
                record_one(&clients, &recorder, op).await;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
}

fn decrypt_of(op: &Op) -> Option<Op> {
    let (context, ciphertext) = match op {
        Op::Encrypt {
            context,
            ciphertext: Some(Ok(c)),
            ..
        } => (context, c),
        Op::GenerateDataKey {
            context,
            data_key: Some(Ok(k)),
            ..
        } => (context, &k.ciphertext),
        _ => return None,
    };
    Some(Op::Decrypt {
        ciphertext: ciphertext.clone(),
        context: context.clone(),
        plaintext: None,
    })
}

async fn record_one(clients: &Clients, recorder: &Recorder, op: Op) {
    let process = recorder.new_process();
    recorder.invoke(process, &op);
    recorder.complete(process, execute(clients, &op).await);
}

fn crash_verdict(crashes: &[String]) -> Verdict {
    let summary = format!("{} trentd process(es) exited by themselves", crashes.len());
    findings_verdict("node-crashes", crashes, summary, "crashes")
}

/// `disk-faults`: every node with a full disk served again once it had space, without a
/// restart, and every node whose fsync failed stopped.
fn disk_verdict(findings: &[String]) -> Verdict {
    let summary = format!(
        "{} node(s) broke the rules of a full disk or a failed fsync",
        findings.len()
    );
    findings_verdict("disk-faults", findings, summary, "findings")
}

/// `wiped-stays-out`: every wiped node reported that it does not vote until it was replaced.
fn wipe_verdict(findings: &[String]) -> Verdict {
    let summary = format!("{} wiped node(s) took part in elections", findings.len());
    findings_verdict("wiped-stays-out", findings, summary, "findings")
}

/// A verdict the harness itself observed: invalid with any finding, each one an anomaly, and
/// their count under `stat`.
fn findings_verdict(checker: &str, findings: &[String], summary: String, stat: &str) -> Verdict {
    Verdict {
        checker: checker.into(),
        validity: if findings.is_empty() {
            Validity::Valid
        } else {
            Validity::Invalid
        },
        summary,
        anomalies: findings.to_vec(),
        stats: json!({ stat: findings.len() }),
    }
}

/// A failed run keeps each node's data dir as `n<i>/data`; one on a fault file system is
/// copied out (as the node last saw it) before the mount goes.
fn keep_data_dirs(nodes: &Nodes, out: &std::path::Path) {
    let Some(disks) = nodes.disks() else { return };
    for id in nodes.ids() {
        if let Err(e) = disks.copy_out(id, &out.join(format!("n{id}/data"))) {
            tracing::warn!(node = id, error = %e, "could not keep the data dir");
        }
    }
}

fn print_summary(options: &Options, verdicts: &[Verdict]) {
    println!("run directory: {}", options.out.display());
    for v in verdicts {
        println!(
            "{:<24} {:<8} {}",
            v.checker,
            format!("{:?}", v.validity),
            v.summary
        );
        for anomaly in v.anomalies.iter().take(5) {
            println!("    {anomaly}");
        }
    }
    println!("report: {}", options.out.join("report.html").display());
}

/// A run with the trail off (`--trentd-arg=--audit-trail=false`) has none to check.
fn audit_off(options: &Options) -> bool {
    options
        .trentd_args
        .iter()
        .any(|a| a == "--audit-trail=false")
}

/// The trail once the run is over and the cluster healed. A leader restored from a snapshot
/// answers 503 until it has fetched the batches before it from its peers (trent-cluster's
/// audit_backfill.rs): asked again for a minute, then the last answer stands.
async fn collect_trail_healed(
    clients: &Clients,
    dir: &std::path::Path,
) -> Result<Vec<trent_audit::Event>, crate::trail::Failed> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match crate::trail::collect(clients, dir).await {
            Err(crate::trail::Failed::Unavailable(why))
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::info!(%why, "final audit export not answered; asking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// After a fault heals: the trail exported so far verifies. An export the recovering cluster
/// does not answer is skipped (the next one covers its events); one that does not verify is
/// a finding.
async fn check_trail_after(nemesis: &Nemesis, fault: &str) {
    let Some(dir) = &nemesis.audit_dir else {
        return;
    };
    match crate::trail::collect(&nemesis.clients, dir).await {
        Ok(_) => nemesis.audit_checks.lock().unwrap().0 += 1,
        Err(crate::trail::Failed::Unavailable(why)) => {
            tracing::info!(fault, %why, "audit export after the fault skipped");
        }
        Err(crate::trail::Failed::Invalid(why)) => {
            let finding = format!("after {fault}: the exported trail does not verify: {why}");
            nemesis.audit_checks.lock().unwrap().1.push(finding);
        }
    }
}

/// The checkers on a finished run's directory (for `trent-jepsen check`): its history, and
/// its exported audit trail when it has one.
pub fn recheck(dir: &std::path::Path, config: &CheckConfig) -> Result<Vec<Verdict>> {
    let entries: Vec<Entry> = history::load(&dir.join("history.jsonl"))?;
    let mut verdicts = check::check_all(&entries, config);
    let audit = dir.join("audit");
    if let Ok(key) = std::fs::read(audit.join("audit-public-key.der")) {
        let trail = trent_audit::verify_dir(&audit, &key)
            .map_err(|finding| finding.to_string())
            .and_then(|_| trent_audit::read_events(&audit));
        let ops = history::completed(&entries);
        verdicts.push(check::audit::check_audit(&ops, trail));
    }
    Ok(verdicts)
}
#[cfg(test)]
mod verdict_tests {
    #[test]
    fn a_findings_verdict_counts_under_its_stat() {
        let v = super::disk_verdict(&["x".into()]);
        assert_eq!(v.stats["findings"], 1, "{}", v.stats);
        let v = super::crash_verdict(&[]);
        assert_eq!(v.stats["crashes"], 0, "{}", v.stats);
    }
}
