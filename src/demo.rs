//! `faultline demo`: the example shop in a fresh repository, and two changes gated in front
//! of the user — an AI-assisted change to payments and an AI-assisted docs fix.
//!
//! Today the gate runs its first stages (change analysis, impact, plan); starting the stack,
//! injecting faults and judging checks arrive with the container and scenario stages, and
//! the demo says so instead of pretending.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, Signature};

use crate::change::ChangeSpec;
use crate::plan::{self, ConfigFrom, Plan, PlanRequest};
use crate::repo::Repo;
use crate::report;

/// Where the example shop lives in a faultline checkout.
pub fn shop_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/shop")
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DemoError {
    #[error("the example shop is missing at {}", path.display())]
    #[diagnostic(help("run the demo from a faultline checkout: `cargo run --release -- demo`"))]
    MissingFixture { path: PathBuf },
    #[error("cannot prepare the demo repository in {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

/// One change the demo gates.
pub struct DemoChange {
    pub branch: &'static str,
    pub title: &'static str,
    pub plan: Plan,
}

pub struct Demo {
    pub repo: PathBuf,
    pub changes: Vec<DemoChange>,
}

const RETRY_RS: &str = r#"//! Retry failed charges so a customer's order goes through.

use crate::client::{ChargeError, ChargeRequest, Receipt, charge};

/// Charges until payments accepts: a transient error should never lose an order.
pub fn charge_with_retry(req: &ChargeRequest) -> Result<Receipt, ChargeError> {
    loop {
        match charge(req) {
            Ok(receipt) => return Ok(receipt),
            Err(e) if e.is_transient() => continue,
            Err(e) => return Err(e),
        }
    }
}
"#;

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
    for image in ["postgres", "redis"] {
        copy_dir(&fixture.join("../images").join(image), &root.join("images").join(image))?;
    }
    let git = Repository::init_opts(&root, git2::RepositoryInitOptions::new().initial_head("main"))?;
    let dev = Signature::now("Sam Dev", "sam@shop.example")?;
    let base = commit_all(&git, &dev, "The shop", &[])?;
    Ok((root, base))
}

/// Builds the shop repository under `dir` (created if needed) and plans both changes.
pub fn run(dir: &Path) -> Result<Demo, DemoError> {
    let (root, base) = create_shop(dir)?;
    let git = Repository::open(&root)?;
    let dev = Signature::now("Sam Dev", "sam@shop.example")?;

    // 1. An AI-assisted "improvement" to payments: retries without a bound.
    branch_from(&git, "ai-retry", base)?;
    write(&root.join("services/payments/src/retry.rs"), RETRY_RS)?;
    commit_all(
        &git,
        &dev,
        "Retry failed charges until they succeed\n\nCo-authored-by: Claude <noreply@anthropic.com>\n",
        &[base],
    )?;

    // 2. An AI-assisted docs fix.
    branch_from(&git, "docs-typo", base)?;
    let readme = root.join("docs/README.md");
    let text = std::fs::read_to_string(&readme).map_err(|source| DemoError::Io { path: readme.clone(), source })?;
    write(&readme, &text.replace("An example system", "An example system (see faultline's README)"))?;
    commit_all(
        &git,
        &dev,
        "Link the docs to faultline's README\n\nCo-authored-by: Copilot <copilot@github.com>\n",
        &[base],
    )?;

    let repo = Repo::discover(&root)?;
    let mut changes = Vec::new();
    for (branch, title) in
        [("ai-retry", "an AI-assisted retry loop in payments"), ("docs-typo", "an AI-assisted docs fix")]
    {
        let req = PlanRequest {
            change: ChangeSpec::Revisions { base: "main".into(), head: branch.into() },
            config_from: ConfigFrom::Base,
            labels: Vec::new(),
        };
        changes.push(DemoChange { branch, title, plan: plan::plan(&repo, &req)? });
    }
    Ok(Demo { repo: root, changes })
}

/// What the demo prints.
pub fn render(demo: &Demo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "faultline demo: the example shop, in a fresh repository at {}\n", demo.repo.display());
    for (i, c) in demo.changes.iter().enumerate() {
        let _ = writeln!(o, "━━ change {} of {}: {} (branch {})", i + 1, demo.changes.len(), c.title, c.branch);
        let _ = writeln!(o, "$ faultline plan --base main --head {}\n", c.branch);
        for line in report::plan::render_text(&c.plan).lines() {
            let _ = writeln!(o, "  {line}");
        }
        let p = &c.plan;
        let _ = writeln!(o);
        if p.scenarios.is_empty() && !p.signoff_required {
            let _ = writeln!(o, "  → nothing to run and no sign-off needed: the gate allows this change.\n");
        } else {
            let _ = writeln!(
                o,
                "  → the gate must run {} scenario{} against a stack of {} service{}{}.",
                p.scenarios.len(),
                if p.scenarios.len() == 1 { "" } else { "s" },
                p.stack.len(),
                if p.stack.len() == 1 { "" } else { "s" },
                if p.signoff_required { ", and a senior must sign off" } else { "" },
            );
            let _ = writeln!(
                o,
                "    Starting that stack and injecting the faults is not built yet (the container and\n    scenario stages come next), so this demo stops at the plan.\n"
            );
        }
    }
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "faultline".into());
    let _ = writeln!(o, "Try next:");
    let _ = writeln!(o, "  {exe} -C {} plan --base main --head ai-retry --format json", demo.repo.display());
    let _ = writeln!(o, "  {exe} -C {} plan --base main --head docs-typo --label ai-assisted", demo.repo.display());
    o
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

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    let io = |source| DemoError::Io { path: path.to_path_buf(), source };
    std::fs::create_dir_all(path.parent().unwrap_or(path)).map_err(io)?;
    std::fs::write(path, text).map_err(io)
}

/// Points HEAD at a new branch `name` at `at`, with the working tree checked out.
fn branch_from(git: &Repository, name: &str, at: Oid) -> Result<(), DemoError> {
    let commit = git.find_commit(at)?;
    git.branch(name, &commit, true)?;
    git.checkout_tree(commit.as_object(), Some(git2::build::CheckoutBuilder::new().force()))?;
    git.set_head(&format!("refs/heads/{name}"))?;
    Ok(())
}

fn commit_all(git: &Repository, who: &Signature<'_>, message: &str, parents: &[Oid]) -> Result<Oid, DemoError> {
    let mut index = git.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = git.find_tree(index.write_tree()?)?;
    let parents = parents.iter().map(|p| git.find_commit(*p)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    Ok(git.commit(Some("HEAD"), who, who, message, &tree, &refs)?)
}
