//! Helpers for the seniors who write scenarios: a commented starting file (`scenario new`),
//! and what a scenario would do, in words (`scenario explain`). `scenario lint` is
//! [`super::parse`] on each file.

use std::fmt::Write as _;

use super::template::{self, ParamKind};
use super::validate::{FaultTarget, RequestStep, Scenario, StepKind};
use crate::config::Config;
use crate::config::ServiceGraph;

/// Why `scenario new` cannot write a file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AuthorError {
    #[error("`{target}` is not a service of faultline.yaml (services: {services})")]
    #[diagnostic(code(faultline::scenario::unknown_target))]
    UnknownTarget { target: String, services: String },

    #[error("`{name}` is not a template (templates: {templates})")]
    #[diagnostic(code(faultline::scenario::unknown_template))]
    UnknownTemplate { name: String, templates: String },
}

/// A commented scenario for `target`, from `template` when given. Parameters the
/// configuration can answer (the client, its first dependency) are filled in; the others
/// are written out with their meaning, to be filled in.
pub fn new_scenario(name: &str, target: &str, template: Option<&str>, config: &Config) -> Result<String, AuthorError> {
    let Some(svc) = config.services.get(target) else {
        let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
        let services = crate::config::diagnostic::listing(&names);
        return Err(AuthorError::UnknownTarget { target: target.to_owned(), services });
    };
    let dependency = svc.depends_on.keys().next().cloned();
    // For a `database` parameter, a dependency that looks like one.
    let database = svc
        .depends_on
        .keys()
        .find(|d| {
            let s = &config.services[*d];
            let named = [&s.image, &s.build]
                .iter()
                .any(|x| x.as_deref().is_some_and(|x| ["postgres", "mysql", "mariadb"].iter().any(|w| x.contains(w))));
            named || s.ports.iter().any(|p| [5432, 3306].contains(p))
        })
        .cloned()
        .or_else(|| dependency.clone());
    let request = match svc.ready.as_ref().and_then(|r| r.http.clone()) {
        Some(_) => format!("GET {target} /"),
        None => format!("GET {target} /  # {target} has no `ready.http`: is it an HTTP service?"),
    };
    let mut o = String::new();
    let _ = writeln!(o, "# {name}: what {target} must survive, and why. `faultline scenario explain {name}` says");
    let _ = writeln!(o, "# what it will do; `faultline run --scenario {name}` runs it against your working tree.");
    let _ = writeln!(o, "name: {name}");
    let Some(tname) = template else {
        let _ = writeln!(o, "target: {target}                # the stack: {target} and everything it depends on");
        let _ = writeln!(o, "why: >\n  TODO: the incident this prevents, and what {target} must do instead (INC-…).");
        let _ = writeln!(o, "faults:");
        match &dependency {
            Some(d) => {
                let _ = writeln!(
                    o,
                    "  - on: {target} -> {d}        # an edge: latency, timeout, reset, http: {{status, delay, drop}}, …"
                );
                let _ = writeln!(o, "    latency: 2s");
                let _ = writeln!(o, "    # at: 0s                  # when it starts (from the first step)");
                let _ = writeln!(o, "    # for: 5s                 # how long (default: until the steps end)");
            }
            None => {
                let _ = writeln!(o, "  - on: {target}               # a service: pause, kill, stop or disconnect");
                let _ = writeln!(o, "    pause: true");
                let _ = writeln!(o, "    for: 2s");
            }
        }
        let _ = writeln!(o, "steps:");
        let _ = writeln!(o, "  - request: {request}");
        let _ = writeln!(o, "    repeat: 3");
        let _ = writeln!(o, "    expect: {{ status: [200], within: 2s }}");
        let _ = writeln!(o, "checks:");
        let _ = writeln!(o, "  - logs: {{ service: {target}, forbid: [\"panicked at\"] }}");
        let _ = writeln!(o, "  # - recovers: {{ request: GET {target} /health, within: 10s }}");
        let _ = writeln!(o, "  # - sql: {{ service: postgres, query: \"SELECT count(*) FROM …\" }}");
        let _ = writeln!(o, "  #   expect: \"1\"");
        return Ok(o);
    };
    let Some(t) = template::find(tname) else {
        let names: Vec<&str> = template::builtin().iter().map(|t| t.name.as_str()).collect();
        return Err(AuthorError::UnknownTemplate { name: tname.to_owned(), templates: names.join(", ") });
    };
    let _ = writeln!(o, "# From the template `{}`: {}", t.name, t.description.replace('\n', " "));
    let _ = writeln!(o, "use: {}", t.name);
    let _ = writeln!(o, "with:");
    for (p, d) in &t.params {
        let guess = match (p.as_str(), d.kind) {
            ("client", ParamKind::Service) => Some(target.to_owned()),
            ("dependency", ParamKind::Service) => dependency.clone(),
            ("database", ParamKind::Service) => database.clone(),
            ("request" | "probe", ParamKind::Request) => {
                Some(request.split('#').next().unwrap_or("").trim().to_owned())
            }
            _ => None,
        };
        match (guess, &d.default) {
            (Some(g), _) => {
                let _ = writeln!(o, "  {p}: {g}    # {}", d.doc);
            }
            (None, Some(default)) => {
                let shown = match default {
                    serde_json::Value::Null => "(optional)".to_owned(),
                    v => v.to_string(),
                };
                let _ = writeln!(o, "  # {p}: {shown}    # {}", d.doc);
            }
            (None, None) => {
                let example = match d.kind {
                    ParamKind::Statuses => "[200]",
                    ParamKind::Duration => "2s",
                    ParamKind::Int => "3",
                    _ => "TODO",
                };
                let _ = writeln!(o, "  {p}: {example}    # required: {}", d.doc);
            }
        }
    }
    let _ = writeln!(o, "why: >\n  TODO: the incident this prevents, and what {target} must do instead (INC-…).");
    let _ = writeln!(o, "# steps: and checks: added here run after the template's.");
    Ok(o)
}

/// What `scenario` would do, in words: the stack, the faults on the timeline, the steps, the
/// checks.
pub fn explain(s: &Scenario, config: &Config) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} ({})\n  why: {}\n", s.name, s.file, s.why);
    let graph = ServiceGraph::new(config);
    let mut marked = vec![false; graph.len()];
    for svc in &s.stack {
        if let Some(i) = graph.index(svc) {
            marked[i] = true;
        }
    }
    let _ = writeln!(o, "starts a fresh stack for {}, level by level:", s.target);
    for (i, level) in graph.start_levels(&marked).iter().enumerate() {
        let _ = writeln!(o, "  {}. {}", i + 1, level.join(", "));
    }
    let edges: Vec<String> =
        s.stack.iter().flat_map(|a| config.services[a].depends_on.keys().map(move |b| format!("{a} -> {b}"))).collect();
    let _ = writeln!(
        o,
        "  every edge through faultline's proxy: {}",
        if edges.is_empty() { "none".into() } else { edges.join(", ") }
    );
    let _ = writeln!(o, "\nfaults (the clock starts with the first step):");
    if s.faults.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for f in &s.faults {
        let when = match f.duration {
            Some(d) => format!("from {} for {}", fmt(f.at), fmt(d)),
            None => format!("from {} until the steps end", fmt(f.at)),
        };
        let kind = match &f.target {
            FaultTarget::Edge { .. } => "on the edge",
            FaultTarget::Container { .. } => "on the container of",
        };
        let _ = writeln!(o, "  faults[{}]: {} {kind} {} {when}", f.index, f.what, f.on.trim());
    }
    let _ = writeln!(o, "\nsteps, in order:");
    for (i, st) in s.steps.iter().enumerate() {
        let text = match st {
            StepKind::Request(RequestStep { line, repeat, concurrency, expect, .. }) => {
                format!("{line} ×{repeat} ({concurrency} at once), {}", expectation(expect))
            }
            StepKind::Load { line, rate, duration, expect, .. } => {
                format!("load {line} at {rate}/s for {}, {}", fmt(*duration), expectation(expect))
            }
            StepKind::Exec { service, cmd, expect_exit, .. } => format!(
                "exec `{}` {}, exit code {expect_exit}",
                cmd.join(" "),
                service.as_deref().map_or("on the host".to_owned(), |s| format!("in {s}"))
            ),
            StepKind::Nextest { filter, .. } => {
                format!("the repository's tests `{filter}` (cargo nextest), all passing")
            }
            StepKind::Sleep(d) => format!("sleep {}", fmt(*d)),
        };
        let _ = writeln!(o, "  {}. {text}", i + 1);
    }
    if !s.probes.is_empty() {
        let _ = writeln!(o, "\nwhile the steps run, probed on the service's port (no proxy between):");
        for (i, p) in s.probes.iter().enumerate() {
            let line = s.probe_lines.get(i).copied().unwrap_or(0);
            let _ = writeln!(o, "  {}. {}   ({}:{line})", i + 1, p.describe(), s.file);
        }
    }
    let _ = writeln!(o, "\nthen every fault is undone, and the checks run:");
    for (i, c) in s.checks.iter().enumerate() {
        let mut text = c.explain();
        if let Some(bound) = s.settle.get(i).copied().flatten() {
            text.push_str(&format!(", once settled (tried again for up to {} of quiet)", fmt(bound)));
        }
        let line = s.check_lines.get(i).copied().unwrap_or(0);
        let _ = writeln!(o, "  {}. {text}   ({}:{line})", i + 1, s.file);
    }
    o
}

fn expectation(e: &super::validate::Expectation) -> String {
    let mut parts = vec![match &e.status {
        Some(s) => format!("status in {s:?}"),
        None => "status below 500".to_owned(),
    }];
    if let Some(w) = e.within {
        parts.push(format!("each within {}", fmt(w)));
    }
    if e.error_rate > 0.0 {
        parts.push(format!("at most {:.1}% failing", e.error_rate * 100.0));
    }
    for (p, d) in &e.percentiles {
        parts.push(format!("p{p} ≤ {}", fmt(*d)));
    }
    parts.join(", ")
}

fn fmt(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}
