//! `trent bench lookup`: LookupEvents latency against a trail (issue 25's "a key's last hour
//! among ten million events"): the first page of a query, asked --repeat times one after
//! another, then the whole answer followed page by page once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::{json, Value};
use trent_client::Client;

#[derive(Args)]
pub struct LookupBench {
    /// The lookup attribute, KEY=VALUE (e.g. ResourceName=<key id>).
    #[arg(long, value_name = "KEY=VALUE")]
    attribute: Option<String>,
    /// The window: events of the last this many seconds.
    #[arg(long, default_value_t = 3600)]
    window: u64,
    /// Events per page (CloudTrail allows 1 to 50).
    #[arg(long, default_value_t = 50)]
    max_results: u32,
    /// How many times to ask for the first page.
    #[arg(long, default_value_t = 100)]
    repeat: usize,
    /// Stop following pages after this many (0: the first page only).
    #[arg(long, default_value_t = 100_000)]
    max_pages: usize,
}

pub async fn run(client: &Client, b: LookupBench) -> Result<(), String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let mut input = json!({
        "StartTime": now.saturating_sub(b.window),
        "EndTime": now + 60,
        "MaxResults": b.max_results,
    });
    if let Some(attribute) = &b.attribute {
        let (key, value) = attribute
            .split_once('=')
            .ok_or("--attribute takes KEY=VALUE")?;
        input["LookupAttributes"] = json!([{ "AttributeKey": key, "AttributeValue": value }]);
    }
    let mut first = Vec::with_capacity(b.repeat);
    let mut first_count = 0;
    for _ in 0..b.repeat.max(1) {
        let started = Instant::now();
        let out = ask(client, &input).await?;
        first.push(started.elapsed());
        first_count = events_in(&out);
    }
    first.sort();
    let (mut pages, mut events, started) = (0usize, 0usize, Instant::now());
    let mut slowest = Duration::ZERO;
    loop {
        let page_started = Instant::now();
        let out = ask(client, &input).await?;
        slowest = slowest.max(page_started.elapsed());
        pages += 1;
        events += events_in(&out);
        match out.get("NextToken") {
            Some(token) if pages < b.max_pages => input["NextToken"] = token.clone(),
            _ => break,
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let quantile = |q: f64| ms(first[((first.len() - 1) as f64 * q).round() as usize]);
    println!(
        "{}",
        json!({
            "first_page_events": first_count,
            "first_page_p50_ms": quantile(0.5),
            "first_page_p99_ms": quantile(0.99),
            "first_page_max_ms": ms(*first.last().expect("asked at least once")),
            "pages": pages,
            "events": events,
            "all_pages_ms": ms(started.elapsed()),
            "slowest_page_ms": ms(slowest),
        })
    );
    Ok(())
}

async fn ask(client: &Client, input: &Value) -> Result<Value, String> {
    client
        .admin("LookupEvents", input)
        .await
        .map_err(|e| format!("LookupEvents: {e}"))
}

fn events_in(out: &Value) -> usize {
    out["Events"].as_array().map_or(0, Vec::len)
}
