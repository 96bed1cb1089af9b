//! What hostile documents cost the server: the reported attack — one field
//! repeated 120,000 times without aliases (840 KB) — with and without a
//! token, and the same field repeated within the field budget.
//!
//! Starts annograph in this process (`annograph::app::spawn`) on a temporary
//! SQLite file, or on a fresh PostgreSQL database when `BENCH_DATABASE_URL`
//! is set, and prints for each document: the status, the first error, the
//! time to answer, the SQL statements it cost and how much the process's
//! peak RSS grew.
//!
//! ```text
//! cargo bench --bench hostile_documents
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench hostile_documents
//! ```

use std::time::{Duration, Instant};

use annograph::app::spawn;
use annograph::config::Config;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

const SECRET: &str = "bench-secret-for-hostile-documents";

/// Peak resident set size of this process so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (database_url, _dir, cleanup) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => {
            let name = format!("annograph_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let url = annograph::app::database_url_named(&url, &name);
            (url, None, Some((admin, name)))
        }
        Err(_) => {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            (url, Some(dir), None)
        }
    };
    let config = Config::for_database(&database_url, SECRET);
    let server = spawn(&config).await?;
    let url = format!("http://{}/graphql", server.addr);
    let token = server
        .state
        .auth
        .mint("alice@example.com", None, Duration::from_secs(3600))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let metrics = server.state.services.metrics.clone();
    let documents = [
        (
            "120,000 × me{id}, signed in",
            "me{id} ".repeat(120_000),
            true,
        ),
        (
            "120,000 × me{id}, no token",
            "me{id} ".repeat(120_000),
            false,
        ),
        ("900 × me { id }, signed in", "me { id } ".repeat(900), true),
    ];
    println!("| document | bytes | status | answer | time | SQL statements | peak RSS growth |");
    println!("|---|---|---|---|---|---|---|");
    for (name, body, signed_in) in documents {
        let query = format!("{{ {body}}}");
        let mut request = client.post(&url).json(&json!({ "query": query }));
        if signed_in {
            request = request.bearer_auth(&token);
        }
        let rss = peak_rss_kib();
        let statements = metrics.sql_statements();
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await?;
        let took = started.elapsed();
        let answer = match answer["errors"][0]["message"].as_str() {
            Some(message) => message.chars().take(60).collect::<String>(),
            None => "data".to_owned(),
        };
        println!(
            "| {name} | {} | {status} | {answer} | {took:.2?} | {} | {} MiB |",
            query.len(),
            metrics.sql_statements() - statements,
            (peak_rss_kib() - rss) / 1024
        );
    }
    if let Some((admin, name)) = cleanup {
        drop_database(admin, &name).await;
    }
    Ok(())
}

async fn drop_database(admin: sea_orm::DatabaseConnection, name: &str) {
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}
