//! `trent`: the command-line tool for trent. KMS operations go through `aws-sdk-kms`, admin
//! operations through trent's SigV4-signed admin target; credentials and region come from
//! the usual AWS environment variables and profiles. Output is JSON. Both speak HTTPS,
//! trusting the system roots plus the CA bundle of `--ca-bundle` or `AWS_CA_BUNDLE`.

use std::path::PathBuf;
use std::process::ExitCode;

mod admin;
mod audit;
mod bench;
mod bench_lookup;
mod kms;
mod kms_import;
mod kms_keys;
mod kms_rotation;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use clap::{Parser, Subcommand};
use trent_client::{CaBundle, Credentials};

// `trent bench` shares its machine with what it measures: spend as little as possible.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "trent",
    version,
    about = "Command-line client for the trent key management service"
)]
struct Cli {
    /// The node to talk to; any node of the cluster will do.
    #[arg(
        long,
        global = true,
        env = "TRENT_ENDPOINT",
        default_value = "http://127.0.0.1:7700"
    )]
    endpoint: String,
    /// Region [default: from AWS_REGION / AWS_DEFAULT_REGION / the profile, else us-east-1].
    #[arg(long, global = true)]
    region: Option<String>,
    /// PEM file of CA certificates to trust besides the system's, for an https endpoint whose
    /// certificate comes from a private CA (e.g. `trentd certs`) [default: AWS_CA_BUNDLE].
    #[arg(long, global = true, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// AWS KMS operations.
    Kms {
        #[command(subcommand)]
        command: kms::KmsCmd,
    },
    /// Administrative commands: users, access keys, the cluster.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCmd,
    },
    /// The audit trail: look events up, export them as CloudTrail files, verify an exported
    /// directory (offline: no cluster, no credentials).
    Audit {
        #[command(subcommand)]
        command: audit::AuditCmd,
    },
    /// Load generation against trent and its peers, for docs/BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCmd,
    },
}

/// What every command needs: endpoint, region, credentials and the extra CA to trust.
pub struct Context {
    pub endpoint: String,
    pub region: String,
    pub credentials: Credentials,
    pub ca: Option<CaBundle>,
    pub sdk: aws_config::SdkConfig,
}

async fn context(
    endpoint: String,
    region: Option<String>,
    ca_bundle: Option<PathBuf>,
) -> Result<Context, String> {
    let ca = CaBundle::from_flag_or_env(ca_bundle.as_deref())?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(&endpoint);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    if let Some(ca) = &ca {
        loader = loader.http_client(sdk_https_client(ca));
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        sdk = sdk
            .into_builder()
            .region(aws_config::Region::from_static("us-east-1"))
            .build();
    }
    let provider = sdk
        .credentials_provider()
        .ok_or("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile")?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| format!("no credentials: {e}"))?;
    Ok(Context {
        endpoint,
        region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        credentials,
        ca,
        sdk,
    })
}

/// The SDK's own HTTPS client (rustls on aws-lc-rs) trusting `ca` besides the system roots;
/// aws-config does not read AWS_CA_BUNDLE itself.
fn sdk_https_client(ca: &CaBundle) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::default().with_pem_certificate(ca.pem());
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context without server names builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    trent_client::tls::install_default_provider();
    let cli = match cli.command {
        Top::Audit { command } if !audit::needs_cluster(&command) => {
            return print(audit::run(command))
        }
        command => Cli { command, ..cli },
    };
    let ctx = match context(cli.endpoint, cli.region, cli.ca_bundle).await {
        Ok(ctx) => ctx,
        Err(e) => return fail(&e),
    };
    let result = match cli.command {
        Top::Bench { command } => {
            return match bench::run(command, &ctx.endpoint, &ctx.region, ctx.credentials).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Top::Kms { command } => kms::run(&ctx, command).await,
        Top::Admin { command } => admin::run(&ctx, command).await,
        Top::Audit { command } => audit::run_online(&ctx, command).await,
    };
    print(result)
}

/// Prints a command's JSON answer, or its error.
fn print(result: Result<serde_json::Value, String>) -> ExitCode {
    match result {
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("trent: {message}");
    ExitCode::FAILURE
}
