//! The detection benchmark behind `ci/detect`: for every entry of the corpora, a fresh shop
//! repository with the baseline committed, the change committed on its own branch, and
//! `faultline gate` run on it as CI would; then a table of expected vs actual verdicts.
//!
//!     ci/detect [--corpus DIR]… [--repeat N] [--seed S] [--jobs J] [--only NAME]… [--explore]
//!
//! With `--explore` the base's results are recorded once first, as the protected branch's run
//! records them (`explore --record-base-results`), and every gate compares with them
//! (`--base-results`); `--no-record` runs the base in every gate instead.
//! With `--explore`, the shop's scenarios are removed and every rule of its policy runs no
//! scenario and explores instead (`scenarios: none, explore: true`): what exploration alone
//! catches. A bug then counts as caught when every repetition blocks it with a failed
//! experiment.
//!
//! Bugs are gated with `--approved-by` a senior (the bug got past review; only the
//! scenarios can stop it), good changes with nothing but their own trailers. A bug counts as
//! caught when every repetition blocks it with a failed scenario; a good change counts as
//! wrongly blocked when any repetition does not allow it. The last three lines are read by
//! scripts: `caught N of M bugs`, `wrongly blocked K of L benign changes`, `total S s`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faultline::corpus::{self, Entry};
use faultline::outcome::Decision;

struct Args {
    corpora: Vec<PathBuf>,
    repeat: u32,
    seed: u64,
    jobs: usize,
    only: Vec<String>,
    explore: bool,
    /// With `--explore`: run the base's experiments in every gate instead of recording them
    /// once (`--no-record`).
    no_record: bool,
    /// Where the base's results were recorded.
    store: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        corpora: Vec::new(),
        repeat: 1,
        seed: 1,
        jobs: 2,
        only: Vec::new(),
        explore: false,
        no_record: false,
        store: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--corpus" => a.corpora.push(PathBuf::from(value()?)),
            "--repeat" => a.repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--jobs" => a.jobs = value()?.parse().map_err(|e| format!("--jobs: {e}"))?,
            "--only" => a.only.push(value()?),
            "--explore" => a.explore = true,
            "--no-record" => a.no_record = true,
            "-h" | "--help" => {
                println!(
                    "ci/detect [--corpus DIR]… [--repeat N] [--seed S] [--jobs J] [--only NAME]… [--explore [--no-record]]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    if a.corpora.is_empty() {
        a.corpora = corpus::default_dirs();
    }
    if a.repeat == 0 {
        return Err("--repeat must be at least 1".into());
    }
    Ok(a)
}

/// One gate of one entry.
struct Outcome {
    /// Scenarios that failed.
    failed: Vec<String>,
    decision: Option<Decision>,
    /// The failed scenarios and what failed in them, or why it could not verify.
    why: String,
    seconds: f64,
    /// The gate was stopped by Ctrl-C or SIGTERM (which reached it through the terminal's
    /// process group): the whole detection stops, not only this gate.
    interrupted: bool,
}

/// The shop with no scenario and a policy that explores instead, committed on main.
fn exploration_only(root: &Path) -> Result<git2::Oid, String> {
    let path = root.join("faultline.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let mut in_rules = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("gate:") || t.starts_with("ai_gate:") {
            in_rules = true;
        } else if in_rules && !line.starts_with("    ") {
            in_rules = false;
        }
        if in_rules && let Some((tier, _)) = t.split_once(':').filter(|_| line.starts_with("    ")) {
            let signoff = if t.contains("signoff: seniors") { ", signoff: seniors" } else { "" };
            let partial = if t.contains("partial_exploration: allow") { ", partial_exploration: allow" } else { "" };
            out.push_str(&format!("    {tier}: {{ scenarios: none{signoff}, explore: true{partial} }}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(&path, out).map_err(|e| e.to_string())?;
    let dir = root.join("scenarios");
    for f in std::fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
        std::fs::remove_file(f.path()).map_err(|e| e.to_string())?;
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@shop.example", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(root)
            .output()
            .map_err(|e| e.to_string())
    };
    git(&["add", "-A"])?;
    git(&["commit", "-q", "-m", "Exploration only: no scenario, every rule explores"])?;
    let head = git(&["rev-parse", "HEAD"])?;
    git2::Oid::from_str(String::from_utf8_lossy(&head.stdout).trim()).map_err(|e| e.to_string())
}

/// With `--explore`: the base's results recorded once, as the protected branch's run would
/// (`faultline explore --record-base-results` on a clean checkout of the exploration-only
/// shop), into `store`; every gate then compares with them. The seconds it took.
fn record_base(bin: &Path, seed: u64, args: &Args, store: &Path) -> Result<f64, String> {
    let t = Instant::now();
    let dir = tempfile::Builder::new().prefix("faultline-detect-").tempdir().map_err(|e| e.to_string())?;
    let (root, _) = faultline::demo::create_shop(dir.path()).map_err(|e| e.to_string())?;
    exploration_only(&root)?;
    let mut cmd = Command::new(bin);
    cmd.args(["explore", "--seed", &seed.to_string(), "--jobs", &args.jobs.to_string(), "--budget", "15m"])
        .arg("--record-base-results")
        .arg(store)
        .current_dir(&root)
        .env("NO_COLOR", "1");
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        cmd.env("CARGO_TARGET_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shop"));
    }
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    // The base's weaknesses are recorded like the rest (exit 1: some experiment failed, which
    // a change sharing it is not blamed for); could not verify is no base to record.
    if !matches!(out.status.code(), Some(0 | 1)) {
        let text = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        return Err(format!("exploring the base failed ({}): {}", out.status, tail.join(" | ")));
    }
    Ok(t.elapsed().as_secs_f64())
}

fn gate(bin: &Path, entry: &Entry, seed: u64, args: &Args, reports: &Path) -> Outcome {
    let jobs = args.jobs;
    let t = Instant::now();
    let fail = |why: String| Outcome {
        failed: Vec::new(),
        decision: None,
        why,
        seconds: t.elapsed().as_secs_f64(),
        interrupted: false,
    };
    let dir = match tempfile::Builder::new().prefix("faultline-detect-").tempdir() {
        Ok(d) => d,
        Err(e) => return fail(format!("temporary directory: {e}")),
    };
    let (root, base) = match faultline::demo::create_shop(dir.path()) {
        Ok(x) => x,
        Err(e) => return fail(e.to_string()),
    };
    let base = if args.explore {
        match exploration_only(&root) {
            Ok(b) => b,
            Err(e) => return fail(format!("exploration-only shop: {e}")),
        }
    } else {
        base
    };
    if let Err(e) = corpus::commit(&root, base, entry) {
        return fail(e.to_string());
    }
    let report = reports.join(format!("{}-seed{seed}", entry.name));
    let mut cmd = Command::new(bin);
    cmd.args(["gate", "--base", "main", "--head", &entry.name, "--seed", &seed.to_string()])
        .args(["--jobs", &jobs.to_string(), "--timeout", "15m", "--report"])
        .arg(&report)
        .current_dir(&root)
        .env("NO_COLOR", "1");
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        cmd.env("CARGO_TARGET_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shop"));
    }
    if let Some(store) = &args.store {
        cmd.arg("--base-results").arg(store);
    }
    if entry.expect == Decision::Block {
        cmd.args(["--approved-by", "alice@shop.example"]);
    }
    for a in &entry.approved_by {
        cmd.args(["--approved-by", a]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return fail(format!("cannot run {}: {e}", bin.display())),
    };
    let v: serde_json::Value = std::fs::read(report.join("verdict.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let decision = match out.status.code() {
        Some(0) => Some(Decision::Allow),
        Some(1) => Some(Decision::Block),
        Some(2) => Some(Decision::Unverified),
        _ => None,
    };
    let mut why = Vec::new();
    let mut failed: Vec<String> = v["scenarios"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == "failed")
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect();
    // Failed experiments of exploration count as the scenarios that caught the change.
    for x in v["exploration"].as_array().into_iter().flatten() {
        for r in x["ran"].as_array().into_iter().flatten().filter(|r| r["outcome"]["status"] == "failed") {
            let name = r["outcome"]["name"].as_str().unwrap_or("?").to_owned();
            let first = r["outcome"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(r["outcome"]["checks"].as_array().into_iter().flatten())
                .find(|c| c["passed"] == false);
            let what = first
                .and_then(|c| c["check"].as_str().or(c["step"].as_str()))
                .map(|w| w.chars().take(48).collect::<String>())
                .unwrap_or_default();
            if why.len() < 3 {
                why.push(format!("{name}: {what}"));
            }
            failed.push(name);
        }
    }
    for s in v["scenarios"].as_array().into_iter().flatten().filter(|s| s["status"] == "failed") {
        let first = s["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(s["checks"].as_array().into_iter().flatten())
            .find(|c| c["passed"] == false);
        let what = first
            .and_then(|c| c["check"].as_str().or(c["step"].as_str()))
            .map(|w| w.chars().take(48).collect::<String>())
            .unwrap_or_default();
        why.push(format!("{}: {what}", s["name"].as_str().unwrap_or("?")));
    }
    if why.is_empty() {
        why.extend(v["reasons"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).map(|r| {
            let r = r.lines().next().unwrap_or(r);
            r.chars().take(80).collect::<String>()
        }));
    }
    let interrupted =
        v["reasons"].as_array().into_iter().flatten().any(|r| r.as_str().is_some_and(|r| r.starts_with("interrupted")));
    Outcome { failed, decision, why: why.join("; "), seconds: t.elapsed().as_secs_f64(), interrupted }
}

fn name(d: Option<Decision>) -> &'static str {
    match d {
        Some(Decision::Allow) => "allow",
        Some(Decision::Block) => "block",
        Some(Decision::Unverified) => "unverified",
        None => "error",
    }
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ci/detect: {e}");
            std::process::exit(2);
        }
    };
    let bin = std::env::var_os("FAULTLINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/faultline"));
    let mut entries = Vec::new();
    for dir in &args.corpora {
        match corpus::load(dir) {
            Ok(list) => {
                entries.extend(list.into_iter().filter(|e| args.only.is_empty() || args.only.contains(&e.name)))
            }
            Err(e) => {
                eprintln!("ci/detect: {e}");
                std::process::exit(2);
            }
        }
    }
    let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join(if args.explore {
        "target/detect-explore"
    } else {
        "target/detect"
    });
    let start = Instant::now();
    let mut args = args;
    let store = tempfile::Builder::new().prefix("faultline-base-results-").tempdir();
    if args.explore && !args.no_record {
        let Ok(store) = &store else {
            eprintln!("ci/detect: cannot make a temporary directory");
            std::process::exit(2);
        };
        match record_base(&bin, args.seed, &args, store.path()) {
            Ok(seconds) => {
                let n = std::fs::read_dir(store.path()).map(|d| d.count()).unwrap_or(0);
                println!("the base's results recorded once: {n} experiments in {seconds:.0} s (--no-record: none)");
                args.store = Some(store.path().to_path_buf());
            }
            Err(e) => {
                eprintln!("ci/detect: {e}");
                std::process::exit(2);
            }
        }
    }
    let (mut bugs, mut caught, mut benign, mut wrongly) = (0, 0, 0, 0);
    println!(
        "{:<22} {:<8} {:<24} {:>8}  caught by (first failed step or check)",
        "change", "expected", "actual", "time"
    );
    for e in &entries {
        let runs: Vec<Outcome> = (0..u64::from(args.repeat))
            .map(|r| {
                let o = gate(&bin, e, args.seed + r, &args, &reports);
                // One line per gate on stderr, so a long run shows where it is.
                eprintln!("ci/detect: {} seed {}: {} in {:.0} s", e.name, args.seed + r, name(o.decision), o.seconds);
                if o.interrupted {
                    eprintln!("ci/detect: interrupted; the gates not run yet are not run");
                    std::process::exit(130);
                }
                o
            })
            .collect();
        let verdicts: Vec<&str> = runs.iter().map(|o| name(o.decision)).collect();
        let stable = verdicts.iter().all(|v| *v == verdicts[0]);
        let actual = if stable { verdicts[0].to_owned() } else { format!("UNSTABLE {}", verdicts.join("/")) };
        let seconds = runs.iter().map(|o| o.seconds).sum::<f64>() / runs.len() as f64;
        let why = runs.iter().find(|o| !o.why.is_empty()).map(|o| o.why.clone()).unwrap_or_else(|| "-".into());
        let ok = match e.expect {
            Decision::Block => {
                bugs += 1;
                // Caught as its README claims: blocked, in every repetition, by the scenario
                // the README names (a block for another reason is luck, not detection).
                // Exploration has no scenario names to meet: any failed experiment is its catch.
                let meant = if args.explore { Vec::new() } else { corpus::meant_to_catch(e) };
                let hit = runs.iter().all(|o| {
                    o.decision == Some(Decision::Block)
                        && (meant.is_empty() || o.failed.iter().any(|f| meant.contains(f)))
                        && (!args.explore || !o.failed.is_empty())
                });
                caught += usize::from(hit);
                hit
            }
            _ => {
                benign += 1;
                let bad = runs.iter().any(|o| o.decision != Some(Decision::Allow));
                wrongly += usize::from(bad);
                !bad
            }
        };
        println!(
            "{:<22} {:<8} {:<24} {:>7.1}s  {}{why}",
            e.name,
            name(Some(e.expect)),
            actual,
            seconds,
            if ok { "" } else { "MISS: " }
        );
    }
    println!(
        "repetitions: {} (seeds {}..={}), reports in {}",
        args.repeat,
        args.seed,
        args.seed + u64::from(args.repeat) - 1,
        reports.display()
    );
    println!("caught {caught} of {bugs} bugs");
    println!("wrongly blocked {wrongly} of {benign} benign changes");
    println!("total {:.0} s", start.elapsed().as_secs_f64());
    if caught < bugs || wrongly > 0 {
        std::process::exit(1);
    }
}
