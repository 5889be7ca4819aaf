//! `faultline demo`: the example shop in a fresh repository, and three changes gated in front
//! of the user — an AI-assisted bug from the corpus (`fixtures/bugs/key-per-attempt`: a fresh
//! idempotency key on every charge retry, which charges twice when a reply is lost) that must
//! be blocked, an AI-assisted docs fix (`fixtures/changes/docs-typo`) that must be allowed,
//! and a bug no scenario of the shop catches (`fixtures/bugs/cache-no-deadline`) that
//! exploration must block. Everything runs for real: containers, faults, checks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Signature};

use crate::change::ChangeSpec;
use crate::gate::GateRequest;
use crate::outcome::Decision;
use crate::outcome::GateReport;
use crate::plan::{ConfigFrom, PlanRequest};
use crate::runner::event::{Event, Reporter};

/// Where the example shop lives in a faultline checkout.
pub(crate) fn shop_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shop")
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DemoError {
    #[error("the example shop is missing at {}", path.display())]
    #[diagnostic(help("run the demo from a faultline checkout: `cargo run --release -- demo`"))]
    MissingFixture { path: PathBuf },
    #[error("cannot prepare the demo repository in {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// One change the demo gates, and what the gate must say.
pub struct DemoChange {
    pub branch: &'static str,
    pub title: &'static str,
    pub expect: Decision,
    pub report: GateReport,
    pub report_path: Option<PathBuf>,
}

pub struct Demo {
    pub repo: PathBuf,
    pub changes: Vec<DemoChange>,
}

/// The changes the demo gates: an entry of the bug corpus, one of the good changes, and
/// [`EXPLORED`].
pub(crate) const BUG: &str = "key-per-attempt";
pub(crate) const GOOD: &str = "docs-typo";
/// A bug no scenario of the shop catches; the shop's policy explores AI-assisted changes.
pub const EXPLORED: &str = "cache-no-deadline";

/// Creates the shop at `dir/shop` with the three changes on branches named after them.
pub fn prepare(dir: &Path) -> Result<PathBuf, DemoError> {
    let (root, base) = create_shop(dir)?;
    let [bugs, good] = [&crate::corpus::default_dirs()[0], &crate::corpus::default_dirs()[1]];
    for entry in [bugs.join(BUG), good.join(GOOD), bugs.join(EXPLORED)] {
        let entry = crate::corpus::load_entry(&entry)?;
        crate::corpus::commit(&root, base, &entry)?;
    }
    Ok(root)
}

/// Prepares the shop and gates the three changes; reports go to `dir/reports/<branch>/`.
pub async fn run(dir: &Path, seed: u64, events: &dyn Reporter) -> Result<Demo, DemoError> {
    let say = |text: &str| events.report(&Event::Note(text));
    let root = prepare(dir)?;
    let mut changes = Vec::new();
    for (branch, title, expect) in [
        (BUG, "an AI-assisted change to how orders retries charges", Decision::Block),
        (GOOD, "an AI-assisted docs fix", Decision::Allow),
        (EXPLORED, "an AI-assisted change no scenario of the shop catches", Decision::Block),
    ] {
        say(&format!(
            "\n━━ gating {title} (branch {branch})\n$ faultline gate --base main --head {branch} --approved-by alice@shop.example"
        ));
        let req = GateRequest {
            plan: PlanRequest {
                change: ChangeSpec::Revisions { base: "main".into(), head: branch.into() },
                config_from: ConfigFrom::Base,
                labels: Vec::new(),
                author: None,
                event: None,
                protected_base: true,
                codeowners_host: None,
            },
            approved_by: vec!["alice@shop.example".into()],
            accept_difference: Vec::new(),
            code_host: None,
            seed,
            timeout: Some(std::time::Duration::from_secs(900)),
            ready_timeout: std::time::Duration::from_secs(60),
            jobs: 2,
            // The shop builds in a container (its `isolation:`), from a build of the base
            // faultline keeps between runs.
            prepare_env: Vec::new(),
            partition: None,
            only: None,
            fresh_stacks: false,
            stacks_ahead: None,
            explore_budget: std::time::Duration::from_secs(300),
            base_results: None,
            record_base_results: false,
        };
        let report = crate::gate::gate(&root, &req, events).await;
        let report_path = crate::report::write_report(&dir.join("reports").join(branch), &report).ok();
        say(&crate::report::outcome::render_decision(report.decision, &report.reasons));
        // What exploration found becomes a scenario for a senior to keep.
        let proposed = dir.join("reports").join(branch).join("proposed");
        for line in crate::report::explore::write_scenarios(&report.exploration, &proposed) {
            say(&format!("exploration proposes a scenario: {line}"));
            if let Some(path) = line.strip_prefix("wrote ")
                && let Ok(text) = std::fs::read_to_string(path)
            {
                say(&text);
            }
        }
        changes.push(DemoChange { branch, title, expect, report, report_path });
    }
    Ok(Demo { repo: root, changes })
}

/// The closing summary.
pub fn render(demo: &Demo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n━━ summary");
    for c in &demo.changes {
        let got = c.report.decision;
        let mark = if got == c.expect { "as expected" } else { "NOT AS EXPECTED" };
        let _ = writeln!(
            o,
            "  {:<16} {:<6} {mark}   {}",
            c.branch,
            format!("{got:?}").to_uppercase(),
            c.report_path.as_ref().and_then(|p| p.parent()).map_or(String::new(), |p| format!(
                "{}/ (report.html, verdict.json, junit.xml, summary.md)",
                p.display()
            ))
        );
    }
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "faultline".into());
    let r = demo.repo.display();
    let _ = writeln!(o, "\nThe shop is at {r}. Try next:");
    let _ = writeln!(o, "  {exe} -C {r} plan --base main --head {BUG}");
    let _ = writeln!(o, "  git -C {r} checkout {BUG} && {exe} -C {r} run --scenario charge-reply-lost --seed 7");
    let _ = writeln!(o, "  {exe} -C {r} up orders --keep");
    o
}

/// Creates the shop's repository at `dir/shop` (replacing one that is there): the shop's
/// sources, configuration and scenarios, and the PostgreSQL and Redis image contexts under
/// `images/`, committed on `main`. Returns the repository's root and the commit.
pub fn create_shop(dir: &Path) -> Result<(PathBuf, Oid), DemoError> {
    let fixture = shop_fixture();
    if !fixture.join("faultline.yaml").is_file() {
        return Err(DemoError::MissingFixture { path: fixture });
    }
    let root = dir.join("shop");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|source| DemoError::Io { path: root.clone(), source })?;
    }
    copy_dir(&fixture, &root)?;
    for image in ["postgres", "redis", "builder"] {
        copy_dir(&fixture.join("../images").join(image), &root.join("images").join(image))?;
    }
    let git = Repository::init_opts(&root, git2::RepositoryInitOptions::new().initial_head("main"))?;
    let dev = Signature::now("Sam Dev", "sam@shop.example")?;
    let base = crate::repo::commit_all(&git, &dev, "The shop", &[])?;
    Ok((root, base))
}

/// Copies a directory, leaving out build outputs (`target/`, `bin/`).
fn copy_dir(from: &Path, to: &Path) -> Result<(), DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        if entry.file_name() == "target" || entry.file_name() == "bin" {
            continue;
        }
        if entry.file_type().map_err(io(&entry.path()))?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}
