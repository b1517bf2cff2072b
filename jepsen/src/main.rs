//! `trent-jepsen`: run a chaos test against real `trentd` processes, or re-check a finished
//! run's history. See jepsen/README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use trent_jepsen::check::{CheckConfig, Validity};
use trent_jepsen::nemesis::{Fault, PartitionMode, PowerLossMode};
use trent_jepsen::run::{self, Options};

#[derive(Parser)]
#[command(name = "trent-jepsen", about = "Chaos tests for trent (needs root)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a cluster in network namespaces, run the workloads under faults, check.
    Test(Box<TestArgs>),
    /// Remove what a killed run left behind (namespaces and their processes, the bridge,
    /// hosts files, the FORWARD rule); waits for a live run to finish first. A new run does
    /// this by itself before it sets up.
    Clean,
    /// Re-run the checkers on a finished run's directory.
    Check {
        dir: PathBuf,
        #[arg(long, default_value_t = 0.99)]
        availability_goal: f64,
    },
}

#[derive(clap::Args)]
struct TestArgs {
    /// Faults to schedule, taken in turn: partition, kill, pause, clock, membership, netem,
    /// wipe, power-loss, disk-full, fsync-fail (the last three put the data dirs on fault
    /// file systems).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "partition,kill,pause,clock,membership,netem,wipe,power-loss,disk-full,fsync-fail,transfer-leader"
    )]
    nemesis: Vec<Fault>,
    /// Partition shapes to choose from (default: all that fit the node count).
    #[arg(long, value_delimiter = ',')]
    partition_mode: Vec<PartitionMode>,
    /// Whom power losses take: node, leader, majority, all (default: any of them).
    #[arg(long, value_delimiter = ',')]
    power_loss_mode: Vec<PowerLossMode>,
    /// The load: `default` (24 clients, 150 operations/s offered) or `heavy` (192 clients,
    /// 1 800 operations/s offered, over four times the keys and aliases).
    #[arg(long, value_enum, default_value_t = Load::Default)]
    load: Load,
    /// Seconds of workload.
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    #[arg(long, default_value_t = 5)]
    nodes: u64,
    /// Seconds of health before each fault.
    #[arg(long, default_value_t = 4)]
    interval: u64,
    /// Seconds each fault lasts.
    #[arg(long, default_value_t = 8)]
    fault_duration: u64,
    /// Clients per workload (eight: the authorization workload's admins and users count
    /// as two); default from `--load`.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Target operations per second over all clients; default from `--load`.
    #[arg(long)]
    rate: Option<f64>,
    /// Run directory (default: jepsen/store/<UTC time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The trentd binary (default: next to this one).
    #[arg(long)]
    trentd: Option<PathBuf>,
    /// FAILPOINTS for every node (trentd built with the `failpoints` feature), e.g.
    /// `read-barrier-skip=return` to break the read barrier on purpose.
    #[arg(long)]
    failpoints: Option<String>,
    /// An extra `trentd run` argument for every node (repeatable), e.g. `--trentd-arg=--lease-reads`.
    #[arg(long = "trentd-arg", allow_hyphen_values = true)]
    trentd_args: Vec<String>,
    /// Required fraction of successful requests while a majority is healthy (0: report only).
    #[arg(long, default_value_t = 0.99)]
    availability_goal: f64,
    /// Linearizability search steps per register before the verdict is "unknown".
    #[arg(long, default_value_t = CheckConfig::default().step_limit)]
    step_limit: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Load {
    Default,
    Heavy,
}

impl Load {
    /// Clients per workload, operations per second offered, and the plan's scale.
    fn shape(self) -> (usize, f64, usize) {
        match self {
            Load::Default => (3, 150.0, 1),
            Load::Heavy => (24, 1800.0, 4),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRENT_JEPSEN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = match cli.command {
        Command::Test(args) => runtime.block_on(test(*args)),
        Command::Clean => trent_jepsen::hosts::clean().map(|()| true),
        Command::Check {
            dir,
            availability_goal,
        } => check(&dir, availability_goal),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("trent-jepsen: a checker did not pass");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("trent-jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn test(args: TestArgs) -> anyhow::Result<bool> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let out = args.out.unwrap_or_else(default_out);
    let trentd = match args.trentd {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("trentd"),
    };
    anyhow::ensure!(
        trentd.exists(),
        "no trentd at {} (build it, or pass --trentd)",
        trentd.display()
    );
    let (concurrency, rate, scale) = args.load.shape();
    let options = Options {
        nodes: args.nodes,
        nemeses: args.nemesis,
        partition_modes: args.partition_mode,
        power_loss_modes: args.power_loss_mode,
        time_limit: Duration::from_secs(args.time_limit),
        interval: Duration::from_secs(args.interval),
        fault_duration: Duration::from_secs(args.fault_duration),
        concurrency: args.concurrency.unwrap_or(concurrency),
        rate: args.rate.unwrap_or(rate),
        scale,
        out,
        trentd,
        failpoints: args.failpoints,
        trentd_args: args.trentd_args,
        check: CheckConfig {
            step_limit: args.step_limit,
            availability_goal: args.availability_goal,
        },
        command,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = run::run(options) => result,
        // Dropping the run tears the hosts and nodes down.
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; hosts and nodes torn down"),
        _ = term.recv() => anyhow::bail!("terminated; hosts and nodes torn down"),
    }
}

fn check(dir: &std::path::Path, availability_goal: f64) -> anyhow::Result<bool> {
    let config = CheckConfig {
        availability_goal,
        ..CheckConfig::default()
    };
    let verdicts = run::recheck(dir, &config)?;
    for v in &verdicts {
        println!(
            "{:<24} {:<8} {}",
            v.checker,
            format!("{:?}", v.validity),
            v.summary
        );
    }
    Ok(verdicts.iter().all(|v| v.validity == Validity::Valid))
}

fn default_out() -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    PathBuf::from("jepsen/store").join(stamp)
}
