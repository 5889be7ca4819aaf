//! `faultline plan`.

use clap::ValueEnum;
use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::{ConfigFrom, PlanRequest};
use faultline::repo::Repo;

use super::session::ci_inputs;

#[derive(clap::Args)]
pub(super) struct PlanArgs {
    /// The branch the change goes into (`origin/main`). Compared through the merge base, like
    /// `git diff BASE...HEAD`. With --worktree it defaults to HEAD.
    #[arg(long, value_name = "REV", required_unless_present = "worktree")]
    pub(super) base: Option<String>,

    /// The change's tip.
    #[arg(long, value_name = "REV", default_value = "HEAD", conflicts_with = "worktree")]
    pub(super) head: String,

    /// Plan the uncommitted changes (untracked files included) against BASE (default HEAD).
    #[arg(long)]
    pub(super) worktree: bool,

    /// Where to read faultline.yaml and scenarios: `base` (what the gate uses) or `worktree`
    /// (for authoring a configuration you have not committed yet).
    #[arg(long, value_enum, default_value = "base", value_name = "FROM")]
    pub(super) config_from: ConfigSource,

    /// A CI label of the pull request (repeatable); `ai-assisted` marks the change
    /// AI-assisted. FAULTLINE_LABELS adds a comma-separated list.
    #[arg(long = "label", value_name = "LABEL")]
    pub(super) labels: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum ConfigSource {
    Base,
    Worktree,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Format {
    Text,
    Json,
}

pub(super) fn exec(dir: &std::path::Path, args: PlanArgs) -> miette::Result<i32> {
    let repo = Repo::discover(dir)?;
    let change = if args.worktree {
        ChangeSpec::Worktree { base: args.base.unwrap_or_else(|| "HEAD".to_owned()) }
    } else {
        // clap guarantees --base without --worktree.
        ChangeSpec::Revisions { base: args.base.unwrap_or_default(), head: args.head }
    };
    let ci = ci_inputs(args.labels).map_err(|e| miette::miette!("{e}"))?;
    let req = PlanRequest {
        change,
        config_from: match args.config_from {
            ConfigSource::Base => ConfigFrom::Base,
            ConfigSource::Worktree => ConfigFrom::Worktree,
        },
        labels: ci.labels,
        author: ci.author,
        // `plan` shows any revisions; the gate checks them against the event and the
        // protected branches.
        event: None,
        protected_base: false,
        codeowners_host: ci.code_host,
    };
    let plan = faultline::plan::plan(&repo, &req)?;
    match args.format {
        Format::Text => print!("{}", faultline::report::plan::render_text(&plan)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan).map_err(|e| miette::miette!("{e}"))?),
    }
    Ok(exit::ALLOW)
}
