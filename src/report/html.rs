//! `report.html`: one self-contained page (no scripts, no external assets, readable
//! offline) with the verdict, the plan, and per scenario a timeline drawn as SVG — the fault
//! windows on their edge or service, every request that crossed an edge as a mark (its
//! status by colour, its latency by length, attempts of one request joined), the steps, and
//! the moment the checks ran, failed ones named.

use std::fmt::Write as _;

use crate::outcome::GateReport;
use crate::outcome::{Decision, ScenarioOutcome, Status};
use crate::verdict::SignoffLine;

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Escaped, with `quoted` parts as code, as the messages write them (a lone backtick stays).
fn text(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return esc(s);
    }
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(p));
        } else {
            out.push_str(&esc(p));
        }
    }
    out
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2329; padding: 0 1em; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; } .pair > div { min-width: 0; overflow-x: auto; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.allow { color: #1a7f37; } .block { color: #cf222e; } .unverified { color: #9a6700; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #eee; vertical-align: top; } td.said { white-space: pre-wrap; }
code { background: #f3f4f6; padding: 0 .25em; border-radius: 3px; }
.scenario { margin: 1.5em 0 2.5em; } .why { color: #57606a; font-style: italic; }
.passed { color: #1a7f37; } .failed { color: #cf222e; } .error { color: #9a6700; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2329; }
.legend span { display: inline-block; margin-right: 1.2em; }
.dot { display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .3em; vertical-align: -1px; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; }
"#;

fn status_colour(status: Option<u16>) -> &'static str {
    match status {
        Some(s) if s < 400 => "#1a7f37",
        Some(s) if s < 500 => "#bf8700",
        Some(_) => "#cf222e",
        None => "#1d2329",
    }
}

/// Where things go on a timeline: ms to x.
struct Scale {
    left: f64,
    width: f64,
    end: f64,
    row_h: f64,
    top: f64,
}

impl Scale {
    fn x(&self, ms: f64) -> f64 {
        self.left + (ms.max(0.0) / self.end) * self.width
    }
}

/// One scenario's timeline.
fn timeline(s: &ScenarioOutcome) -> String {
    let rows = rows(s);
    let sc = Scale { left: 170.0, width: 880.0, end: time_span(s), row_h: 34.0, top: 46.0 };
    let height = sc.top + sc.row_h * rows.len() as f64 + 40.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" role="img" aria-label="timeline of {}">"#,
        sc.left + sc.width + 20.0,
        esc(&s.name)
    );
    axis(&mut o, &sc, height);
    // Steps, as bands along the top.
    for st in &s.steps {
        let colour = if st.passed { "#d8f3dc" } else { "#ffd7d5" };
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="6" width="{:.1}" height="16" fill="{colour}"><title>step {}: {} — {}</title></rect><text x="{:.1}" y="18">step {}</text>"##,
            sc.x(st.start_ms),
            (sc.x(st.end_ms) - sc.x(st.start_ms)).max(2.0),
            st.index + 1,
            esc(&st.step),
            if st.passed { "passed" } else { "failed" },
            sc.x(st.start_ms) + 3.0,
            st.index + 1
        );
    }
    let mut faults_of: std::collections::BTreeMap<String, Vec<&crate::outcome::FaultWindow>> = Default::default();
    for f in &s.faults {
        faults_of.entry(normalise(&f.on)).or_default().push(f);
    }
    for (i, row) in rows.iter().enumerate() {
        let faults = faults_of.get(&normalise(row)).map_or(&[][..], Vec::as_slice);
        row_svg(&mut o, s, &sc, row, faults, sc.top + sc.row_h * i as f64);
    }
    // The checks.
    let failed: Vec<String> =
        s.checks.iter().filter(|c| !c.passed).map(|c| format!("check {} failed", c.index + 1)).collect();
    let colour = if failed.is_empty() { "#1a7f37" } else { "#cf222e" };
    let _ = writeln!(
        o,
        r##"<line class="checks" x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="{colour}" stroke-width="2"/><text x="{3:.1}" y="{1}" fill="{colour}" text-anchor="end">checks{4}</text>"##,
        sc.x(s.checks_ms),
        sc.top - 8.0,
        height - 30.0,
        sc.x(s.checks_ms) - 3.0,
        if failed.is_empty() { String::from(": all passed") } else { format!(": {}", esc(&failed.join(", "))) }
    );
    o.push_str("</svg>\n");
    o
}

/// Rows: every edge with traffic or a fault, then services with a container fault.
fn rows(s: &ScenarioOutcome) -> Vec<String> {
    let faulted: std::collections::BTreeSet<String> = s.faults.iter().map(|f| normalise(&f.on)).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut rows: Vec<String> = Vec::new();
    for (name, o) in &s.edges {
        if !o.requests.is_empty() || o.connections_opened > 0 || faulted.contains(&normalise(name)) {
            seen.insert(normalise(name));
            rows.push(name.clone());
        }
    }
    for f in &s.faults {
        if seen.insert(normalise(&f.on)) {
            rows.push(f.on.trim().to_owned());
        }
    }
    rows.sort_by_key(|r| (!r.starts_with("host"), r.clone()));
    rows
}

/// The span of the timeline in ms: everything that happened, and a little room. Always
/// finite and positive, whatever a verdict.json read back says.
fn time_span(s: &ScenarioOutcome) -> f64 {
    let offset = |edge: &str| s.edge_offsets_ms.get(edge).copied().unwrap_or(0.0);
    let mut end = s.checks_ms.max(1.0);
    for st in &s.steps {
        end = end.max(st.end_ms);
    }
    for f in &s.faults {
        end = end.max(f.end_ms);
    }
    for (name, o) in &s.edges {
        for r in &o.requests {
            end = end.max(r.start_ms + r.duration_ms + offset(name));
        }
    }
    let end = end * 1.04;
    if end.is_finite() { end.clamp(1.0, 1e12) } else { 1e12 }
}

/// The time axis: about eight ticks.
fn axis(o: &mut String, sc: &Scale, height: f64) {
    let step = nice_step(sc.end);
    for i in 0..=((sc.end / step) as usize).min(100) {
        let t = step * i as f64;
        let _ = writeln!(
            o,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#eee"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            sc.x(t),
            sc.top - 6.0,
            height - 30.0,
            height - 14.0,
            if sc.end > 3000.0 { format!("{:.1} s", t / 1e3) } else { format!("{t:.0} ms") }
        );
    }
}

/// One row: the faults on it, the requests that crossed it, attempts of one request joined.
fn row_svg(
    o: &mut String,
    s: &ScenarioOutcome,
    sc: &Scale,
    row: &str,
    faults: &[&crate::outcome::FaultWindow],
    y: f64,
) {
    let row_h = sc.row_h;
    let _ = writeln!(
        o,
        r##"<text x="4" y="{:.1}">{}</text><line x1="{}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#d0d7de"/>"##,
        y + row_h / 2.0 + 4.0,
        esc(row),
        sc.left,
        y + row_h / 2.0,
        sc.left + sc.width,
        y + row_h / 2.0
    );
    for f in faults {
        let _ = writeln!(
            o,
            r##"<rect class="fault" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#cf222e" fill-opacity="0.16" stroke="#cf222e" stroke-opacity="0.5"><title>{}: {} from {:.0} ms to {:.0} ms</title></rect><text x="{:.1}" y="{:.1}" fill="#cf222e">{}</text>"##,
            sc.x(f.start_ms),
            y + 3.0,
            (sc.x(f.end_ms) - sc.x(f.start_ms)).max(2.0),
            row_h - 6.0,
            esc(&f.name),
            esc(&f.what),
            f.start_ms,
            f.end_ms,
            sc.x(f.start_ms) + 3.0,
            y + 13.0,
            esc(&f.what)
        );
    }
    let Some(obs) = s.edges.get(row) else { return };
    let off = s.edge_offsets_ms.get(row).copied().unwrap_or(0.0);
    let mut by_id: std::collections::BTreeMap<&str, Vec<f64>> = std::collections::BTreeMap::new();
    for r in &obs.requests {
        if let Some(id) = r.request_id.as_deref() {
            by_id.entry(id).or_default().push(r.start_ms + off);
        }
    }
    // Attempts of one request joined, and said, so a retry (a double charge) is seen
    // without hovering.
    for (id, starts) in by_id.iter().filter(|(_, v)| v.len() > 1) {
        let label = format!("{} attempts of {}", starts.len(), esc(id));
        joined(o, sc, Join::ATTEMPTS, starts, y + row_h - 6.0, y + row_h - 9.0, &label);
    }
    calls_of_one_ingress(o, s, sc, row, y);
    for r in &obs.requests {
        let start = r.start_ms + off;
        let colour = status_colour(r.status);
        let _ = writeln!(
            o,
            r##"<g class="request"><line x1="{0:.1}" y1="{1:.1}" x2="{2:.1}" y2="{1:.1}" stroke="{colour}" stroke-width="3" stroke-opacity="0.6"/><circle cx="{0:.1}" cy="{1:.1}" r="4" fill="{colour}"/>{10}<title>{3} {4} → {5} in {6:.0} ms{7}{8}{9}</title></g>"##,
            sc.x(start),
            y + row_h / 2.0,
            sc.x(start + r.duration_ms).max(sc.x(start) + 1.0),
            esc(&r.method),
            esc(&r.path),
            r.status.map_or("no answer".to_owned(), |s| s.to_string()),
            r.duration_ms,
            r.attempt.map_or(String::new(), |a| format!(", attempt {a}")),
            r.request_id.as_deref().map_or(String::new(), |id| format!(" of {}", esc(id))),
            r.fault.as_deref().map_or(String::new(), |f| format!(", hit by {}", esc(f))),
            // A request a fault met: a lost reply is an ordinary success on the server's side,
            // so the ring is what says the client never saw it.
            if r.fault.is_some() {
                format!(
                    r##"<circle class="hit" cx="{:.1}" cy="{:.1}" r="7" fill="none" stroke="#cf222e" stroke-width="2"/>"##,
                    sc.x(start),
                    y + row_h / 2.0
                )
            } else {
                String::new()
            }
        );
    }
}

/// Requests on an inner edge made for one request from outside (the only ingress request
/// whose time holds their start), joined and said when there are several whose request ids
/// do not already join them: a retry under a new key — a double charge — shows as "2 calls
/// for one POST /orders".
fn calls_of_one_ingress(o: &mut String, s: &ScenarioOutcome, sc: &Scale, row: &str, y: f64) {
    if row.starts_with("host ->") {
        return;
    }
    let Some(obs) = s.edges.get(row) else { return };
    let off = s.edge_offsets_ms.get(row).copied().unwrap_or(0.0);
    let mut ingress: Vec<(f64, f64, String)> = Vec::new();
    for (edge, io) in s.edges.iter().filter(|(e, _)| e.starts_with("host ->")) {
        let ioff = s.edge_offsets_ms.get(edge).copied().unwrap_or(0.0);
        for r in &io.requests {
            ingress.push((r.start_ms + ioff, r.start_ms + ioff + r.duration_ms, format!("{} {}", r.method, r.path)));
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<(f64, Option<&str>)>> = Default::default();
    for r in &obs.requests {
        let start = r.start_ms + off;
        let holding: Vec<usize> =
            (0..ingress.len()).filter(|i| ingress[*i].0 <= start && start <= ingress[*i].1).collect();
        if let [only] = holding[..] {
            groups.entry(only).or_default().push((start, r.request_id.as_deref()));
        }
    }
    for (i, calls) in groups.iter().filter(|(_, c)| c.len() > 1) {
        let one_id = calls.iter().all(|(_, id)| id.is_some() && *id == calls[0].1);
        if one_id {
            continue; // joined as attempts of one request already
        }
        let starts: Vec<f64> = calls.iter().map(|c| c.0).collect();
        let label = format!("{} calls for one {}", calls.len(), esc(&ingress[*i].2));
        joined(o, sc, Join::CALLS, &starts, y + 6.0, y + 16.0, &label);
    }
}

/// How a set of requests joined on the timeline is drawn.
struct Join {
    class: &'static str,
    colour: &'static str,
    dash: &'static str,
}

impl Join {
    /// Attempts of one request (one request id).
    const ATTEMPTS: Join = Join { class: "attempts", colour: "#8250df", dash: "3 2" };
    /// Calls an inner edge made for one request from outside.
    const CALLS: Join = Join { class: "calls", colour: "#bc4c00", dash: "1 2" };
}

/// A line from the first to the last of `starts` at `y_line`, labelled at `y_text`.
fn joined(o: &mut String, sc: &Scale, j: Join, starts: &[f64], y_line: f64, y_text: f64, label: &str) {
    let (a, b) = (starts.iter().copied().fold(f64::MAX, f64::min), starts.iter().copied().fold(0.0, f64::max));
    let Join { class, colour, dash } = j;
    let _ = writeln!(
        o,
        r##"<line class="{class}" x1="{:.1}" y1="{y_line:.1}" x2="{:.1}" y2="{y_line:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text class="{class}" x="{:.1}" y="{y_text:.1}" fill="{colour}">{label}</text>"##,
        sc.x(a),
        sc.x(b),
        sc.x(a),
    );
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A round step for about 8 ticks.
fn nice_step(end: f64) -> f64 {
    let raw = end / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw)
}

/// One run: its heading, `why`, error, timeline, steps and checks, and how to reproduce it.
fn run_block(o: &mut String, s: &ScenarioOutcome, id: &str) {
    let (cls, word) = match s.status {
        Status::Passed => ("passed", "passed"),
        Status::Failed => ("failed", "failed"),
        Status::Error => ("error", "could not run"),
    };
    let _ = writeln!(
        o,
        r#"<div class="scenario" id="{}"><h3><code>{}</code> <span class="{cls}">{word}</span> <small>target {}, seed {}, {:.1} s</small></h3><p class="why">{}</p>"#,
        esc(id),
        esc(&s.name),
        esc(&s.target),
        s.seed,
        s.stack_seconds + s.run_seconds + s.teardown_seconds,
        esc(&s.why)
    );
    if let Some(e) = &s.error {
        let _ = writeln!(o, "<p class=\"error\">{}</p>", esc(e));
    }
    o.push_str(&timeline(s));
    o.push_str("<table><tr><th></th><th>what</th><th>expected</th><th>observed</th></tr>");
    for st in &s.steps {
        let _ = write!(
            o,
            "<tr><td class=\"{}\">{}</td><td>step {}: {}</td><td>{}</td><td class=\"said\">{}</td></tr>",
            if st.passed { "passed" } else { "failed" },
            if st.passed { "✓" } else { "✗" },
            st.index + 1,
            text(&st.step),
            text(&st.expected),
            text(&st.observed)
        );
    }
    for c in &s.checks {
        let _ = write!(
            o,
            "<tr><td class=\"{}\">{}</td><td>check {} ({}:{}): {}</td><td>{}</td><td class=\"said\">{}</td></tr>",
            if c.passed { "passed" } else { "failed" },
            if c.passed { "✓" } else { "✗" },
            c.index + 1,
            esc(&s.file),
            c.line,
            text(&c.check),
            text(&c.expected),
            text(&c.observed)
        );
    }
    o.push_str("</table>");
    if s.status != Status::Passed {
        let _ = write!(o, "<p>Reproduce:</p><pre>{}</pre>", esc(&s.repro));
    }
    o.push_str("</div>\n");
}

/// Each difference exploration found (worse than the base, or unlike the first flavour of
/// its family), as the two runs side by side: the model on the left (the base revision, or
/// the family's first flavour), this change's run on the right; with its ID and whether a
/// senior accepted it.
fn differences(report: &GateReport) -> String {
    let mut o = String::new();
    for r in &report.exploration {
        for x in r.ran.iter().filter(|x| x.difference.is_some()) {
            let id = x.difference.as_deref().unwrap_or("");
            // The other run: the base's, or else the family's first flavour on this change.
            let first = crate::outcome::family::FIRST;
            let (left, label) = match x.compared.as_ref().filter(|c| c.verdict == crate::outcome::Differential::Worse) {
                Some(c) => (Some(&c.base), "the base revision, under the same fault".to_owned()),
                None => (
                    r.ran
                        .iter()
                        .find(|y| y.class == first && y.on == x.on && y.mode == x.mode && y.with == x.with)
                        .map(|y| &y.outcome),
                    format!("this change, under {first} on {}", x.on),
                ),
            };
            let state = match &x.accepted {
                Some(a) => format!("accepted by {} ({})", esc(&a.by), esc(&a.source)),
                None => format!(
                    "not accepted: a senior accepts it with <code>faultline accept {}</code> in a review or a GitLab note",
                    esc(id)
                ),
            };
            let _ = writeln!(
                o,
                r#"<div class="difference" id="difference-{}"><h3>Difference <code>{}</code>: {} <small>({} of {})</small></h3><p>{state}</p><div class="pair"><div><h4>{}</h4>"#,
                esc(id),
                esc(id),
                esc(&x.what()),
                esc(&r.service),
                esc(&x.outcome.name),
                esc(&label),
            );
            match left {
                Some(l) => run_block(&mut o, l, &format!("difference-{id}-model")),
                None => o.push_str("<p>not run</p>"),
            }
            o.push_str("</div><div><h4>this change</h4>");
            run_block(&mut o, &x.outcome, &format!("difference-{id}-change"));
            o.push_str("</div></div></div>\n");
        }
    }
    if o.is_empty() {
        return o;
    }
    format!("<h2 id=\"differences\">Differences, side by side</h2>\n{o}")
}

/// The edges exploration did not exercise, as a warning (empty when there is none).
fn not_exercised(report: &GateReport) -> String {
    let items: Vec<String> = report
        .exploration
        .iter()
        .flat_map(|x| x.not_exercised.iter().map(move |n| (x, n)))
        .map(|(x, n)| {
            format!("<li><code>{}</code> (exploration of {}): {}</li>", esc(&n.edge), esc(&x.service), esc(&n.why))
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("<h2 id=\"not-exercised\">Warning: edges exploration did not exercise</h2><ul>{}</ul>\n", items.concat())
}

pub fn render(report: &GateReport) -> String {
    let mut o = String::new();
    let (class, word) = match report.decision {
        Decision::Allow => ("allow", "allowed"),
        Decision::Block => ("block", "blocked"),
        Decision::Unverified => ("unverified", "could not be verified (blocked)"),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline: {word}</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(o, r#"<h1 class="{class}" id="verdict">faultline: the change is {word}</h1>"#);
    if !report.reasons.is_empty() {
        o.push_str("<ul>");
        for r in &report.reasons {
            let _ = write!(o, "<li>{}</li>", text(r));
        }
        o.push_str("</ul>\n");
    }
    o.push_str(&not_exercised(report));
    if let Some(p) = &report.plan {
        o.push_str("<h2 id=\"plan\">The plan</h2><table>");
        let head = p
            .head
            .as_ref()
            .map_or("the working tree".to_owned(), |h| format!("{} ({})", h.rev, &h.commit[..h.commit.len().min(12)]));
        let _ = write!(
            o,
            "<tr><th>change</th><td><code>{}</code> into <code>{}</code> ({})</td></tr>",
            esc(&head),
            esc(&p.base.rev),
            &p.base.commit[..p.base.commit.len().min(12)]
        );
        let _ = write!(o, "<tr><th>changed paths</th><td>{}</td></tr>", p.changed.len());
        let tier = p.tier.map_or("none".into(), |t| t.to_string());
        let why = p.tier_reason.as_ref().map_or(String::new(), |r| format!(" — {}", esc(&r.describe())));
        let _ = write!(o, "<tr><th>tier</th><td><b>{tier}</b>{why}</td></tr>");
        let ev: Vec<String> = p.ai_evidence.iter().map(|e| format!("<code>{}</code>", esc(&e.value))).collect();
        let _ = write!(
            o,
            "<tr><th>AI-assisted</th><td>{}</td></tr>",
            if p.ai_assisted { format!("yes: {}", ev.join(", ")) } else { "no".into() }
        );
        let affected: Vec<String> = p.affected.iter().map(|a| format!("<code>{}</code>", esc(&a.service))).collect();
        let _ = write!(
            o,
            "<tr><th>affected</th><td>{}</td></tr>",
            if affected.is_empty() { "none".into() } else { affected.join(", ") }
        );
        let _ = write!(o, "<tr><th>stack</th><td>{}</td></tr>", esc(&p.stack.join(", ")));
        let _ = write!(o, "<tr><th>scenarios</th><td>{}</td></tr>", esc(&p.scenarios.join(", ")));
        if let Some(sg) = &report.signoff {
            let state = match sg.line() {
                SignoffLine::NotRequired => "not required".to_owned(),
                SignoffLine::Given(by) => format!("given by {}", esc(&by)),
                SignoffLine::Missing(who) => format!("<b class=\"block\">missing</b>: {}", esc(&who)),
            };
            let _ = write!(o, "<tr><th>sign-off</th><td>{state}</td></tr>");
        }
        let _ = writeln!(o, "<tr><th>seed</th><td>{}</td></tr></table>", report.seed);
    }
    if !report.scenarios.is_empty() {
        o.push_str("<h2 id=\"scenarios\">Scenarios</h2>\n<p class=\"legend\"><span><i class=\"dot\" style=\"background:#1a7f37\"></i>2xx/3xx</span><span><i class=\"dot\" style=\"background:#bf8700\"></i>4xx</span><span><i class=\"dot\" style=\"background:#cf222e\"></i>5xx</span><span><i class=\"dot\" style=\"background:#1d2329\"></i>no answer</span><span>▭ red: a fault's window</span><span>- - purple: attempts of one request</span><span>◯ red ring: the request met a fault (a lost reply included)</span><span>·· orange: calls made for one request from outside</span><span>hover a mark for details</span></p>\n");
    }
    for s in &report.scenarios {
        run_block(&mut o, s, &format!("scenario-{}", s.name));
    }
    o.push_str(&differences(report));
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Accepted, Compared, Differential, ExperimentResult, ExploreReport};

    fn outcome(observed: &str, passed: bool) -> ScenarioOutcome {
        let mut o: ScenarioOutcome =
            serde_json::from_value(serde_json::json!({"name": "explore-api-x", "file": "x.yaml",
            "target": "api", "why": "w", "seed": 1, "status": "passed", "error": null,
            "steps": [{"index": 0, "step": "GET api /call", "passed": passed, "expected": "status in [200]",
                       "observed": observed}],
            "checks": [], "edges": {}, "faults": [], "checks_ms": 0.0, "stack_seconds": 0.0, "run_seconds": 0.0,
            "teardown_seconds": 0.0, "repro": "faultline run"}))
            .expect("an outcome");
        o.judge();
        o
    }

    #[test]
    fn a_difference_is_shown_as_its_two_runs_side_by_side() {
        let mut report = GateReport::new(1, None);
        let experiment = |accepted: Option<Accepted>| ExperimentResult {
            class: "slow-under-deadline".into(),
            on: "api -> db".into(),
            mode: crate::scenario::experiments::Mode::Sequential,
            with: None,
            outcome: outcome("1× 502 on the change", false),
            scenario: None,
            compared: Some(Compared {
                base: outcome("1× 200 on the base", true),
                verdict: Differential::Worse,
                differences: Vec::new(),
                pairs: 2,
                recorded: None,
            }),
            difference: Some("d-0123456789".into()),
            accepted,
            outage: None,
        };
        report.exploration.push(ExploreReport {
            service: "api".into(),
            ran: vec![experiment(None)],
            ..Default::default()
        });
        let html = render(&report);
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} not in {html}"));
        assert!(at("Differences, side by side") < at(r#"<div class="pair">"#));
        // The base's run on the left, the change's on the right, each whole.
        assert!(at("the base revision, under the same fault") < at("1× 200 on the base"));
        assert!(at("1× 200 on the base") < at("<h4>this change</h4>"));
        assert!(at("<h4>this change</h4>") < at("1× 502 on the change"));
        assert!(html.contains("not accepted: a senior accepts it with <code>faultline accept d-0123456789</code>"));
        // Accepted: said, by whom.
        let accepted = Accepted { by: "@alice".into(), source: "GitHub review of 1a2b3c4d5e".into() };
        report.exploration[0].ran = vec![experiment(Some(accepted))];
        assert!(render(&report).contains("accepted by @alice (GitHub review of 1a2b3c4d5e)"));
        // No difference, no section.
        report.exploration[0].ran[0].difference = None;
        assert!(!render(&report).contains("Differences, side by side"));
    }
}
