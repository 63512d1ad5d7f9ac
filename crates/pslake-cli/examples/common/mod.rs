//! What the benchmark examples share: the repository root and the release `pslake` binary they
//! run, timing a process with its peak memory, a sandbox in its own process, free ports, child
//! processes stopped on drop, and writing a section of docs/BENCHMARKS.md (a folder, not an
//! example of its own).
// Each example uses part of this module.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The examples' result type.
pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> std::io::Result<PathBuf> {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
}

/// The `pslake` binary: `given` (`--pslake PATH`), else the release binary next to this example's
/// directory (`target/release/examples/..`); an error says how to build it when it is missing.
pub(crate) fn pslake_binary(given: Option<PathBuf>) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let pslake = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("pslake"))
            .ok_or("cannot locate the pslake binary; pass --pslake PATH")?,
    };
    if !pslake.is_file() {
        return Err(format!(
            "no pslake binary at {}: run `cargo build --release -p pslake-cli` first (or pass --pslake PATH)",
            pslake.display()
        )
        .into());
    }
    Ok(pslake)
}

/// One timed pslake process.
#[derive(Clone, Copy, Default)]
pub(crate) struct Timed {
    pub(crate) seconds: f64,
    pub(crate) peak_mib: f64,
}

pub(crate) fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` to its end, its output to `log`; wall time and its VmHWM (polled every 10 ms:
/// a high-water mark, so the last reading before it exits is its peak but for the last few ms).
pub(crate) fn timed(mut cmd: Command, log: &Path) -> Res<Timed> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    let t = Instant::now();
    let mut child = cmd.stdout(out).stderr(err).spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            peak = peak.max(k);
        }
        if let Some(s) = child.try_wait()? {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seconds = t.elapsed().as_secs_f64();
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        return Err(format!(
            "{cmd:?} failed ({status}):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
        .into());
    }
    Ok(Timed {
        seconds,
        peak_mib: peak as f64 / 1024.0,
    })
}

/// A sandbox process started by `pslake sandbox --print-env`; killed on drop.
pub(crate) struct Sandbox {
    pid: u32,
    pub(crate) env: Vec<(String, String)>,
}

impl Sandbox {
    pub(crate) fn start(pslake: &Path, fixtures: &Path) -> Res<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let out = Command::new(pslake)
            .args(["sandbox", "--quiet", "--print-env", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--fixtures")
            .arg(fixtures)
            .stderr(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!("pslake sandbox --print-env failed ({})", out.status).into());
        }
        let env = parse_exports(&String::from_utf8_lossy(&out.stdout));
        let pid = env
            .iter()
            .find(|(k, _)| k == "PSLAKE_SANDBOX_PID")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or("pslake sandbox --print-env printed no PSLAKE_SANDBOX_PID")?;
        Ok(Self { pid, env })
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// `export NAME='value'` lines (a value may span lines) into pairs.
pub(crate) fn parse_exports(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("export ") {
        rest = &rest[i + "export ".len()..];
        let Some(eq) = rest.find("='") else { break };
        let name = rest[..eq].to_string();
        rest = &rest[eq + 2..];
        let Some(close) = rest.find('\'') else { break };
        out.push((name, rest[..close].to_string()));
        rest = &rest[close + 1..];
    }
    out
}

/// Replaces the section of `path` between the markers `start` and `end` with `section` (which
/// carries the markers itself); appends it when the file has none.
pub(crate) fn write_section(path: &Path, start: &str, end: &str, section: &str) -> Res<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{}\n{}",
                &old[..a],
                section.trim_end(),
                old[b + end.len()..].trim_start_matches('\n')
            )
        }
        _ => format!("{}\n\n{}\n", old.trim_end(), section.trim_end()),
    };
    std::fs::write(path, new)?;
    Ok(())
}

/// A free loopback port (bound, then released for a child to take).
pub(crate) fn free_port() -> Res<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process stopped (SIGTERM, then killed) when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pslake fixtures generate --scale scale --out out` (a synthetic firm, seed 1).
pub(crate) fn generate_firm(pslake: &Path, scale: f64, out: &Path) -> Res<()> {
    let st = Command::new(pslake)
        .args([
            "fixtures",
            "generate",
            "--quiet",
            "--scale",
            &scale.to_string(),
            "--out",
        ])
        .arg(out)
        .status()?;
    if !st.success() {
        return Err(format!("pslake fixtures generate failed ({st})").into());
    }
    Ok(())
}
