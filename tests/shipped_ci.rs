//! The shipped CI files keep the gate out of the change's reach (issue 23, "The workflow the
//! change cannot edit"): read with serde_yaml, each property is checked, on the files as
//! shipped (no problem) and on copies each broken in one way (that problem found), so a
//! check that cannot fail fails here. No Docker.
//!
//! GitHub (`ci/github-actions.yml`, and `ci/github-actions-sharded.yml` in its place): the
//! gate runs on `pull_request_target` only (never `pull_request`, whose definition is the pull
//! request's own copy), also on a change of the base; no job has an `if:` that can skip it (a
//! skipped job counts as a success); it checks out only the base's commit, without keeping
//! the token; event fields reach scripts only through `env:`; the gate's exit status is never
//! swallowed; uploads run `if: always()`; permissions are minimal; faultline is installed
//! pinned, with `--locked`, and nothing comes from the Actions cache; `--base`/`--head` are
//! the event's commits; the sharded merge runs `if: always()` and reads every shard.
//! `ci/github-actions-review.yml` runs on reviews, from the pull request's copy, so it runs no
//! faultline, checks nothing out, names no job like the gate's, and only re-runs the gate.
//!
//! GitLab (`ci/gitlab-ci.yml`): merge request pipelines, the change never checked out
//! (`GIT_STRATEGY: none`), `--base`/`--head` from `CI_MERGE_REQUEST_DIFF_BASE_SHA` and
//! `CI_COMMIT_SHA`, no `allow_failure`, artifacts `when: always`, variables only as quoted
//! shell variables, faultline pinned with `--locked`, no cache.

use std::path::Path;

use serde_yaml::{Mapping, Value};

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn map(v: &Value) -> Mapping {
    v.as_mapping().cloned().unwrap_or_default()
}

fn key(k: &Value) -> String {
    k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned)
}

/// The commands of a shell script, one per logical line (`\` continuations joined), comments
/// and blank lines left out.
fn commands(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in script.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part.trim_end());
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Ways a script swallows a failure.
fn swallows(script: &str) -> Option<&'static str> {
    ["|| true", "||true", "|| :", "||:", "|| exit 0", "set +e", "set +o errexit"]
        .into_iter()
        .find(|p| script.contains(p))
}

/// The value of `--flag "VALUE"` or `--flag VALUE` in `cmd`.
fn flag<'a>(cmd: &'a str, name: &str) -> Option<&'a str> {
    let rest = cmd.split(&format!("{name} ")).nth(1)?;
    let rest = rest.trim_start();
    match rest.strip_prefix('"') {
        Some(q) => q.split('"').next(),
        None => rest.split_whitespace().next(),
    }
}

fn is_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

// ---- GitHub Actions ----

const BASE_SHA: &str = "${{ github.event.pull_request.base.sha }}";
const HEAD_SHA: &str = "${{ github.event.pull_request.head.sha }}";

/// The top of a workflow file, parsed, with the problems every shipped workflow avoids:
/// permissions `{}` at the top (each job asks for what it needs), bash with pipefail.
fn workflow(text: &str, p: &mut Vec<String>) -> Option<(Value, Mapping)> {
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            p.push(format!("not YAML: {e}"));
            return None;
        }
    };
    let top = doc.get("permissions");
    if !top.is_some_and(|t| t.as_mapping().is_some_and(Mapping::is_empty)) {
        p.push(format!("the workflow's permissions must be `{{}}` (each job asks for what it needs), not {top:?}"));
    }
    if doc.get("defaults").and_then(|d| d.get("run")).and_then(|r| s(r, "shell")) != Some("bash") {
        p.push("`defaults: run: shell: bash` is missing: GitHub's default shell runs without `-o pipefail`".into());
    }
    let jobs = map(doc.get("jobs").unwrap_or(&Value::Null));
    if jobs.is_empty() {
        p.push("no jobs".into());
    }
    for (name, job) in &jobs {
        github_job(&key(name), job, p);
    }
    Some((doc, jobs))
}

/// Every property a shipped gate workflow (`required` is the job to make a required check)
/// must have that `text` lacks.
fn github_problems(text: &str, required: &str) -> Vec<String> {
    let mut p = Vec::new();
    let Some((doc, jobs)) = workflow(text, &mut p) else { return p };
    github_triggers(&doc, &mut p);
    match doc.get("env").and_then(|e| s(e, "FAULTLINE_VERSION")) {
        Some(v) if is_semver(v) => {}
        other => p.push(format!("FAULTLINE_VERSION must pin a version (x.y.z), not {other:?}")),
    }
    let mut gates = 0;
    for (name, job) in &jobs {
        let name = key(name);
        // A job skipped by its `if:` reports a success, even as a required check.
        let cond = match job.get("if") {
            None | Some(Value::Bool(true)) => None,
            Some(Value::String(c)) => Some(c.trim().trim_start_matches("${{").trim_end_matches("}}").trim().to_owned()),
            Some(other) => Some(serde_yaml::to_string(other).unwrap_or_default().trim().to_owned()),
        };
        if let Some(c) = cond.filter(|c| c != "always()") {
            p.push(format!("job `{name}` has `if: {c}`: a skipped job counts as a success, even for a required check"));
        }
        if steps(job).iter().any(|st| s(st, "run").is_some_and(|r| r.contains("faultline gate"))) {
            gates += 1;
            github_gate_job(&name, job, &mut p);
        }
        if steps(job).iter().any(|st| s(st, "run").is_some_and(|r| r.contains("faultline report merge"))) {
            github_merge_job(&name, job, &jobs, &mut p);
        }
    }
    if gates == 0 {
        p.push("no job runs `faultline gate`".into());
    }
    if !jobs.contains_key(required) {
        p.push(format!("no job named `{required}`, the check docs/ci.md says to require"));
    }
    p
}

/// Every property the review workflow must have that `text` lacks: it runs on reviews only,
/// from the pull request's copy, so it must decide nothing and look like no gate.
fn review_problems(text: &str) -> Vec<String> {
    let mut p = Vec::new();
    let Some((doc, jobs)) = workflow(text, &mut p) else { return p };
    let on = map(doc.get("on").unwrap_or(&Value::Null));
    if on.keys().map(key).collect::<Vec<_>>() != ["pull_request_review"] {
        p.push(format!(
            "the review workflow runs on {:?}, not on `pull_request_review` alone",
            on.keys().map(key).collect::<Vec<_>>()
        ));
    }
    for (name, job) in &jobs {
        let name = key(name);
        if ["gate", "merge", "gate-sharded"].contains(&name.as_str()) {
            p.push(format!("the review workflow names a job `{name}`, like a check of the gate"));
        }
        let runs: String = steps(job).iter().filter_map(|st| s(st, "run").map(str::to_owned)).collect();
        if !runs.contains("gh run rerun") {
            p.push(format!("job `{name}` does not re-run the gate"));
        }
        if steps(job).iter().any(|st| s(st, "uses").is_some_and(|u| u.starts_with("actions/checkout")))
            || runs.contains("faultline")
        {
            p.push(format!("job `{name}` runs on reviews (the pull request's copy) and checks out or runs faultline"));
        }
    }
    p
}

fn steps(job: &Value) -> Vec<Value> {
    job.get("steps").and_then(Value::as_sequence).cloned().unwrap_or_default()
}

fn github_triggers(doc: &Value, p: &mut Vec<String>) {
    let on = map(doc.get("on").unwrap_or(&Value::Null));
    for other in on.keys().map(key).filter(|k| k != "pull_request_target") {
        p.push(format!("runs on `{other}`: the gate runs only on pull_request_target, from the base's definition"));
    }
    match on.get("pull_request_target") {
        None => p.push("no `pull_request_target` trigger".into()),
        Some(t) => {
            let types: Vec<&str> =
                t.get("types").and_then(Value::as_sequence).into_iter().flatten().filter_map(Value::as_str).collect();
            for want in ["opened", "synchronize", "reopened", "edited"] {
                if !types.contains(&want) {
                    p.push(format!("pull_request_target does not run on `{want}`"));
                }
            }
        }
    }
}

/// What every job of the workflow keeps, whatever it runs.
fn github_job(name: &str, job: &Value, p: &mut Vec<String>) {
    if job.get("continue-on-error").is_some() {
        p.push(format!("job `{name}` has continue-on-error"));
    }
    let checks_out = steps(job).iter().any(|st| s(st, "uses").is_some_and(|u| u.starts_with("actions/checkout")));
    let runs_faultline = steps(job).iter().any(|st| s(st, "run").is_some_and(|r| r.contains("faultline")));
    match job.get("permissions").map(map) {
        None => p.push(format!("job `{name}` does not say its permissions")),
        Some(perms) => {
            for (scope, level) in &perms {
                let (scope, level) = (key(scope), level.as_str().unwrap_or_default().to_owned());
                let ok = match (scope.as_str(), level.as_str()) {
                    ("contents" | "pull-requests", "read") => true,
                    // Re-running a run; only for a job that neither checks out nor runs faultline.
                    ("actions", "write") => !checks_out && !runs_faultline,
                    _ => false,
                };
                if !ok {
                    p.push(format!("job `{name}` asks for `{scope}: {level}`"));
                }
            }
        }
    }
    for (i, st) in steps(job).iter().enumerate() {
        let at = format!("job `{name}` step {}", i + 1);
        if st.get("continue-on-error").is_some() {
            p.push(format!("{at} has continue-on-error"));
        }
        if let Some(run) = s(st, "run") {
            if run.contains("${{") {
                p.push(format!("{at} pastes an expression into `run:` (event fields go through `env:`)"));
            }
            if let Some(how) = swallows(run) {
                p.push(format!("{at} swallows a failure (`{how}`)"));
            }
        }
        let uses = s(st, "uses").unwrap_or_default();
        if uses.starts_with("actions/cache") {
            p.push(format!("{at} uses the Actions cache, which a pull_request_target run can write"));
        }
        if uses.starts_with("actions/upload-artifact") && !s(st, "if").is_some_and(|c| c.contains("always()")) {
            p.push(format!("{at} uploads without `if: always()`"));
        }
        if uses.starts_with("actions/checkout") {
            let with = st.get("with").cloned().unwrap_or(Value::Null);
            if s(&with, "ref") != Some(BASE_SHA) {
                p.push(format!("{at} checks out {:?}, not the base commit {BASE_SHA}", s(&with, "ref")));
            }
            if with.get("persist-credentials").and_then(Value::as_bool) != Some(false) {
                p.push(format!("{at} leaves the token in .git/config (persist-credentials)"));
            }
            for bad in ["repository", "allow-unsafe-pr-checkout"] {
                if with.get(bad).is_some() {
                    p.push(format!("{at} sets `{bad}`"));
                }
            }
        }
        if let Some(run) = s(st, "run").filter(|r| r.contains("cargo") && r.contains(" install"))
            && (!run.contains("--locked") || !run.contains("--version"))
        {
            p.push(format!("{at} installs faultline without `--locked --version`"));
        }
    }
}

/// A job that runs `faultline gate`: only on pull_request_target, from the base's commit, with
/// the event's commits, its status its own.
fn github_gate_job(name: &str, job: &Value, p: &mut Vec<String>) {
    let all = steps(job);
    if !all.iter().any(|st| s(st, "uses").is_some_and(|u| u.starts_with("actions/checkout"))) {
        p.push(format!("job `{name}` checks out nothing: where do its configuration and scenarios come from?"));
    }
    if !all.iter().any(|st| s(st, "run").is_some_and(|r| r.contains("cargo") && r.contains(" install"))) {
        p.push(format!("job `{name}` does not install faultline itself (pinned)"));
    }
    for st in all.iter().filter(|st| s(st, "run").is_some_and(|r| r.contains("faultline gate"))) {
        let run = s(st, "run").unwrap_or_default();
        let cmds = commands(run);
        let Some(i) = cmds.iter().position(|c| c.contains("faultline gate")) else { continue };
        if i + 1 != cmds.len() {
            p.push(format!(
                "job `{name}`: commands after `faultline gate` decide the step's status: {:?}",
                &cmds[i + 1..]
            ));
        }
        if cmds[i].contains("||") || cmds[i].contains('&') || cmds[i].contains(';') || cmds[i].contains('|') {
            p.push(format!("job `{name}`: the gate's command is not alone on its line: {}", cmds[i]));
        }
        let env = st.get("env").cloned().unwrap_or(Value::Null);
        for (f, want) in [("--base", BASE_SHA), ("--head", HEAD_SHA)] {
            let var = flag(&cmds[i], f).and_then(|v| v.strip_prefix('$')).map(|v| v.trim_matches(['{', '}']));
            match var.and_then(|v| s(&env, v)) {
                Some(v) if v == want => {}
                got => p.push(format!("job `{name}`: {f} is not the event's commit {want} through env (got {got:?})")),
            }
        }
    }
}

/// A job that merges shards: after every shard, whatever they found, reading each of them.
fn github_merge_job(name: &str, job: &Value, jobs: &Mapping, p: &mut Vec<String>) {
    let needs: Vec<String> = match job.get("needs") {
        Some(Value::String(n)) => vec![n.clone()],
        Some(Value::Sequence(ns)) => ns.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if s(job, "if").is_none_or(|c| c.trim() != "always()") {
        p.push(format!(
            "job `{name}` does not run `if: always()`: after a shard failed it would be skipped, a success"
        ));
    }
    let Some(shards) = needs.iter().find_map(|n| jobs.get(n)) else {
        p.push(format!("job `{name}` merges shards but needs no gate job"));
        return;
    };
    let count = shards
        .get("strategy")
        .and_then(|st| st.get("matrix"))
        .and_then(|m| m.get("shard"))
        .and_then(Value::as_sequence)
        .map_or(0, Vec::len);
    let merge = steps(job).iter().filter_map(|st| s(st, "run").map(str::to_owned)).collect::<String>();
    for k in 1..=count {
        if !merge.contains(&format!("shard-{k} ")) && !merge.contains(&format!("shard-{k}\n")) {
            p.push(format!("job `{name}` does not read shard {k} of {count}"));
        }
    }
    // Bound to this run: shards of another run (a report committed in the change) refused.
    if !(merge.contains("--base \"$BASE_SHA\"") && merge.contains("--head \"$HEAD_SHA\"")) {
        p.push(format!("job `{name}` does not bind the shards to the event's base and head (--base, --head)"));
    }
    let gate = steps(shards).iter().filter_map(|st| s(st, "run").map(str::to_owned)).collect::<String>();
    if count == 0 || !gate.contains(&format!("/{count}\"")) {
        p.push(format!("the shards' `--partition` does not split into the {count} shards `{name}` reads"));
    }
}

// ---- GitLab CI ----

/// Every `$` of `script` outside double quotes (in single quotes it is literal, and GitLab
/// itself splices nothing into a script: the shell expands what is quoted).
fn unquoted_variables(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in script.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        let (mut single, mut double, mut escaped) = (false, false, false);
        for (i, c) in t.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if !single => escaped = true,
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '$' if !single && !double => out.push(t[i..].chars().take(40).collect()),
                '#' if !single && !double && (i == 0 || t[..i].ends_with(' ')) => break,
                _ => {}
            }
        }
    }
    out
}

/// Every property the shipped GitLab template must have that `text` lacks.
fn gitlab_problems(text: &str) -> Vec<String> {
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("not YAML: {e}")],
    };
    let mut p = Vec::new();
    let jobs: Vec<(String, Value)> =
        map(&doc).into_iter().filter(|(_, j)| j.get("script").is_some()).map(|(k, j)| (key(&k), j)).collect();
    let script_of = |job: &Value| -> String {
        job.get("script")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let gates: Vec<&(String, Value)> = jobs.iter().filter(|(_, j)| script_of(j).contains("faultline gate")).collect();
    if gates.is_empty() {
        p.push("no job runs `faultline gate`".into());
    }
    for (name, job) in &jobs {
        let script = script_of(job);
        for v in unquoted_variables(&script) {
            p.push(format!("job `{name}`: `{v}` is not inside double quotes"));
        }
        if script.contains("eval ") {
            p.push(format!("job `{name}` uses eval"));
        }
        if let Some(how) = swallows(&script) {
            p.push(format!("job `{name}` swallows a failure (`{how}`)"));
        }
        if job.get("cache").is_some() {
            p.push(format!("job `{name}` restores a cache the merge request's pipelines can write"));
        }
    }
    for (name, job) in gates {
        gitlab_gate_job(name, job, &script_of(job), &mut p);
    }
    p
}

fn gitlab_gate_job(name: &str, job: &Value, script: &str, p: &mut Vec<String>) {
    let rules = job.get("rules").and_then(Value::as_sequence).cloned().unwrap_or_default();
    if !rules.iter().any(|r| s(r, "if").is_some_and(|c| c.contains("$CI_PIPELINE_SOURCE == \"merge_request_event\""))) {
        p.push(format!("job `{name}` does not run in merge request pipelines"));
    }
    if job.get("allow_failure").is_some_and(|a| a.as_bool() != Some(false)) {
        p.push(format!("job `{name}` may fail without failing the pipeline (allow_failure)"));
    }
    let artifacts = job.get("artifacts").cloned().unwrap_or(Value::Null);
    if s(&artifacts, "when") != Some("always") {
        p.push(format!("job `{name}` keeps its reports only on success (artifacts: when: always)"));
    }
    if artifacts.get("reports").and_then(|r| r.get("junit")).is_none() {
        p.push(format!("job `{name}` does not hand junit.xml to the merge request"));
    }
    let vars = job.get("variables").cloned().unwrap_or(Value::Null);
    if s(&vars, "GIT_STRATEGY") != Some("none") {
        p.push(format!("job `{name}` checks the change out where its tools run (GIT_STRATEGY must be none)"));
    }
    match s(&vars, "FAULTLINE_VERSION") {
        Some(v) if is_semver(v) => {}
        other => p.push(format!("job `{name}`: FAULTLINE_VERSION must pin a version (x.y.z), not {other:?}")),
    }
    let cmds = commands(script);
    if !cmds.iter().any(|c| c.starts_with("cargo install") && c.contains("--locked") && c.contains("--version")) {
        p.push(format!("job `{name}` installs faultline without `--locked --version`"));
    }
    match cmds.iter().position(|c| c.contains("faultline gate")) {
        Some(i) => {
            if i + 1 != cmds.len() {
                p.push(format!("job `{name}`: commands after `faultline gate`: {:?}", &cmds[i + 1..]));
            }
            for (f, want) in [("--base", "$CI_MERGE_REQUEST_DIFF_BASE_SHA"), ("--head", "$CI_COMMIT_SHA")] {
                if flag(&cmds[i], f) != Some(want) {
                    p.push(format!("job `{name}`: {f} is {:?}, not \"{want}\"", flag(&cmds[i], f)));
                }
            }
        }
        None => p.push(format!("job `{name}`: no `faultline gate` command")),
    }
}

// ---- the tests ----

#[test]
fn the_shipped_github_workflows_run_the_gate_from_the_base() {
    for (file, problems) in [
        ("github-actions.yml", github_problems(&shipped("github-actions.yml"), "gate")),
        ("github-actions-sharded.yml", github_problems(&shipped("github-actions-sharded.yml"), "merge")),
        ("github-actions-review.yml", review_problems(&shipped("github-actions-review.yml"))),
    ] {
        assert!(problems.is_empty(), "ci/{file}:\n{}", problems.join("\n"));
    }
}

#[test]
fn the_shipped_gitlab_template_runs_the_gate_from_the_merge_request_s_commits() {
    let problems = gitlab_problems(&shipped("gitlab-ci.yml"));
    assert!(problems.is_empty(), "ci/gitlab-ci.yml:\n{}", problems.join("\n"));
}

/// `text` with the first `from` replaced by `to`; `from` must be there, so a mutation that
/// no longer applies fails instead of testing nothing.
fn mutate(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the shipped file no longer contains {from:?}");
    text.replacen(from, to, 1)
}

#[test]
fn each_way_to_put_the_github_gate_in_the_change_s_reach_is_found() {
    let ok = shipped("github-actions.yml");
    let gate_line = r#"--timeout 30m --jobs 2 --report "$GITHUB_WORKSPACE/faultline-report""#;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "the pull request's copy",
            mutate(&ok, "  pull_request_target:\n", "  pull_request:\n"),
            "runs on `pull_request`",
        ),
        ("no re-run on a new base", mutate(&ok, "reopened, edited,", "reopened,"), "does not run on `edited`"),
        (
            "a branch name pasted into run",
            mutate(&ok, r#"--base "$BASE_SHA""#, r#"--base "origin/${{ github.event.pull_request.base.ref }}""#),
            "pastes an expression",
        ),
        (
            "head_ref pasted into run",
            mutate(&ok, "git fetch --no-tags", "echo ${{ github.head_ref }}; git fetch --no-tags"),
            "pastes an expression",
        ),
        ("a swallowed verdict", mutate(&ok, gate_line, &format!("{gate_line} || true")), "swallows a failure"),
        (
            "set +e",
            mutate(&ok, "          faultline gate --base", "          set +e\n          faultline gate --base"),
            "swallows a failure",
        ),
        (
            "a verdict overwritten",
            mutate(&ok, gate_line, &format!("{gate_line}\n          echo done")),
            "commands after `faultline gate`",
        ),
        (
            "continue-on-error",
            mutate(&ok, "    timeout-minutes: 45\n", "    timeout-minutes: 45\n    continue-on-error: true\n"),
            "continue-on-error",
        ),
        ("upload only on success", mutate(&ok, "        if: always()\n", ""), "uploads without `if: always()`"),
        (
            "the head checked out",
            mutate(&ok, &format!("ref: {BASE_SHA}"), &format!("ref: {HEAD_SHA}")),
            "not the base commit",
        ),
        (
            "the token kept",
            mutate(&ok, "          persist-credentials: false", "          persist-credentials: true"),
            "persist-credentials",
        ),
        ("a writable token", mutate(&ok, "contents: read ", "contents: write "), "asks for `contents: write`"),
        ("write-all", mutate(&ok, "permissions: {}\n", "permissions: write-all\n"), "the workflow's permissions"),
        (
            "the head as --head",
            mutate(
                &ok,
                &format!("HEAD_SHA: {HEAD_SHA}\n          GITHUB_TOKEN"),
                "HEAD_SHA: HEAD\n          GITHUB_TOKEN",
            ),
            "--head is not the event's commit",
        ),
        (
            "a cached binary",
            mutate(
                &ok,
                "      - name: Install faultline",
                "      - uses: actions/cache@v4\n        with: { path: ~/.cargo/bin/faultline, key: f }\n      - name: Install faultline",
            ),
            "uses the Actions cache",
        ),
        (
            "an unpinned install",
            mutate(&ok, "--locked --version \"$FAULTLINE_VERSION\" faultline-gate", "faultline-gate"),
            "without `--locked --version`",
        ),
        (
            "an unpinned version",
            mutate(&ok, "FAULTLINE_VERSION: \"0.1.0\"", "FAULTLINE_VERSION: latest"),
            "FAULTLINE_VERSION must pin",
        ),
        ("no pipefail", mutate(&ok, "    shell: bash ", "    shell: sh "), "pipefail"),
        (
            "a gate that can be skipped",
            mutate(&ok, "  gate:\n", "  gate:\n    if: github.event.action != 'edited'\n"),
            "a skipped job counts as a success",
        ),
        (
            "a review trigger in the gate's file",
            mutate(&ok, "\npermissions: {}", "  pull_request_review:\n\npermissions: {}"),
            "runs on `pull_request_review`",
        ),
    ];
    for (what, text, needle) in cases {
        let problems = github_problems(&text, "gate");
        assert!(problems.iter().any(|p| p.contains(needle)), "{what}: `{needle}` not among {problems:#?}");
    }
}

#[test]
fn each_way_to_let_the_sharded_gate_or_the_review_decide_is_found() {
    let ok = shipped("github-actions-sharded.yml");
    let cases: Vec<(&str, String, &str)> = vec![
        ("a shard not merged", mutate(&ok, "\"$GITHUB_WORKSPACE\"/shards/shard-3 ", ""), "does not read shard 3 of 3"),
        (
            "shards not bound to the run",
            mutate(&ok, "--base \"$BASE_SHA\" --head \"$HEAD_SHA\" \\\n            --out", "--out"),
            "does not bind the shards",
        ),
        (
            "merge skipped after a block",
            mutate(&ok, "    if: always()                    #", "    if: \"!cancelled()\"  #"),
            "does not run `if: always()`",
        ),
        (
            "a shard swallowed",
            mutate(
                &ok,
                r#"--report "$GITHUB_WORKSPACE/shard-$SHARD""#,
                r#"--report "$GITHUB_WORKSPACE/shard-$SHARD" || true"#,
            ),
            "swallows a failure",
        ),
        (
            "the partition and the merge disagree",
            mutate(&ok, r#"--partition "$SHARD/3""#, r#"--partition "$SHARD/4""#),
            "does not split into the 3 shards",
        ),
        (
            "the head checked out",
            mutate(&ok, &format!("ref: {BASE_SHA}"), &format!("ref: {HEAD_SHA}")),
            "not the base commit",
        ),
        ("no merge job", mutate(&ok, "  merge:\n", "  merged:\n"), "no job named `merge`"),
    ];
    for (what, text, needle) in cases {
        let problems = github_problems(&text, "merge");
        assert!(problems.iter().any(|p| p.contains(needle)), "{what}: `{needle}` not among {problems:#?}");
    }

    let ok = shipped("github-actions-review.yml");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "faultline on a review",
            mutate(&ok, "          gh run watch", "          faultline plan\n          gh run watch"),
            "checks out or runs faultline",
        ),
        ("a job named like the gate", mutate(&ok, "  rerun-gate:\n", "  gate:\n"), "names a job `gate`"),
        (
            "another trigger",
            mutate(&ok, "\npermissions: {}", "  pull_request:\n\npermissions: {}"),
            "not on `pull_request_review` alone",
        ),
        (
            "the head pasted into run",
            mutate(&ok, r#"--arg sha "$HEAD_SHA""#, r#"--arg sha "${{ github.event.pull_request.head.sha }}""#),
            "pastes an expression",
        ),
        (
            "a writable token",
            mutate(&ok, "      actions: write ", "      contents: write "),
            "asks for `contents: write`",
        ),
        ("no re-run", mutate(&ok, "if ! gh run rerun", "if ! true"), "does not re-run the gate"),
    ];
    for (what, text, needle) in cases {
        let problems = review_problems(&text);
        assert!(problems.iter().any(|p| p.contains(needle)), "{what}: `{needle}` not among {problems:#?}");
    }
}

/// The workflow shipped before this one ran on `pull_request`, pasted the base's branch name
/// into `run:`, swallowed the shards' verdicts and cached the binary: each is found.
#[test]
fn the_previous_github_workflow_fails_these_checks() {
    let old = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ci/previous-github-actions.yml"),
    )
    .unwrap();
    let problems = github_problems(&old, "gate");
    for needle in [
        "runs on `pull_request`",
        "no `pull_request_target` trigger",
        "pastes an expression",
        "swallows a failure (`|| true`)",
        "uses the Actions cache",
        "not the base commit",
        "persist-credentials",
        "--base is not the event's commit",
        "job `gate-sharded` has `if: false`",
    ] {
        assert!(problems.iter().any(|p| p.contains(needle)), "`{needle}` not among {problems:#?}");
    }
}

#[test]
fn each_way_to_put_the_gitlab_gate_in_the_change_s_reach_is_found() {
    let ok = shipped("gitlab-ci.yml");
    let gate_line = r#"--timeout 30m --jobs 2 --report "$CI_PROJECT_DIR/faultline-report""#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("allow_failure", mutate(&ok, "  timeout: 45m\n", "  timeout: 45m\n  allow_failure: true\n"), "allow_failure"),
        ("artifacts on success only", mutate(&ok, "    when: always\n", "    when: on_success\n"), "when: always"),
        (
            "no junit",
            mutate(&ok, "    reports:\n      junit: faultline-report/junit.xml", "    reports: {}"),
            "junit.xml",
        ),
        (
            "the change checked out",
            mutate(&ok, "    GIT_STRATEGY: none", "    GIT_STRATEGY: fetch"),
            "GIT_STRATEGY must be none",
        ),
        (
            "not merge request pipelines",
            mutate(&ok, "$CI_PIPELINE_SOURCE == \"merge_request_event\"", "$CI_COMMIT_BRANCH"),
            "merge request pipelines",
        ),
        (
            "an unquoted variable",
            mutate(&ok, "--head \"$CI_COMMIT_SHA\"", "--head $CI_COMMIT_SHA"),
            "is not inside double quotes",
        ),
        (
            "eval",
            mutate(&ok, "      git init -q", "      eval \"echo $CI_COMMIT_REF_NAME\"\n      git init -q"),
            "uses eval",
        ),
        ("a swallowed verdict", mutate(&ok, gate_line, &format!("{gate_line} || true")), "swallows a failure"),
        (
            "a verdict overwritten",
            mutate(&ok, gate_line, &format!("{gate_line}\n      echo done")),
            "commands after `faultline gate`",
        ),
        (
            "a branch as --head",
            mutate(&ok, "--head \"$CI_COMMIT_SHA\"", "--head \"$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME\""),
            "--head is",
        ),
        (
            "a branch as --base",
            mutate(
                &ok,
                "--base \"$CI_MERGE_REQUEST_DIFF_BASE_SHA\"",
                "--base \"origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME\"",
            ),
            "--base is",
        ),
        (
            "an unpinned install",
            mutate(&ok, "cargo install --locked --version \"$FAULTLINE_VERSION\"", "cargo install"),
            "without `--locked --version`",
        ),
        (
            "a cache",
            mutate(&ok, "  timeout: 45m\n", "  timeout: 45m\n  cache: { paths: [.cargo/bin] }\n"),
            "restores a cache",
        ),
    ];
    for (what, text, needle) in cases {
        let problems = gitlab_problems(&text);
        assert!(problems.iter().any(|p| p.contains(needle)), "{what}: `{needle}` not among {problems:#?}");
    }
}

#[test]
fn commands_and_quotes_are_read_as_a_shell_reads_them() {
    assert_eq!(commands("a \\\n  b\n# c\n\nd"), ["a b", "d"]);
    assert_eq!(unquoted_variables(r#"x "$A" '$B' "$(c)/d" # $E"#), Vec::<String>::new());
    assert_eq!(unquoted_variables(r#"x $A "$B""#), [r#"$A "$B""#]);
    assert_eq!(flag(r#"g --base "$X" --head Y"#, "--base"), Some("$X"));
    assert_eq!(flag(r#"g --base "$X" --head Y"#, "--head"), Some("Y"));
}
