//! Semantic checks of a deserialised `faultline.yaml`: everything serde cannot see.

use std::collections::BTreeMap;

use super::diagnostic::{FileDiagnostic, listing, nearest};
use super::source::{Seg, SourceFile};
use super::{Config, Tier, files, glob};
use crate::ypath;

pub(super) fn validate(config: &Config, file: &SourceFile) -> Vec<FileDiagnostic> {
    let mut out = Vec::new();
    if config.version != 1 {
        out.push(
            FileDiagnostic::at_value(file, &ypath!["version"], format!("unsupported version {}", config.version))
                .with_help("this faultline reads version 1"),
        );
    }
    let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
    for (name, svc) in &config.services {
        // Past what an error shows, checking more services only costs time.
        if out.len() > super::MAX_PROBLEMS {
            break;
        }
        check_service(config, file, &names, name, svc, &mut out);
    }
    if let Some(cycle) = find_cycle(config) {
        let key = ypath!["services", cycle[0].as_str(), "depends_on", cycle[1].as_str()];
        out.push(
            FileDiagnostic::at_key(file, &key, format!("dependency cycle: {}", cycle.join(" -> ")))
                .with_label("this edge closes a cycle")
                .with_help("services start in dependency order, so the graph must not loop; remove one of these edges"),
        );
    }
    for (i, g) in config.global.iter().enumerate() {
        check_glob(file, &ypath!["global", i], g, &mut out);
    }
    check_policy(config, file, &mut out);
    check_explore(config, file, &names, &mut out);
    out
}

/// The shape of `explore`: workloads of known services, made of `request` steps, bounded.
/// What each request and check says is validated with the scenarios, by the same code.
fn check_explore(config: &Config, file: &SourceFile, names: &[&str], out: &mut Vec<FileDiagnostic>) {
    let e = &config.explore;
    for (service, steps) in &e.workloads {
        let path = ypath!["explore", "workloads", service.as_str()];
        if !config.services.contains_key(service) {
            let mut d = FileDiagnostic::at_key(file, &path, format!("no service `{service}` to give a workload"));
            d.help = Some(match nearest(service, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("services: {}", listing(names)),
            });
            out.push(d);
        }
        if steps.is_empty() || steps.len() > 32 {
            out.push(
                FileDiagnostic::at_value(file, &path, "a workload is 1 to 32 requests").with_help(
                    "e.g. `- request: POST orders /orders` with `expect: { status: [201, 503], within: 3s }`",
                ),
            );
        }
        for (i, step) in steps.iter().enumerate() {
            if step.get("request").is_none_or(|r| !r.is_string()) {
                out.push(
                    FileDiagnostic::at_value(
                        file,
                        &ypath!["explore", "workloads", service.as_str(), i],
                        "a workload step is a `request: METHOD SERVICE PATH`, with its `body`, `headers`, `repeat` and `expect`",
                    )
                    .with_help("exploration adds the faults, the concurrency and the waiting itself"),
                );
            }
            if let Some(agrees) = step.get("agrees") {
                let at = ypath!["explore", "workloads", service.as_str(), i, "agrees"];
                check_agrees(config, file, &at, step, agrees, out);
            }
            if let Some(u) = step.get("under_fault") {
                check_under_fault(file, &ypath!["explore", "workloads", service.as_str(), i, "under_fault"], u, out);
            }
        }
    }
    if e.invariants.len() > 64 {
        out.push(FileDiagnostic::at_value(file, &ypath!["explore", "invariants"], "at most 64 invariants"));
    }
    for (i, check) in e.invariants.iter().enumerate() {
        if let Some(when) = check.get("when")
            && !when.as_str().is_some_and(|w| config.services.contains_key(w))
        {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["explore", "invariants", i, "when"],
                    format!("`when` names the service an invariant is about, found {when}"),
                )
                .with_help(format!("services: {}", listing(names))),
            );
        }
        let kinds = ["sql", "redis", "logs", "recovers"];
        if !kinds.iter().any(|k| check.get(k).is_some()) {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["explore", "invariants", i],
                    "an invariant is a `sql`, `redis`, `logs` or `recovers` check",
                )
                .with_help("e.g. `- sql: { service: postgres, query: \"SELECT …\" }` with `expect_rows: 0`"),
            );
        }
    }
    if e.max_attempts == 0 || e.max_attempts > 100 {
        out.push(FileDiagnostic::at_value(
            file,
            &ypath!["explore", "max_attempts"],
            format!("`max_attempts` is 1 to 100, found {}", e.max_attempts),
        ));
    }
    check_classes(e.classes.as_deref(), file, out);
}

/// `explore.classes`: names of the catalogue's classes, at least one.
fn check_classes(classes: Option<&[String]>, file: &SourceFile, out: &mut Vec<FileDiagnostic>) {
    let known = super::FAULT_CLASSES;
    match classes {
        Some([]) => out.push(
            FileDiagnostic::at_value(file, &ypath!["explore", "classes"], "`classes` lists no fault class")
                .with_help("remove `classes` to run every class of the catalogue"),
        ),
        Some(classes) => {
            for (i, c) in classes.iter().enumerate().filter(|(_, c)| !known.contains(&c.as_str())) {
                let d = FileDiagnostic::at_value(
                    file,
                    &ypath!["explore", "classes", i],
                    format!("`{c}` is not a fault class of the catalogue"),
                );
                out.push(d.with_help(match nearest(c, known.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`? classes: {}", listing(known)),
                    None => format!("classes: {}", listing(known)),
                }));
            }
        }
        None => {}
    }
}

/// The keys of a step's `expect`, which its `under_fault` may set again.
pub(crate) const EXPECT_KEYS: &[&str] = &["status", "within", "error_rate", "p50", "p90", "p95", "p99"];

/// `under_fault:` of a workload step at `at`: a mapping of `expect`'s keys (each unknown one
/// located, with the nearest), statuses that are statuses. What each value means is checked
/// with the experiments' steps, by the scenarios' code.
fn check_under_fault(file: &SourceFile, at: &[Seg], u: &serde_json::Value, out: &mut Vec<FileDiagnostic>) {
    let Some(map) = u.as_object() else {
        out.push(
            FileDiagnostic::at_value(file, at, "`under_fault` is a mapping of `expect`'s keys").with_help(
                "e.g. `under_fault: { status: [201, 202, 503] }`: what else the step may answer under a fault",
            ),
        );
        return;
    };
    for (k, v) in map {
        let path = [at, &ypath![k.as_str()]].concat();
        if !EXPECT_KEYS.contains(&k.as_str()) {
            let help = match nearest(k, EXPECT_KEYS.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? keys: {}", listing(EXPECT_KEYS)),
                None => format!("keys: {}", listing(EXPECT_KEYS)),
            };
            out.push(FileDiagnostic::at_key(file, &path, format!("`{k}` is not a key of `expect`")).with_help(help));
            continue;
        }
        if k == "status"
            && !v.as_array().is_some_and(|l| l.iter().all(|s| s.as_u64().is_some_and(|s| (100..=599).contains(&s))))
        {
            out.push(
                FileDiagnostic::at_value(file, &path, "`status` is a list of HTTP statuses")
                    .with_help("e.g. `status: [201, 202, 503]`"),
            );
        }
    }
}

/// An `agrees:` of a workload step at `at`: its keys (located, with the nearest valid
/// name), on a read (`GET`: it is sent again after the faults), naming known services.
fn check_agrees(
    config: &Config,
    file: &SourceFile,
    at: &[Seg],
    step: &serde_json::Value,
    agrees: &serde_json::Value,
    out: &mut Vec<FileDiagnostic>,
) {
    match super::truth::parse(agrees) {
        Err(problems) => {
            for p in problems {
                let path = [at, &p.at].concat();
                let d = if p.unknown_key {
                    FileDiagnostic::at_key(file, &path, p.message)
                } else {
                    FileDiagnostic::at_value(file, &path, p.message)
                };
                out.push(match p.help {
                    Some(h) => d.with_help(h),
                    None => d,
                });
            }
        }
        Ok(a) => {
            if step.get("request").and_then(|r| r.as_str()).is_some_and(|r| !r.trim_start().starts_with("GET ")) {
                out.push(
                    FileDiagnostic::at_key(
                        file,
                        at,
                        "`agrees` goes with a `GET` request: it is sent again after the faults",
                    )
                    .with_help("declare it on the read that returns the value, e.g. `request: GET api /stock/A1`"),
                );
            }
            let service = a.truth.service();
            if !config.services.contains_key(service) {
                let names: Vec<&str> = config.services.keys().map(String::as_str).collect();
                let kind = if matches!(a.truth, super::truth::Truth::Sql { .. }) { "sql" } else { "redis" };
                let mut d = FileDiagnostic::at_value(
                    file,
                    &[at, &ypath![kind, "service"]].concat(),
                    format!("`{service}` is not a service"),
                );
                d.help = Some(match nearest(service, names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => format!("services: {}", listing(&names)),
                });
                out.push(d);
            }
        }
    }
}

/// `liveness` or `readiness` (`key`) of a service: a path on its first port.
fn check_health(
    file: &SourceFile,
    name: &str,
    svc: &super::Service,
    key: &str,
    h: &super::Health,
    out: &mut Vec<FileDiagnostic>,
) {
    if !h.http.starts_with('/') || h.http.len() > 2048 || h.http.chars().any(|c| c.is_whitespace() || c.is_control()) {
        out.push(
            FileDiagnostic::at_value(
                file,
                &ypath!["services", name, key, "http"],
                format!("`{key}.http` must be a path starting with `/`, without spaces, found `{}`", h.http),
            )
            .with_help(format!(
                "the path is requested with GET on the service's first port, e.g. `{key}: {{ http: /{} }}`",
                if key == "liveness" { "live" } else { "ready" }
            )),
        );
    }
    if svc.ports.is_empty() {
        out.push(
            FileDiagnostic::at_key(
                file,
                &ypath!["services", name, key],
                format!("`{key}` needs a port, and `{name}` has no `ports`"),
            )
            .with_help("list the port the service listens on, e.g. `ports: [8080]`"),
        );
    }
}

/// Every check of one service and its dependency edges.
fn check_service(
    config: &Config,
    file: &SourceFile,
    names: &[&str],
    name: &str,
    svc: &super::Service,
    out: &mut Vec<FileDiagnostic>,
) {
    check_service_name(file, name, out);
    match (&svc.build, &svc.image) {
        (None, None) => out.push(
            FileDiagnostic::at_key(
                file,
                &ypath!["services", name],
                format!("service `{name}` has neither `build` nor `image`"),
            )
            .with_help("add `build: path/to/dockerfile/context` or `image: name:tag`"),
        ),
        (Some(_), Some(_)) => out.push(
            FileDiagnostic::at_key(
                file,
                &ypath!["services", name, "image"],
                format!("service `{name}` has both `build` and `image`"),
            )
            .with_help(
                "keep one: `build` builds from a Dockerfile in the repository, `image` runs a reference as it is",
            ),
        ),
        _ => {}
    }
    check_build(file, name, svc, out);
    check_files(file, name, svc, out);
    for (i, p) in svc.paths.iter().enumerate() {
        check_glob(file, &ypath!["services", name, "paths", i], p, out);
    }
    for (i, p) in svc.inputs.iter().enumerate() {
        check_glob(file, &ypath!["services", name, "inputs", i], p, out);
    }
    if let Some(ready) = &svc.ready {
        let path = ypath!["services", name, "ready"];
        let set = [ready.log.is_some(), ready.http.is_some(), ready.tcp.is_some()].iter().filter(|b| **b).count();
        if set != 1 {
            out.push(
                FileDiagnostic::at_key(
                    file,
                    &path,
                    format!("`ready` of `{name}` needs exactly one of `log`, `http`, `tcp` ({set} given)"),
                )
                .with_help("e.g. `ready: { http: /health }` or `ready: { log: \"ready to accept connections\" }`"),
            );
        }
        if let Some(h) = &ready.http
            && !h.starts_with('/')
        {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["services", name, "ready", "http"],
                    format!("`ready.http` must be a path starting with `/`, found `{h}`"),
                )
                .with_help("the path is requested on the service's first port, e.g. `/health`"),
            );
        }
        if ready.http.is_some() && svc.ports.is_empty() {
            out.push(FileDiagnostic::at_key(
                file,
                &path,
                format!("`ready.http` needs a port, and `{name}` has no `ports`"),
            ));
        }
    }
    for (key, health) in [("liveness", &svc.liveness), ("readiness", &svc.readiness)] {
        if let Some(h) = health {
            check_health(file, name, svc, key, h, out);
        }
    }
    for (i, port) in svc.ports.iter().enumerate() {
        if *port == 0 {
            out.push(FileDiagnostic::at_value(
                file,
                &ypath!["services", name, "ports", i],
                "port 0 is not a port a service listens on",
            ));
        }
    }
    if let Some(cmd) = &svc.fingerprint {
        let too_long = cmd.len() > 64 || cmd.iter().any(|a| a.len() > 4096);
        if cmd.first().is_none_or(|c| c.trim().is_empty()) || too_long {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["services", name, "fingerprint"],
                    "`fingerprint` must be a command: a program and at most 63 arguments of at most 4096 bytes",
                )
                .with_help("e.g. `fingerprint: [sh, -c, \"ls -R /var/lib/app | md5sum\"]`"),
            );
        }
    }
    check_edges(config, file, names, name, svc, out);
}

/// `dockerfile` and `build_args`: beside a `build`, a path of the repository, argument names.
fn check_build(file: &SourceFile, name: &str, svc: &super::Service, out: &mut Vec<FileDiagnostic>) {
    if svc.build.is_none() {
        for (key, set) in [("dockerfile", svc.dockerfile.is_some()), ("build_args", !svc.build_args.is_empty())] {
            if set {
                out.push(
                    FileDiagnostic::at_key(file, &ypath!["services", name, key], format!("`{key}` without `build`"))
                        .with_help(
                            "`dockerfile` and `build_args` say how to build the `build` context; add `build: CONTEXT`",
                        ),
                );
            }
        }
    }
    if let Some(d) = &svc.dockerfile
        && !files::valid_repo_path(d)
    {
        out.push(
            FileDiagnostic::at_value(
                file,
                &ypath!["services", name, "dockerfile"],
                format!("`{d}` is not a file of the repository"),
            )
            .with_help("write the Dockerfile's path relative to the repository root, e.g. `docker/python.Dockerfile`"),
        );
    }
    if svc.build_args.len() > 64 {
        out.push(FileDiagnostic::at_key(file, &ypath!["services", name, "build_args"], "at most 64 build arguments"));
    }
    for (arg, value) in &svc.build_args {
        check_var_name(file, &ypath!["services", name, "build_args"], arg, out);
        if value.len() > 4096 {
            out.push(FileDiagnostic::at_value(
                file,
                &ypath!["services", name, "build_args", arg.as_str()],
                "a build argument of more than 4096 bytes",
            ));
        }
    }
}

/// `files`: absolute targets, exactly one of `template` and `content`, placeholders that
/// name the service's own edges.
fn check_files(file: &SourceFile, name: &str, svc: &super::Service, out: &mut Vec<FileDiagnostic>) {
    if svc.files.len() > files::MAX_FILES {
        out.push(FileDiagnostic::at_key(
            file,
            &ypath!["services", name, "files"],
            format!("{} files; a service takes at most {}", svc.files.len(), files::MAX_FILES),
        ));
        return;
    }
    let deps: Vec<&str> = svc.depends_on.keys().map(String::as_str).collect();
    for (target, f) in &svc.files {
        let key = ypath!["services", name, "files", target.as_str()];
        if !files::valid_target(target) {
            out.push(
                FileDiagnostic::at_key(file, &key, format!("`{target}` is not an absolute file path in the container"))
                    .with_help("name the file the service reads, e.g. `/app/peers.json`"),
            );
        }
        match (&f.template, &f.content) {
            (Some(t), None) if !files::valid_repo_path(t) => out.push(
                FileDiagnostic::at_value(
                    file,
                    &[&key[..], &ypath!["template"]].concat(),
                    format!("`{t}` is not a file of the repository"),
                )
                .with_help("write the template's path relative to the repository root, e.g. `faultline/peers.json`"),
            ),
            (None, Some(c)) => {
                let at = [&key[..], &ypath!["content"]].concat();
                if c.len() as u64 > files::MAX_RENDERED_BYTES {
                    out.push(FileDiagnostic::at_value(file, &at, "a rendered file of more than 1 MiB"));
                }
                for u in files::check(c, name, &deps).into_iter().take(8) {
                    out.push(FileDiagnostic::at_value(file, &at, u.message).with_help(u.help));
                }
            }
            (Some(_), None) => {}
            (set_t, _) => out.push(
                FileDiagnostic::at_key(
                    file,
                    &key,
                    format!(
                        "a rendered file needs exactly one of `template` and `content` ({} given)",
                        if set_t.is_some() { 2 } else { 0 }
                    ),
                )
                .with_help("`template: path/in/the/repository` or `content: \"…{DEP.host}:{DEP.port}…\"`"),
            ),
        }
    }
}

/// A host name a client may use: letters, digits, `-` and `.`.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Every dependency edge of one service: a known service, an environment variable name, a
/// URL template, a port the dependency lists.
fn check_edges(
    config: &Config,
    file: &SourceFile,
    names: &[&str],
    name: &str,
    svc: &super::Service,
    out: &mut Vec<FileDiagnostic>,
) {
    for (dep, edge) in &svc.depends_on {
        let key = ypath!["services", name, "depends_on", dep.as_str()];
        let Some(target) = config.services.get(dep) else {
            let mut d =
                FileDiagnostic::at_key(file, &key, format!("`{name}` depends on `{dep}`, which is not a service"))
                    .with_label("unknown service");
            d.help = Some(match nearest(dep, names.iter().copied()) {
                Some(n) => format!("did you mean `{n}`? services: {}", listing(names)),
                None => format!("services: {}", listing(names)),
            });
            out.push(d);
            continue;
        };
        if edge.env.is_none() && edge.vars.is_empty() && edge.host.is_none() && svc.files.is_empty() {
            out.push(FileDiagnostic::at_key(file, &key, format!("the edge to `{dep}` sets no variable")).with_help(
                "add `env: NAME` (with `url:`), `vars: { HOST_VAR: \"{host}\", PORT_VAR: \"{port}\" }`, \
                     `host: NAME-THE-CLIENT-USES`, or render its address into a file with `files:`",
            ));
        }
        if let Some(h) = &edge.host
            && (!valid_host(h) || (h != dep && config.services.contains_key(h)))
        {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &[&key[..], &ypath!["host"]].concat(),
                    format!("`{h}` cannot be the name `{name}` uses for `{dep}`"),
                )
                .with_help("a host name (letters, digits, `-`, `.`) that is not another service's name, e.g. `payments.internal`"),
            );
        }
        if let Some(p) = edge.client_port {
            let at = [&key[..], &ypath!["client_port"]].concat();
            if edge.host.is_none() {
                out.push(
                    FileDiagnostic::at_key(file, &at, "`client_port` needs `host`: the name the client dials")
                        .with_help("e.g. `host: reviews.internal` with `client_port: 8080`"),
                );
            }
            if p == 0 {
                out.push(FileDiagnostic::at_value(file, &at, "port 0 is not a port a client dials"));
            }
            let first = config
                .services
                .iter()
                .flat_map(|(n, s)| s.depends_on.iter().map(move |(d, e)| (n, d, e)))
                .find(|(_, _, e)| e.client_port == Some(p));
            if let Some((n, d, _)) = first
                && (n.as_str(), d.as_str()) != (name, dep.as_str())
            {
                out.push(
                    FileDiagnostic::at_value(file, &at, format!("`client_port` {p} is taken by the edge `{n} -> {d}`"))
                        .with_help(
                            "the edges' proxies listen on one address of the run's network: give each its own port",
                        ),
                );
            }
        }
        for (i, status) in edge.errors.iter().enumerate() {
            if !(400..=599).contains(status) {
                out.push(
                    FileDiagnostic::at_value(
                        file,
                        &[&key[..], &ypath!["errors", i]].concat(),
                        format!("{status} is not an error status of `{dep}`"),
                    )
                    .with_help(format!("the statuses `{dep}` answers in error, 400-599: `errors: [404, 409]`")),
                );
            }
        }
        if let Some(env) = &edge.env {
            check_var_name(file, &[&key[..], &ypath!["env"]].concat(), env, out);
            check_template(file, &[&key[..], &ypath!["url"]].concat(), &edge.url, out);
        }
        for (name, template) in &edge.vars {
            check_var_name(file, &[&key[..], &ypath!["vars"]].concat(), name, out);
            check_template(file, &[&key[..], &ypath!["vars", name.as_str()]].concat(), template, out);
        }
        match edge.port {
            Some(p) if !target.ports.contains(&p) => out.push(
                FileDiagnostic::at_value(
                    file,
                    &[&key[..], &ypath!["port"]].concat(),
                    format!("`{dep}` does not list port {p}"),
                )
                .with_help(format!("ports of `{dep}`: {:?}", target.ports)),
            ),
            None if target.ports.is_empty() => out.push(
                FileDiagnostic::at_key(
                    file,
                    &key,
                    format!("`{name}` depends on `{dep}`, which has no `ports` to connect to"),
                )
                .with_help(format!("add `ports: [PORT]` to service `{dep}`")),
            ),
            _ => {}
        }
    }
}

/// A senior: a code-host handle (`@alice`) or an email.
fn check_person(file: &SourceFile, path: &[super::Seg], s: &str, out: &mut Vec<FileDiagnostic>) {
    let handle = s.strip_prefix('@').is_some_and(|h| {
        !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '[' | ']'))
    });
    let email = !s.starts_with('@') && s.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.'));
    if !handle && !email {
        out.push(
            FileDiagnostic::at_value(file, path, format!("`{s}` is neither a handle (`@login`) nor an email address"))
                .with_help("approvals come with the reviewer's code-host handle (`@alice`) or, through --approved-by, an email"),
        );
    }
}

/// `isolation`: a size for `memory`, checkout-relative `writable` paths, a reason that says
/// something, and no isolation settings beside an opt-out.
fn check_isolation(config: &Config, file: &SourceFile, out: &mut Vec<FileDiagnostic>) {
    let Some(iso) = &config.isolation else { return };
    if let Some(m) = &iso.memory
        && iso.memory_bytes().is_none()
    {
        out.push(
            FileDiagnostic::at_value(file, &ypath!["isolation", "memory"], format!("`{m}` is not a memory size"))
                .with_help("a number of bytes with an optional unit, at least 6m: `4g`, `512m`"),
        );
    }
    for (i, w) in iso.writable.iter().enumerate() {
        let p = std::path::Path::new(w);
        let outside = w.is_empty()
            || p.is_absolute()
            || p.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if outside {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["isolation", "writable", i],
                    format!("`{w}` is not a path inside the checkout"),
                )
                .with_help("a path relative to the repository root, without `..`: `services/orders/bin`"),
            );
        }
    }
    if let Some(why) = &iso.on_runner {
        if why.trim().is_empty() {
            out.push(
                FileDiagnostic::at_value(file, &ypath!["isolation", "on_runner"], "an empty reason".to_owned())
                    .with_help("say why code of the change must run on the runner; every report quotes it"),
            );
        }
        if iso.image.is_some() || iso.rust || !iso.writable.is_empty() || iso.network || iso.memory.is_some() {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["isolation", "on_runner"],
                    "`on_runner` beside settings of the container it replaces".to_owned(),
                )
                .with_help("either isolate (`image`, `rust`, `writable`, `network`, `memory`) or opt out"),
            );
        }
    }
}

/// Every check of `policy` and of the scenarios directory.
fn check_policy(config: &Config, file: &SourceFile, out: &mut Vec<FileDiagnostic>) {
    for tier in Tier::ALL_SEVERE_FIRST {
        for (i, g) in config.policy.tiers.get(tier).iter().enumerate() {
            check_glob(file, &ypath!["policy", "tiers", tier.as_str(), i], g, out);
        }
    }
    for (i, g) in config.policy.protected.iter().enumerate() {
        check_glob(file, &ypath!["policy", "protected", i], g, out);
    }
    check_base_branches(config, file, out);
    check_isolation(config, file, out);
    for (i, name) in config.policy.prepare_env.iter().enumerate() {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(
                FileDiagnostic::at_value(
                    file,
                    &ypath!["policy", "prepare_env", i],
                    format!("`{name}` is not an environment variable name"),
                )
                .with_help("name a variable of the runner, e.g. `CARGO_HOME`; its value is passed as it is"),
            );
        }
    }
    for (field, list) in [
        ("trailers", &config.policy.ai_assisted.trailers),
        ("authors", &config.policy.ai_assisted.authors),
        ("markers", &config.policy.ai_assisted.markers),
    ] {
        // Every pattern is compiled and matched against every commit: a list is short.
        if list.len() > MAX_PATTERNS {
            out.push(
                FileDiagnostic::at_key(
                    file,
                    &ypath!["policy", "ai_assisted", field],
                    format!("{} patterns; faultline takes at most {MAX_PATTERNS}", list.len()),
                )
                .with_help("join alternatives into one regex: `(Claude|Copilot|Cursor)`"),
            );
            continue;
        }
        for (i, r) in list.iter().enumerate() {
            if let Err(e) = regex::Regex::new(r) {
                out.push(FileDiagnostic::at_value(
                    file,
                    &ypath!["policy", "ai_assisted", field, i],
                    format!("invalid regex: {}", first_line(&e.to_string())),
                ));
            }
        }
    }
    for (i, s) in config.policy.seniors.iter().enumerate() {
        check_person(file, &ypath!["policy", "seniors", i], s, out);
    }
    for (i, o) in config.policy.owners.iter().enumerate() {
        for (j, g) in o.paths.iter().enumerate() {
            check_glob(file, &ypath!["policy", "owners", i, "paths", j], g, out);
        }
        if o.seniors.is_empty() {
            out.push(
                FileDiagnostic::at_key(
                    file,
                    &ypath!["policy", "owners", i, "seniors"],
                    "an area with nobody to sign off",
                )
                .with_help("list who may approve changes here: `seniors: [\"@alice\"]`"),
            );
        }
        for (j, s) in o.seniors.iter().enumerate() {
            check_person(file, &ypath!["policy", "owners", i, "seniors", j], s, out);
        }
    }
    let needs_seniors = Tier::ALL_SEVERE_FIRST.iter().any(|t| {
        [config.policy.gate.get(*t), config.policy.ai_gate.get(*t)]
            .into_iter()
            .flatten()
            .any(|r| r.signoff == super::Signoff::Seniors)
    }) || config.policy.unclaimed.is_some_and(|r| r.signoff == super::Signoff::Seniors);
    if needs_seniors && config.policy.seniors.is_empty() && config.policy.owners.is_empty() && !config.policy.codeowners
    {
        out.push(
            FileDiagnostic::at_key(
                file,
                &ypath!["policy"],
                "the gate asks for a senior's sign-off, but `policy.seniors` is empty",
            )
            .with_help("list the emails whose approval counts: `seniors: [\"alice@example.com\"]`"),
        );
    }
    if config.scenarios.is_empty()
        || config.scenarios.len() > MAX_PATH
        || config.scenarios.starts_with('/')
        || config.scenarios.split('/').any(|s| s == "..")
    {
        out.push(FileDiagnostic::at_value(
            file,
            &ypath!["scenarios"],
            "`scenarios` must be a directory inside the repository, relative to its root",
        ));
    }
    out.sort_by_key(|d| (d.line, d.column));
}

/// `policy.base_branches`: branch names or globs, and at least one.
fn check_base_branches(config: &Config, file: &SourceFile, out: &mut Vec<FileDiagnostic>) {
    let Some(list) = &config.policy.base_branches else { return };
    if list.is_empty() {
        out.push(
            FileDiagnostic::at_value(
                file,
                &ypath!["policy", "base_branches"],
                "no branch a change may be judged against",
            )
            .with_help("list the branches pull requests go into (`[main]`), or remove the key for the default branch"),
        );
    }
    if list.len() > MAX_PATTERNS {
        out.push(FileDiagnostic::at_key(
            file,
            &ypath!["policy", "base_branches"],
            format!("{} branches; faultline takes at most {MAX_PATTERNS}", list.len()),
        ));
        return;
    }
    for (i, b) in list.iter().enumerate() {
        let path = ypath!["policy", "base_branches", i];
        if let Some(short) = ["refs/heads/", "refs/remotes/origin/", "origin/"].iter().find_map(|p| b.strip_prefix(p)) {
            out.push(
                FileDiagnostic::at_value(file, &path, format!("`{b}` is not a branch name"))
                    .with_help(format!("write the branch as the code host names it: `{short}`")),
            );
        } else if !b.contains(['*', '?', '[', '{']) && !git2::Reference::is_valid_name(&format!("refs/heads/{b}")) {
            out.push(FileDiagnostic::at_value(file, &path, format!("`{b}` is not a valid branch name")));
        } else {
            check_glob(file, &path, b, out);
        }
    }
}

fn check_service_name(file: &SourceFile, name: &str, out: &mut Vec<FileDiagnostic>) {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        out.push(
            FileDiagnostic::at_key(file, &ypath!["services", name], format!("`{name}` is not a valid service name"))
                .with_help("use lowercase letters, digits, `-` and `_` (it names containers and networks)"),
        );
    }
}

/// The longest path or glob faultline.yaml may hold: far longer than any real one, and
/// short enough that compiling it stays instant (globset's automaton grows faster than its
/// pattern: 130,000 bytes took minutes).
const MAX_PATH: usize = 1024;

/// The most regexes one `ai_assisted` list may hold (37,000 took 13 s to compile and match).
const MAX_PATTERNS: usize = 256;

fn check_glob(file: &SourceFile, path: &[super::Seg], pattern: &str, out: &mut Vec<FileDiagnostic>) {
    if pattern.len() > MAX_PATH {
        out.push(FileDiagnostic::at_value(
            file,
            path,
            format!("a glob of {} bytes; faultline takes globs of at most {MAX_PATH}", pattern.len()),
        ));
    } else if pattern.is_empty() {
        out.push(FileDiagnostic::at_value(file, path, "an empty glob matches nothing"));
    } else if pattern.starts_with('/') {
        out.push(
            FileDiagnostic::at_value(
                file,
                path,
                format!("`{pattern}` is absolute; globs are relative to the repository root"),
            )
            .with_help(format!("write `{}`", pattern.trim_start_matches('/'))),
        );
    } else if let Err(e) = glob::compile(pattern) {
        out.push(FileDiagnostic::at_value(file, path, format!("glob does not compile: {}", e.kind())));
    }
}

fn check_var_name(file: &SourceFile, path: &[super::Seg], name: &str, out: &mut Vec<FileDiagnostic>) {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        out.push(
            FileDiagnostic::at_value(file, path, format!("`{name}` is not an environment variable name"))
                .with_help("use letters, digits and `_`, e.g. PAYMENTS_URL"),
        );
    }
}

/// `{host}` and `{port}` are the only placeholders of an edge's `url`.
fn check_template(file: &SourceFile, path: &[super::Seg], template: &str, out: &mut Vec<FileDiagnostic>) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push(FileDiagnostic::at_value(file, path, format!("unclosed `{{` in `{template}`")));
            return;
        };
        let name = &after[..close];
        if name != "host" && name != "port" {
            let mut d =
                FileDiagnostic::at_value(file, path, format!("unknown placeholder `{{{name}}}` in `{template}`"));
            d.help = Some(match nearest(name, ["host", "port"]) {
                Some(n) => format!("did you mean `{{{n}}}`? placeholders: {{host}}, {{port}}"),
                None => "placeholders: {host}, {port}".to_owned(),
            });
            out.push(d);
        }
        rest = &after[close + 1..];
    }
}

/// The first dependency cycle, as `[a, b, …, a]`, in a deterministic order.
pub(crate) fn find_cycle(config: &Config) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let names: Vec<&String> = config.services.keys().collect();
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> = config
        .services
        .values()
        .map(|s| s.depends_on.keys().filter_map(|d| index.get(d.as_str()).copied()).collect())
        .collect();
    let mut mark = vec![Mark::New; names.len()];
    for root in 0..names.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next child position).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
            if let Some(&next) = deps[node].get(*pos) {
                *pos += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::Active;
                        stack.push((next, 0));
                    }
                    Mark::Active => {
                        let start = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[start..].iter().map(|(n, _)| names[*n].clone()).collect();
                        cycle.push(names[next].clone());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}
