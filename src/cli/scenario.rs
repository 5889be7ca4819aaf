//! `faultline scenario new|lint|explain` and `faultline templates`.

use std::path::PathBuf;

use faultline::change::ChangeSpec;
use faultline::exit;
use faultline::plan::ConfigFrom;
use faultline::repo::Repo;

#[derive(clap::Subcommand)]
pub(super) enum ScenarioCmd {
    /// Write a commented scenario to start from, in the scenarios folder.
    ///
    /// Examples:
    ///   faultline scenario new payments-slow --target orders --template dependency-slow
    ///   faultline scenario new checkout-under-load --target orders
    #[command(verbatim_doc_comment)]
    New {
        name: String,
        /// The service it protects.
        #[arg(long)]
        target: String,
        /// Start from a template (`faultline templates` lists them).
        #[arg(long)]
        template: Option<String>,
    },
    /// Check scenario files against faultline.yaml of the working tree, as the gate will:
    /// every problem with its file, line and column. Default: every scenario.
    Lint { files: Vec<PathBuf> },
    /// Say what a scenario would do: the stack it starts, which edges and services get which
    /// faults when, the steps, and what it checks.
    Explain { name: String },
}

pub(super) fn exec(dir: &std::path::Path, cmd: ScenarioCmd) -> miette::Result<i32> {
    use faultline::repo::Snapshot;
    let repo = Repo::discover(dir)?;
    let spec = ChangeSpec::Worktree { base: "HEAD".into() };
    let (loaded, _) = faultline::plan::load_config(&repo, &spec, ConfigFrom::Worktree)?;
    let config = &loaded.config;
    match cmd {
        ScenarioCmd::New { name, target, template } => {
            let folder = repo.root().join(config.scenarios.trim_end_matches('/'));
            let path = folder.join(format!("{name}.yaml"));
            let text = faultline::scenario::author::new_scenario(&name, &target, template.as_deref(), config)
                .map_err(|e| miette::miette!("{e}"))?;
            std::fs::create_dir_all(&folder).map_err(|e| miette::miette!("cannot create {}: {e}", folder.display()))?;
            let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).and_then(|mut f| {
                use std::io::Write as _;
                f.write_all(text.as_bytes())
            });
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(miette::miette!("{} exists; pick another name (nothing was written)", path.display()));
                }
                Err(e) => return Err(miette::miette!("cannot write {}: {e}", path.display())),
            }
            print!("{text}");
            eprintln!("wrote {}; fill in the TODOs, then `faultline scenario lint`", path.display());
            Ok(exit::ALLOW)
        }
        ScenarioCmd::Lint { files } => {
            let files: Vec<(String, String)> = if files.is_empty() {
                repo.list(
                    &Snapshot::Worktree,
                    &config.scenarios,
                    &[".yaml", ".yml"],
                    faultline::scenario::MAX_SCENARIO_BYTES,
                )
                .map_err(miette::Report::new)?
                .into_iter()
                .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
                .collect()
            } else {
                let mut out = Vec::new();
                for f in files {
                    // Bounded like the files the gate reads: a FIFO named here must not hang.
                    let bytes = faultline::bounded::read(&f, None, faultline::scenario::MAX_SCENARIO_BYTES)
                        .map_err(miette::Report::new)?
                        .ok_or_else(|| miette::miette!("{} does not exist", f.display()))?;
                    let text =
                        String::from_utf8(bytes).map_err(|_| miette::miette!("{} is not UTF-8 text", f.display()))?;
                    let rel = std::fs::canonicalize(&f)
                        .ok()
                        .and_then(|a| a.strip_prefix(repo.root()).ok().map(|p| p.display().to_string()))
                        .unwrap_or_else(|| f.display().to_string());
                    out.push((rel, text));
                }
                out
            };
            let mut bad = 0;
            for (file, text) in &files {
                match faultline::scenario::parse(file, text.clone(), config) {
                    Ok(s) => {
                        let n = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                        let probes = if s.probes.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", n(s.probes.len(), "probe"))
                        };
                        println!(
                            "ok   {file} ({}: {}, {}, {}{probes})",
                            s.name,
                            n(s.faults.len(), "fault"),
                            n(s.steps.len(), "step"),
                            n(s.checks.len(), "check")
                        );
                        if text.contains("TODO") {
                            println!("     warning: {file} still says TODO");
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{:?}", miette::Report::new(e));
                    }
                }
            }
            println!("{} of {} scenario files valid", files.len() - bad, files.len());
            Ok(if bad == 0 { exit::ALLOW } else { exit::UNVERIFIED })
        }
        ScenarioCmd::Explain { name } => {
            let all =
                faultline::scenario::load_all(&repo, &Snapshot::Worktree, &loaded).map_err(miette::Report::new)?;
            let Some(s) = all.iter().find(|s| s.name == name) else {
                let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                return Err(miette::miette!("no scenario named `{name}` (scenarios: {})", names.join(", ")));
            };
            print!("{}", faultline::scenario::author::explain(s, config));
            Ok(exit::ALLOW)
        }
    }
}

pub(super) fn templates(name: Option<&str>) -> Result<i32, miette::Report> {
    use faultline::scenario::template;
    let all = template::builtin();
    let shown: Vec<_> = match name {
        None => all.iter().collect(),
        Some(n) => match template::find(n) {
            Some(t) => vec![t],
            None => {
                let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
                return Err(miette::miette!("`{n}` is not a template; templates: {}", names.join(", ")));
            }
        },
    };
    for t in shown {
        println!("{}\n  {}\n", t.name, textwrap_indent(&t.description, "  "));
        for (p, d) in &t.params {
            let default = match &d.default {
                None => "required".to_owned(),
                Some(serde_json::Value::Null) => "optional".to_owned(),
                Some(v) => format!("default {v}"),
            };
            let kind =
                serde_json::to_value(d.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            println!("  {p:<18} {kind:<9} {default:<16} {}", d.doc);
        }
        println!();
    }
    Ok(exit::ALLOW)
}

fn textwrap_indent(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for word in text.split_whitespace() {
        if width > 0 && width + word.len() > 86 {
            out.push('\n');
            out.push_str(indent);
            width = 0;
        } else if width > 0 {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += word.len();
    }
    out
}
