//! `faultline report merge`.

use std::path::PathBuf;

use faultline::exit;

use super::session::Listener;

#[derive(clap::Subcommand)]
pub(super) enum ReportCmd {
    /// One verdict from the reports of a gate's shards (`gate --partition K/N`).
    ///
    /// Checks that every shard is of the same gate (base and head commits, number of
    /// shares); a missing shard makes the verdict "could not verify". Writes verdict.json,
    /// junit.xml and summary.md into --out; exits with the merged verdict's code.
    ///
    /// Example:
    ///   faultline report merge shard-1 shard-2 shard-3 --out report
    #[command(verbatim_doc_comment)]
    Merge {
        /// The shards' report directories (or their verdict.json).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where the merged reports go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub(super) fn merge(shards: &[PathBuf], out: &std::path::Path) -> miette::Result<i32> {
    let mut reports = Vec::new();
    for s in shards {
        reports.push(faultline::report::merge::read(s)?);
    }
    let merged = faultline::report::merge::merge(reports)?;
    print!("{}", faultline::report::outcome::render_decision(merged.decision, &merged.reasons));
    let listener = Listener::new();
    listener.replay(&merged);
    listener.finish(&merged);
    match faultline::report::write_report(out, &merged) {
        Ok(path) => println!("report: {} (and junit.xml, summary.md, report.html)", path.display()),
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::UNVERIFIED);
        }
    }
    Ok(merged.decision.exit_code())
}
