//! `faultline plan` against `git diff --name-only` on a large synthetic repository.
//!
//! The repository: 100,000 files, 1,000 services in 10 layers (each depending on 3 services
//! of the layer below), 100 scenarios, and a change of 5,000 files (modifications, renames,
//! deletions, additions) on a branch. Both commands run as processes, interleaved, and the
//! medians are compared. Peak memory of `faultline plan` comes from `wait4`'s rusage.
//!
//! Target: plan ≤ 2× the bare git diff, and under 200 MiB peak.
//!
//!     cargo bench --bench plan

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: usize = 1_000;
const LAYERS: usize = 10;
const FILES_PER_SERVICE: usize = 100;
const CHANGED: usize = 5_000;
const RUNS: usize = 15;

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plan-bench-100k");
    let t = Instant::now();
    if !dir.join(".ready").exists() {
        generate(&dir);
    }
    println!(
        "repository   {} files, {SERVICES} services, {CHANGED}-file change (ready in {:.1} s)",
        SERVICES * FILES_PER_SERVICE,
        t.elapsed().as_secs_f64()
    );

    let faultline = env!("CARGO_BIN_EXE_faultline");
    let git_args = ["diff", "--name-only", "main", "change"];
    let plan_args = ["plan", "--base", "main", "--head", "change", "--format", "json"];
    // Warm the page cache for both.
    run(&dir, "git", &git_args);
    let (_, _, out) = run(&dir, faultline, &plan_args);
    let plan: serde_json::Value = serde_json::from_slice(&out).expect("plan JSON");
    println!(
        "plan         {} changed paths, {} affected services, stack of {}, {} scenarios",
        plan["changed"].as_array().map_or(0, Vec::len),
        plan["affected"].as_array().map_or(0, Vec::len),
        plan["stack"].as_array().map_or(0, Vec::len),
        plan["scenarios"].as_array().map_or(0, Vec::len)
    );

    let mut git = Vec::new();
    let mut fl = Vec::new();
    let mut peak = 0;
    for _ in 0..RUNS {
        git.push(run(&dir, "git", &git_args).0);
        let (d, rss, _) = run(&dir, faultline, &plan_args);
        fl.push(d);
        peak = peak.max(rss);
    }
    let (g, f) = (median(&mut git), median(&mut fl));
    println!("git diff --name-only   median {:>8.1} ms  ({RUNS} runs)", ms(g));
    println!("faultline plan --json  median {:>8.1} ms  ({RUNS} runs)", ms(f));
    println!("ratio plan / git diff  {:.2}x   (target ≤ 2.00x)", f.as_secs_f64() / g.as_secs_f64());
    println!("faultline peak RSS     {:.1} MiB (target < 200 MiB)", peak as f64 / 1024.0);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs a command to completion; returns wall time, peak RSS in KiB, and stdout.
fn run(dir: &Path, prog: &str, args: &[&str]) -> (Duration, i64, Vec<u8>) {
    let start = Instant::now();
    let mut child = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut out = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain old data, and wait4 fills it for the child we spawned and have
    // not waited for yet.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    assert_eq!(r, pid, "wait4");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{prog} {args:?} failed: {status}");
    std::mem::forget(child);
    (elapsed, usage.ru_maxrss, out)
}

fn svc(i: usize) -> String {
    format!("svc{i:04}")
}

fn config() -> String {
    let per_layer = SERVICES / LAYERS;
    let mut s = String::from("version: 1\nservices:\n");
    for i in 0..SERVICES {
        let layer = i / per_layer;
        s.push_str(&format!(
            "  {}:\n    paths: [\"services/{}/**\"]\n    image: \"bench/{}:1\"\n    ports: [8080]\n",
            svc(i),
            svc(i),
            svc(i)
        ));
        if layer > 0 {
            s.push_str("    depends_on:\n");
            for k in 0..3 {
                let d = (layer - 1) * per_layer + (i * 7 + k * 13) % per_layer;
                s.push_str(&format!("      {}: {{ env: DEP_{k}_URL, url: \"http://{{host}}:{{port}}\" }}\n", svc(d)));
            }
        }
    }
    s.push_str(concat!(
        "global: [\"Cargo.lock\"]\n",
        "policy:\n  tiers:\n    high: [\"services/svc00*/**\", \"**/migrations/**\"]\n    medium: [\"services/**\"]\n    low: [\"**/*.md\"]\n",
        "  ai_assisted:\n    trailers: [\"Co-authored-by: .*(Copilot|Claude)\"]\n",
        "  gate:\n    high: { scenarios: affected, signoff: seniors }\n  seniors: [\"a@b.example\"]\n",
    ));
    s
}

fn generate(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git").args(args).current_dir(dir).status().unwrap().success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    let mut fi =
        Command::new("git").args(["fast-import", "--quiet"]).current_dir(dir).stdin(Stdio::piped()).spawn().unwrap();
    let mut w = std::io::BufWriter::new(fi.stdin.take().unwrap());
    let file = |w: &mut dyn Write, path: &str, data: &str| {
        write!(w, "M 100644 inline {path}\ndata {}\n{data}\n", data.len()).unwrap();
    };
    let body = |s: usize, f: usize, v: usize| {
        format!(
            "// service {s} file {f} version {v}\npub fn f{f}() -> u32 {{ {s} + {f} }}\n// padding so renames are detected\n// {s}-{f}\n"
        )
    };
    let msg = "base";
    writeln!(
        w,
        "commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata {}\n{msg}",
        msg.len()
    )
    .unwrap();
    file(&mut w, "faultline.yaml", &config());
    file(&mut w, "Cargo.lock", "# lock\n");
    for i in 0..100 {
        file(&mut w, &format!("scenarios/s{i:03}.yaml"), &format!("name: s{i:03}\ntarget: {}\n", svc(i * 10)));
    }
    for s in 0..SERVICES {
        for f in 0..FILES_PER_SERVICE {
            file(&mut w, &format!("services/{}/src/f{f:03}.rs", svc(s)), &body(s, f, 0));
        }
    }
    // The change: 5,000 files across 250 services (every 4th), 20 files each; of these,
    // 100 renames, 100 deletions, 100 additions, the rest modifications.
    let msg = "change\n\nCo-authored-by: Claude <noreply@anthropic.com>";
    writeln!(
        w,
        "commit refs/heads/change\ncommitter Bench <bench@example.com> 1700000100 +0000\ndata {}\n{msg}\nfrom refs/heads/main",
        msg.len()
    )
    .unwrap();
    let mut n = 0;
    'outer: for s in (0..SERVICES).step_by(4) {
        for f in 0..20 {
            if n == CHANGED {
                break 'outer;
            }
            let path = format!("services/{}/src/f{f:03}.rs", svc(s));
            match n % 50 {
                0 => writeln!(w, "R {path} services/{}/src/moved{f:03}.rs", svc(s)).unwrap(),
                1 => writeln!(w, "D {path}").unwrap(),
                2 => file(&mut w, &format!("services/{}/src/new{f:03}.rs", svc(s)), &body(s, f + 1000, 1)),
                _ => file(&mut w, &path, &body(s, f, 1)),
            }
            n += 1;
        }
    }
    drop(w);
    assert!(fi.wait().unwrap().success(), "fast-import");
    git(&["checkout", "-q", "main"]);
    std::fs::write(dir.join(".ready"), "").unwrap();
}
