//! What the benchmarks that measure the running server share: the
//! databases they run on, `annograph serve` as a child process, tokens for
//! its users, and what the kernel says the process uses (`/proc`).
//!
//! The server runs as a child process, not inside the benchmark, so that its
//! CPU time, memory, threads and sockets are its own and can be read from
//! `/proc/<pid>`, and so that the benchmark's clients do not share its
//! runtime. Tokens are signed in process with the secret the child is given,
//! as an identity provider would sign them. Each benchmark keeps what is
//! its own (workspaces, operations, reports); a helper here that one of them
//! does not use is not a mistake, hence the `dead_code` allowance where the
//! module is declared.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use annograph::auth::Authenticator;
use annograph::config::{AuthConfig, Secret};
use anyhow::{bail, Context as _};

/// The secret the child server verifies tokens with, and the benchmark
/// signs them with.
pub const SECRET: &str = "bench-secret-for-annograph";

/// The databases the benchmarks run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How a benchmark starts the server.
pub struct Launch<'a> {
    /// Variables set for the server, on top of the environment.
    pub env: &'a [(&'a str, &'a str)],
    /// Leave out the shell's `ANNOGRAPH_*` variables, so that they cannot
    /// change what is measured.
    pub without_shell_settings: bool,
    /// Send the server's output to a file (shown when it fails to start)
    /// rather than its log lines to the terminal.
    pub log_to_file: bool,
    /// How long the server may take to answer `/readyz`.
    pub ready_within: Duration,
    /// A program the server runs under (its arguments, then the server's
    /// command line), such as `valgrind --tool=callgrind`; empty: none.
    pub wrapper: &'a [&'a str],
}

/// `annograph serve` in a child process on a loopback port, killed when
/// dropped (unless [`Server::stop`]ped first).
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub port: u16,
    log: Option<PathBuf>,
    /// Holds the log file.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server on `database_url` and waits until it is ready.
    pub async fn launch(database_url: &str, launch: &Launch<'_>) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let mut command = match launch.wrapper {
            [] => Command::new(env!("CARGO_BIN_EXE_annograph")),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(env!("CARGO_BIN_EXE_annograph"));
                command
            }
        };
        if launch.without_shell_settings {
            for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("ANNOGRAPH_")) {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .env("ANNOGRAPH_JWT_SECRET", SECRET)
            // One line per request would measure the disk (or the terminal).
            .env("ANNOGRAPH_LOG", "warn")
            .envs(launch.env.iter().copied())
            .stdin(Stdio::null());
        let log = if launch.log_to_file {
            let path = dir.path().join("server.log");
            let out = std::fs::File::create(&path)?;
            command.stdout(out.try_clone()?).stderr(out);
            Some(path)
        } else {
            command.stdout(Stdio::null());
            None
        };
        let child = command.spawn().context("starting annograph serve")?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited ({status}): {}", server.logs());
            }
            let ready = client.get(format!("{}/readyz", server.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if started.elapsed() > launch.ready_within {
                bail!(
                    "the server was not ready within {:?}: {}",
                    launch.ready_within,
                    server.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the server wrote to its log file so far (empty when it logs to
    /// the terminal).
    pub fn logs(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| std::fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token for `email`, valid for 12 hours.
    pub fn token(&self, email: &str) -> anyhow::Result<String> {
        Ok(authenticator()?.mint(email, None, Duration::from_secs(12 * 3600))?)
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn rss(&self) -> (u64, u64) {
        let field = |name| status_field(self.pid(), name).unwrap_or(0);
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU seconds the server has used.
    pub fn cpu(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// SIGTERM, then a kill if it has not exited within 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let asked = Instant::now();
        while self.child.try_wait()?.is_none() {
            if asked.elapsed() > Duration::from_secs(30) {
                bail!("the server did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Nothing to do once it has exited; else it is killed and reaped.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs tokens the child server accepts.
pub fn authenticator() -> anyhow::Result<Authenticator> {
    Ok(Authenticator::new(&AuthConfig {
        secret: Some(Secret::new(SECRET)),
        ..AuthConfig::default()
    })?)
}

// ---- /proc ------------------------------------------------------------------

/// A number of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:` and `Threads:` are
/// in KiB or a count).
pub fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))
}

/// CPU seconds the process has used (user and system), 0 when unknown.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by the processes named `postgres` on this
/// machine (the server's backends, kept open by its pool, and PostgreSQL's
/// own workers): where a request's SQL time goes under load.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(cpu_seconds)
        .sum()
}

/// The socket inodes of the process and, from its view of
/// /proc/net/tcp{,6}, what each is connected to: "clients" (accepted on
/// `port`), "database" (to `db_port`), "listening", "other".
pub fn sockets(
    pid: u32,
    port: u16,
    db_port: Option<u16>,
) -> anyhow::Result<BTreeMap<&'static str, u64>> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue; // closed meanwhile
        };
        let target = target.to_string_lossy().into_owned();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
        {
            inodes.push(inode.to_owned());
        }
    }
    // inode -> (local port, remote port, state)
    let mut tcp = BTreeMap::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 {
                continue;
            }
            let port_of = |addr: &str| {
                addr.rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    .unwrap_or(0)
            };
            tcp.insert(
                cols[9].to_owned(),
                (port_of(cols[1]), port_of(cols[2]), cols[3].to_owned()),
            );
        }
    }
    let mut counts = BTreeMap::new();
    for inode in inodes {
        let kind = match tcp.get(&inode) {
            Some((_, _, state)) if state == "0A" => "listening",
            Some((local, _, _)) if *local == port => "clients",
            Some((_, remote, _)) if Some(*remote) == db_port => "database",
            _ => "other",
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    Ok(counts)
}
