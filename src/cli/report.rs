//! `faultline report merge`.

use std::path::PathBuf;

use faultline::exit;

use super::session::{Listener, ci_inputs, runtime};

#[derive(clap::Subcommand)]
pub(super) enum ReportCmd {
    /// One verdict from the reports of a gate's shards (`gate --partition K/N`).
    ///
    /// Checks that every shard is of one run (base and head object ids, the digests of the
    /// base's configuration and scenarios and of the plan, the number of shards, the seed) and
    /// that no shard repeats; with --base and --head, that the run is theirs. A missing shard
    /// makes the verdict "could not verify". The sign-off is judged here, from --approved-by and
    /// the code host's approvals read by this command (as `gate` reads them); approvals the
    /// shards recorded do not count. Writes verdict.json, junit.xml, summary.md and
    /// report.html into --out; exits with the merged verdict's code (2 when refused).
    ///
    /// Example:
    ///   faultline report merge shard-1 shard-2 shard-3 --base origin/main --head HEAD --out report
    #[command(verbatim_doc_comment)]
    Merge(MergeArgs),
}

#[derive(clap::Args)]
pub(super) struct MergeArgs {
    /// The shards' report directories (or their verdict.json).
    #[arg(required = true)]
    pub(super) shards: Vec<PathBuf>,
    /// Where the merged reports go.
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
    /// The base the shards must have gated against: its object id and the digest of its
    /// faultline.yaml and scenarios, in this repository, must be theirs.
    #[arg(long, value_name = "REV")]
    pub(super) base: Option<String>,
    /// The head the shards must have gated: its object id must be theirs.
    #[arg(long, value_name = "REV")]
    pub(super) head: Option<String>,
    /// An approval handed in by CI (repeatable), as for `gate`.
    #[arg(long = "approved-by", value_name = "EMAIL")]
    pub(super) approved_by: Vec<String>,
    /// A difference accepted, handed in by CI (repeatable), as for `gate`.
    #[arg(long = "accept-difference", value_name = "ID[=WHO]", value_parser = super::gate::parse_accept)]
    pub(super) accept_difference: Vec<String>,
}

pub(super) fn merge(dir: &std::path::Path, args: &MergeArgs) -> miette::Result<i32> {
    use faultline::outcome::GateReport;
    // A refusal is a verdict too: could not verify, with its reason, in --out.
    let refuse = |e: miette::Report| -> i32 {
        let reason = e.to_string();
        eprintln!("{e:?}");
        let report = GateReport::could_not_verify(0, None, format!("report merge refused the shards: {reason}"));
        if let Err(w) = faultline::report::write_report(&args.out, &report) {
            eprintln!("{w}");
        }
        exit::UNVERIFIED
    };
    let mut reports = Vec::new();
    for s in &args.shards {
        match faultline::report::merge::read(s) {
            Ok(r) => reports.push(r),
            Err(e) => return Ok(refuse(e.into())),
        }
    }
    let expected = match expected_run(dir, args) {
        Ok(x) => x,
        Err(e) => return Ok(refuse(e)),
    };
    let ci = match ci_inputs(Vec::new()) {
        Ok(ci) => ci,
        Err(e) => return Ok(refuse(miette::miette!("{e}"))),
    };
    // The approvals, read once, here: the step that decides.
    let mut given = match reports.iter().find_map(|(_, r)| r.plan.as_ref()) {
        Some(plan) => runtime()?.block_on(faultline::gate::given_approvals(&args.approved_by, ci.host.as_ref(), plan)),
        None => faultline::verdict::GivenApprovals::from_flags(&args.approved_by),
    };
    given.accepts.extend(faultline::verdict::accept::from_flags(&args.accept_difference));
    let merged = match faultline::report::merge::merge(reports, &given, &expected) {
        Ok(m) => m,
        Err(e) => return Ok(refuse(e.into())),
    };
    print!("{}", faultline::report::outcome::render_decision(merged.decision, &merged.reasons));
    let listener = Listener::new();
    listener.replay(&merged);
    listener.finish(&merged);
    match faultline::report::write_report(&args.out, &merged) {
        Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
    }
    Ok(merged.decision.exit_code())
}

/// The run `--base` and `--head` name, in the repository at `dir`.
fn expected_run(dir: &std::path::Path, args: &MergeArgs) -> miette::Result<faultline::report::merge::ExpectedRun> {
    let mut expected = faultline::report::merge::ExpectedRun::default();
    if args.base.is_none() && args.head.is_none() {
        return Ok(expected);
    }
    let repo = faultline::repo::Repo::discover(dir)?;
    let Some(base) = &args.base else {
        return Err(miette::miette!("--head needs --base: a run is of a base and a head"));
    };
    let (base, head, digest) = faultline::plan::expected_run(&repo, base, args.head.as_deref())?;
    expected.base = Some(base);
    expected.head = head;
    expected.config_digest = Some(digest);
    Ok(expected)
}
