//! The container stack against the real Docker Engine: a three-level stack with traffic
//! through every edge, each container fault, the PostgreSQL and Redis images, failures
//! explained, and nothing left behind — not even after SIGKILL.
//!
//! Needs the engine and the base image (`ci/bootstrap`, which `ci/test` runs first).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faultline::config;
use faultline::fault::FaultSpec;
use faultline::stack::{RunOptions, Stack, StackError, Start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn config(yaml: &str) -> config::Config {
    common::parse_config(yaml)
}

const CHAIN: &str = r#"
version: 1
services:
  db:
    build: fixtures/images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: db }
  api:
    build: fixtures/images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api, CALL_TIMEOUT: "1" }
    depends_on:
      db: { env: DB_URL, url: "http://{host}:{port}" }
  web:
    build: fixtures/images/relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: web, CALL_TIMEOUT: "4" }
    depends_on:
      api: { env: API_URL, url: "http://{host}:{port}" }
"#;

fn levels(l: &[&[&str]]) -> Vec<Vec<String>> {
    l.iter().map(|x| x.iter().map(|s| s.to_string()).collect()).collect()
}

/// GET `path` on `addr`; returns the status and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await.expect("answer in time").unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn labelled(run: &str) -> (usize, usize) {
    let count = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
    };
    let label = format!("label=faultline.run={run}");
    (count(&["ps", "-aq", "--filter", &label]), count(&["network", "ls", "-q", "--filter", &label]))
}

/// Waits until nothing labelled with `run` remains (the watchdog works asynchronously).
fn assert_gone(run: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while labelled(run) != (0, 0) {
        assert!(Instant::now() < deadline, "run {run} left {:?} (containers, networks)", labelled(run));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_level_stack_carries_traffic_through_every_edge() {
    let cfg = config(CHAIN);
    let opts = RunOptions::new(1, root(), Duration::from_secs(60), String::new());
    let stack =
        Stack::start(&cfg, &levels(&[&["db"], &["api"], &["web"]]), &opts, &Start::new()).await.expect("stack starts");
    let run = stack.run_id().to_owned();
    assert_eq!(labelled(&run), (3, 1), "three labelled containers and one labelled network");

    let (status, body) = get(stack.addr("web").unwrap(), "/call").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["calls"]["API_URL"]["calls"]["DB_URL"]["service"], "db", "{v}");
    // Each hop crossed its edge's proxy, and the edges saw it.
    for (from, to) in [("web", "api"), ("api", "db")] {
        let obs = stack.edge(from, to).unwrap().observations();
        assert_eq!(obs.requests.len(), 1, "{from} -> {to}");
        assert_eq!(obs.requests[0].path, "/call");
        assert_eq!(obs.requests[0].status, Some(200));
    }
    assert_eq!(stack.ingress("web").unwrap().observations().requests.len(), 1);
    // A client reaches its dependency by the dependency's own name; nothing it sees says it
    // is under test.
    let (code, env) = stack.exec("api", &["env"]).await.unwrap();
    assert_eq!(code, 0, "{env}");
    let url = env.lines().find_map(|l| l.strip_prefix("DB_URL=")).unwrap_or_else(|| panic!("{env}"));
    assert!(url.starts_with("http://db:"), "{url}");
    assert_eq!(url.rsplit(':').next(), Some(stack.edge("api", "db").unwrap().addr().port().to_string().as_str()));
    let lower = env.to_lowercase();
    assert!(!lower.contains("faultline") && !lower.contains("host.docker.internal"), "{env}");

    // A fault on the deepest edge shows at the top.
    let fault = FaultSpec::parse_compact("http.status=503,http.path=/call").unwrap();
    stack.edge("api", "db").unwrap().add_spec("db down", &fault).unwrap();
    let (status, body) = get(stack.addr("web").unwrap(), "/call").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HTTP Error 502"), "api passed its dependency's failure up: {body}");
    let faulted = stack.edge("api", "db").unwrap().observations();
    let last = faulted.requests.last().unwrap();
    assert_eq!((last.status, last.fault.as_deref()), (Some(503), Some("db down")));

    stack.shutdown().await;
    assert_eq!(labelled(&run), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn container_faults_break_the_dependency_and_it_recovers() {
    let cfg = config(CHAIN);
    let opts = RunOptions::new(2, root(), Duration::from_secs(60), String::new());
    let mut stack =
        Stack::start(&cfg, &levels(&[&["db"], &["api"]]), &opts, &Start::new()).await.expect("stack starts");
    let api = stack.addr("api").unwrap();
    let t = Duration::from_secs(30);
    assert_eq!(get(api, "/call").await.0, 200);

    stack.pause("db").await.unwrap();
    assert_eq!(get(api, "/call").await.0, 502, "paused: the call times out");
    stack.unpause("db").await.unwrap();
    assert_eq!(get(api, "/call").await.0, 200);

    let before = stack.published("db", 8080).unwrap();
    stack.kill("db").await.unwrap();
    assert_eq!(get(api, "/call").await.0, 502, "killed: the call fails");
    stack.start_service("db", t).await.unwrap();
    let after = stack.published("db", 8080).unwrap();
    assert_ne!(before, after, "a restarted container gets a new published port");
    let deadline = Instant::now() + t;
    while get(api, "/call").await.0 != 200 {
        assert!(Instant::now() < deadline, "the edge was not re-pointed at the new port");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stack.stop("db").await.unwrap();
    assert_eq!(get(api, "/call").await.0, 502, "stopped");
    stack.start_service("db", t).await.unwrap();
    let deadline = Instant::now() + t;
    while get(api, "/call").await.0 != 200 {
        assert!(Instant::now() < deadline, "not back after stop/start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    stack.disconnect("db").await.unwrap();
    assert_eq!(get(api, "/call").await.0, 502, "disconnected");
    stack.reconnect("db", t).await.unwrap();
    let deadline = Instant::now() + t;
    while get(api, "/call").await.0 != 200 {
        assert!(Instant::now() < deadline, "not back after reconnect");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let run = stack.run_id().to_owned();
    stack.shutdown().await;
    assert_eq!(labelled(&run), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_and_redis_images_are_ready_for_tests() {
    let cfg = config(concat!("version: 1\nservices:\n", data_services!()));
    let opts = RunOptions::new(3, root(), Duration::from_secs(60), String::new());
    let stack =
        Stack::start(&cfg, &levels(&[&["postgres", "redis"]]), &opts, &Start::new()).await.expect("stack starts");
    let (code, out) = stack
        .exec(
            "postgres",
            &["psql", "-U", "shop", "-d", "shop", "-tAc", "select current_user || '@' || current_database()"],
        )
        .await
        .unwrap();
    assert_eq!((code, out.trim()), (0, "shop@shop"), "{out}");
    let (code, out) = stack.exec("redis", &["redis-cli", "ping"]).await.unwrap();
    assert_eq!((code, out.trim()), (0, "PONG"));
    // From the host, through the ingress proxy, in Redis's own protocol.
    let mut s = TcpStream::connect(stack.addr("redis").unwrap()).await.unwrap();
    s.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    let run = stack.run_id().to_owned();
    stack.shutdown().await;
    assert_eq!(labelled(&run), (0, 0));
}

/// A one-service config whose build context is written to `dir`.
fn broken(dir: &Path, dockerfile: &str, ready: &str) -> config::Config {
    std::fs::create_dir_all(dir.join("svc")).unwrap();
    std::fs::write(dir.join("svc/Dockerfile"), dockerfile).unwrap();
    config(&format!("version: 1\nservices:\n  svc:\n    build: svc\n    ports: [8080]\n    ready: {ready}\n"))
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_explained_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let svc = levels(&[&["svc"]]);

    let cfg = broken(dir.path(), "FROM debian:bookworm-slim\nRUN echo boom-marker-1 && exit 3\n", "{ http: /health }");
    let mut opts = RunOptions::new(4, dir.path(), Duration::from_secs(60), String::new());
    let start = Start::new();
    let err = Stack::start(&cfg, &svc, &opts, &start).await.err().expect("build fails");
    let text = err.to_string();
    assert!(matches!(err, StackError::Build { .. }), "{text}");
    assert!(text.contains("boom-marker-1"), "the build log is shown: {text}");
    assert_gone(&start.run_id);

    let cfg = broken(
        dir.path(),
        "FROM debian:bookworm-slim\nCMD [\"sh\", \"-c\", \"echo dying-marker; exit 4\"]\n",
        "{ http: /health }",
    );
    let start = Start::new();
    let err = Stack::start(&cfg, &svc, &opts, &start).await.err().expect("container exits");
    let text = err.to_string();
    assert!(matches!(err, StackError::Exited { code: Some(4), .. }), "{text}");
    assert!(text.contains("dying-marker"), "{text}");
    assert_gone(&start.run_id);

    let cfg = broken(
        dir.path(),
        "FROM debian:bookworm-slim\nCMD [\"sh\", \"-c\", \"echo waiting-marker; sleep 300\"]\n",
        "{ log: never-printed }",
    );
    let start = Start::new();
    opts.ready_timeout = Duration::from_secs(2);
    let err = Stack::start(&cfg, &svc, &opts, &start).await.err().expect("not ready");
    let text = err.to_string();
    assert!(matches!(err, StackError::NotReady { .. }), "{text}");
    assert!(text.contains("waiting-marker") && text.contains("never-printed"), "{text}");
    assert_gone(&start.run_id);
}

#[test]
fn sigkill_leaves_nothing_after_the_watchdog() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("faultline.yaml"),
        format!(
            "version: 1\nservices:\n  one:\n    build: {}\n    ports: [8080]\n    ready: {{ http: /health }}\n",
            root().join("fixtures/images/relay").display()
        ),
    )
    .unwrap();
    assert!(Command::new("git").arg("init").arg("-q").current_dir(repo.path()).status().unwrap().success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["up", "--keep"])
        .current_dir(repo.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut run = None;
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "faultline up ended before it was ready");
        if let Some(r) = line.split(", run ").nth(1) {
            run = Some(r.trim().to_owned());
        }
        if line.starts_with("ready") {
            break;
        }
    }
    let run = run.expect("run id printed");
    assert_eq!(labelled(&run), (1, 1));
    child.kill().unwrap(); // SIGKILL: no handler runs in faultline
    child.wait().unwrap();
    assert_gone(&run);
}

/// A run's network that something still holds (a container attached to it that is not
/// faultline's) is freed by disconnecting that endpoint, and gc says so; before, the engine
/// refused ("has active endpoints") and gc reported nothing.
#[test]
fn gc_frees_a_runs_network_that_an_endpoint_still_holds() {
    // Owned by this (live) process, so no other test's sweep of dead runs takes it first.
    let owner = faultline::stack::docker::owner();
    let run = format!("gc-held-{}", std::process::id());
    let net = format!("faultline-{run}");
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (managed, run_label, owner) =
        ("faultline.managed=true".to_owned(), format!("faultline.run={run}"), format!("faultline.owner={owner}"));
    docker(&["network", "create", "--label", &managed, "--label", &run_label, "--label", &owner, &net]);
    let holder = docker(&["run", "-d", "--network", &net, "debian:bookworm-slim", "sleep", "300"]);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(["gc", "--run", &run]).output().unwrap();
    let _ = Command::new("docker").args(["rm", "-f", &holder]).output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(labelled(&run), (0, 0), "the network is gone: {stdout}");
    assert!(stdout.contains(&run) && stdout.contains("disconnecting 1 endpoint"), "{stdout}");
}

#[test]
fn gc_sweeps_dead_runs_only() {
    let dead = format!("{}/4194303/1", std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim());
    let alive = faultline::stack::docker::owner();
    let mk = |run: &str, owner: &str| {
        let out = Command::new("docker")
            .args(["create", "--label", "faultline.managed=true", "--label"])
            .arg(format!("faultline.run={run}"))
            .arg("--label")
            .arg(format!("faultline.owner={owner}"))
            .args(["debian:bookworm-slim", "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let (dead_run, live_run) = (format!("gc-dead-{}", std::process::id()), format!("gc-live-{}", std::process::id()));
    mk(&dead_run, &dead);
    mk(&live_run, &alive);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).arg("gc").output().unwrap();
    // A global gc also meets other tests' leftovers, and exits non-zero when the engine
    // refuses one (a network it keeps a phantom endpoint in): this test is about its own two
    // runs, which the gc must not fail on.
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let failed_on_ours = said.lines().any(|l| l.contains("left") && (l.contains(&dead_run) || l.contains(&live_run)));
    assert!(out.status.success() || !failed_on_ours, "{said}");
    assert_eq!(labelled(&dead_run), (0, 0), "the dead run is swept");
    assert_eq!(labelled(&live_run), (1, 0), "a live run is left alone");
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("docker rm -f $(docker ps -aq --filter label=faultline.run={live_run})"))
        .output();
    assert_eq!(labelled(&live_run), (0, 0));
}

#[test]
fn no_docker_engine_is_exit_2_with_what_to_do() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("faultline.yaml"), "version: 1\nservices:\n  a:\n    image: x:1\n").unwrap();
    assert!(Command::new("git").arg("init").arg("-q").current_dir(repo.path()).status().unwrap().success());
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["up"])
        .current_dir(repo.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the Docker Engine does not answer"), "{err}");
    assert!(err.contains("ci/bootstrap"), "{err}");
}

#[test]
fn ctrl_c_during_start_up_leaves_nothing() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("slow")).unwrap();
    std::fs::write(repo.path().join("slow/Dockerfile"), "FROM debian:bookworm-slim\nCMD [\"sleep\", \"300\"]\n")
        .unwrap();
    std::fs::write(
        repo.path().join("faultline.yaml"),
        "version: 1\nservices:\n  slow:\n    build: slow\n    ports: [8080]\n    ready: { log: never-printed }\n",
    )
    .unwrap();
    assert!(Command::new("git").arg("init").arg("-q").current_dir(repo.path()).status().unwrap().success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["up", "--keep"])
        .current_dir(repo.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let run = line.split("run ").nth(1).and_then(|r| r.split(',').next()).expect("run id").to_owned();
    // Wait until its container exists, then interrupt while it waits for readiness.
    let deadline = Instant::now() + Duration::from_secs(60);
    while labelled(&run).0 == 0 {
        assert!(Instant::now() < deadline, "the container never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_gone(&run);
}

/// `faultline gc` removes the build-cache copies of runs whose process is gone, and keeps
/// those of a live run and the seeds.
#[test]
fn gc_sweeps_the_build_caches_of_dead_runs() {
    let cache = tempfile::tempdir().unwrap();
    let build = cache.path().join("build");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let start = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(19).unwrap().to_owned();
    let dead = build.join(format!("run-{host}_4194303_1-abc"));
    let alive = build.join(format!("run-{host}_{}_{start}-def", std::process::id()));
    let seed = build.join("seed-0123456789abcdef01234567");
    for d in [&dead, &alive, &seed] {
        std::fs::create_dir_all(d.join("target")).unwrap();
    }
    std::fs::write(seed.join(".complete"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("gc")
        .env("FAULTLINE_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("removed 1 build cache of runs that are gone"), "{text}");
    assert!(!dead.exists(), "{text}");
    assert!(alive.exists() && seed.exists(), "{text}");
}

/// Each service's container id, the time it last started and the processes its first
/// process started, by service, read from the engine and the host's `/proc` (not through the
/// stack, which would count as reaching it): a service restarted in place keeps its id and
/// runs a new process (behind faultline's init, in the same running container, or in the
/// container started anew); one created again has a new id.
fn container_ids(run: &str) -> std::collections::BTreeMap<String, String> {
    let ps = Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter", &format!("label=faultline.run={run}")])
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&ps.stdout).split_whitespace().map(String::from).collect();
    if ids.is_empty() {
        return Default::default();
    }
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Name}} {{.State.Pid}} {{.Id}}@{{.State.StartedAt}}"])
        .args(&ids)
        .output()
        .unwrap();
    let prefix = format!("/faultline-{run}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let (name, pid, id) = (parts.next()?, parts.next()?, parts.next()?);
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            Some((name.strip_prefix(&prefix)?.to_owned(), format!("{id}/{}", children.trim())))
        })
        .collect()
}

/// What runs first in a service's container (faultline's init, which a reset restarts the
/// service behind) is not seen from outside: a signal the service does not catch is dropped,
/// as for a container's first process (the relay, Python, does not catch SIGTERM: it keeps
/// answering), one it catches reaches it (SIGINT: Python's KeyboardInterrupt ends it), and
/// the container then stops as the service did.
#[tokio::test(flavor = "multi_thread")]
async fn signals_reach_the_service_as_if_it_ran_first_in_its_container() {
    let cfg = config(CHAIN);
    let opts = RunOptions::new(1, root(), Duration::from_secs(60), String::new());
    let stack = Stack::start(&cfg, &levels(&[&["db"], &["api"], &["web"]]), &opts, &Start::checkpointed(false))
        .await
        .expect("stack starts");
    let run = stack.run_id().to_owned();
    let name = format!("faultline-{run}-web");
    let inspect = |format: &str| -> String {
        let out = Command::new("docker").args(["inspect", "-f", format, &name]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(inspect("{{.Path}}"), "/.faultline-init", "the init runs first");
    let kill = |signal: &str| {
        let out = Command::new("docker").args(["kill", "--signal", signal, &name]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    kill("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(inspect("{{.State.Running}}"), "true", "SIGTERM was dropped");
    let (status, _) = get(stack.addr("web").unwrap(), "/health").await;
    assert_eq!(status, 200);
    kill("INT");
    let mut running = inspect("{{.State.Running}}");
    for _ in 0..100 {
        if running == "false" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        running = inspect("{{.State.Running}}");
    }
    assert_eq!(running, "false", "SIGINT reached Python and ended it, and the container with it");
    assert_ne!(inspect("{{.State.ExitCode}}"), "0");
    stack.shutdown().await;
    assert_gone(&run);
}

/// A reset costs what the scenario reached: a service nothing reached since the last reset is
/// kept (the same container, not started again), one reached through its ingress, a published
/// port or a fault is started afresh (restarted in place or created again), and so is every
/// service that depends on one started afresh.
#[tokio::test(flavor = "multi_thread")]
async fn a_reset_keeps_the_services_nothing_reached() {
    let cfg = config(CHAIN);
    let opts = RunOptions::new(1, root(), Duration::from_secs(60), String::new());
    let mut stack = Stack::start(&cfg, &levels(&[&["db"], &["api"], &["web"]]), &opts, &Start::checkpointed(true))
        .await
        .expect("stack starts");
    let run = stack.run_id().to_owned();
    let first = container_ids(&run);
    assert_eq!(first.len(), 3, "{first:?}");
    let changed = |before: &std::collections::BTreeMap<String, String>| -> Vec<String> {
        let now = container_ids(&run);
        let mut v: Vec<String> =
            before.iter().filter(|(s, id)| now.get(*s) != Some(*id)).map(|(s, _)| s.clone()).collect();
        v.sort();
        v
    };
    // Nothing reached anything: everything kept.
    stack.reset().await.expect("a reset");
    assert_eq!(changed(&first), Vec::<String>::new());
    // Only web, through its ingress (its /health calls nobody): web alone is created again.
    let (status, _) = get(stack.addr("web").unwrap(), "/health").await;
    assert_eq!(status, 200);
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    assert_eq!(changed(&before), ["web"]);
    // db through its published port: db, and api and web that depend on it, are created again.
    let (status, _) = get(stack.published("db", 8080).unwrap(), "/health").await;
    assert_eq!(status, 200);
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    assert_eq!(changed(&before), ["api", "db", "web"]);
    // A request through the whole chain reaches every service: all created again, and the
    // stack still carries traffic through every edge.
    let (status, body) = get(stack.addr("web").unwrap(), "/call").await;
    assert_eq!(status, 200, "{body}");
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    assert_eq!(changed(&before), ["api", "db", "web"]);
    let (status, body) = get(stack.addr("web").unwrap(), "/call").await;
    assert_eq!(status, 200, "{body}");
    // A fault left on an edge that carried nothing: its ends are not kept.
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    let fault = FaultSpec::parse_compact("latency=10ms").unwrap();
    stack.edge("api", "db").unwrap().add_spec("left", &fault).unwrap();
    let before2 = container_ids(&run);
    stack.reset().await.expect("a reset");
    assert_eq!(changed(&before2), ["api", "db", "web"], "{before:?}");
    assert!(stack.edge("api", "db").unwrap().faults().is_empty(), "the proxy was renewed");
    stack.shutdown().await;
    assert_gone(&run);
}

/// The relay image, and the same with a volume, as build contexts under `dir`.
fn relay_contexts(dir: &Path) {
    let relay = root().join("fixtures/images/relay");
    for (ctx, extra) in [("relay", ""), ("vol", "VOLUME /data\n")] {
        std::fs::create_dir_all(dir.join(ctx)).unwrap();
        std::fs::copy(relay.join("relay.py"), dir.join(ctx).join("relay.py")).unwrap();
        let dockerfile = std::fs::read_to_string(relay.join("Dockerfile")).unwrap();
        std::fs::write(dir.join(ctx).join("Dockerfile"), format!("{dockerfile}{extra}")).unwrap();
    }
}

const RESTART: &str = r#"
version: 1
services:
  db:
    build: relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: db }
  vol:
    build: vol
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: vol }
  api:
    build: relay
    ports: [8080]
    ready: { http: /health }
    env: { SERVICE_NAME: api, CALL_EVERY: "2" }
    depends_on:
      db: { env: DB_URL, url: "http://{host}:{port}" }
"#;

/// A reset restarts an application service in place when its container wrote nothing (the
/// same container, a fresh process: its in-memory count of calls starts over), and removes
/// and creates again one that wrote a file, or anything into a volume: the file is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_reset_restarts_in_place_what_wrote_nothing_and_recreates_what_did() {
    let dir = tempfile::tempdir().unwrap();
    relay_contexts(dir.path());
    let cfg = config(RESTART);
    let opts = RunOptions::new(1, dir.path(), Duration::from_secs(60), String::new());
    let mut stack = Stack::start(&cfg, &levels(&[&["db", "vol"], &["api"]]), &opts, &Start::checkpointed(true))
        .await
        .expect("stack starts");
    let run = stack.run_id().to_owned();
    // api calls db on every second /call only: the first after a start calls nobody.
    let calls = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["calls"].clone();
    let (status, body) = get(stack.addr("api").unwrap(), "/call").await;
    assert_eq!((status, calls(&body)), (200, serde_json::json!({})), "{body}");
    for (service, cmd) in [("db", "echo x > /tmp/written"), ("vol", "echo x > /data/written")] {
        let (code, out) = stack.exec(service, &["sh", "-c", cmd]).await.unwrap();
        assert_eq!(code, 0, "{out}");
    }
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    let after = container_ids(&run);
    let paths = stack.last_reset();
    assert_eq!(
        (paths.restarted.as_slice(), paths.recreated.as_slice()),
        (&["api".to_owned()][..], &["db".to_owned(), "vol".to_owned()][..])
    );
    // api: the same container, a new process.
    let (id, started) = before["api"].split_once('@').unwrap();
    let (id2, started2) = after["api"].split_once('@').unwrap();
    assert_eq!(id, id2);
    assert_ne!(started, started2);
    // db and vol: new containers, without what the old ones wrote.
    for (service, path) in [("db", "/tmp/written"), ("vol", "/data/written")] {
        assert_ne!(before[service].split_once('@').unwrap().0, after[service].split_once('@').unwrap().0);
        let (code, out) = stack.exec(service, &["test", "!", "-e", path]).await.unwrap();
        assert_eq!(code, 0, "{service}: {path} survived the reset: {out}");
    }
    // A fresh process answers: its first /call calls nobody again (the old one's second
    // would have called db), its second calls db through the edge.
    let (status, body) = get(stack.addr("api").unwrap(), "/call").await;
    assert_eq!((status, calls(&body)), (200, serde_json::json!({})), "{body}");
    let (status, body) = get(stack.addr("api").unwrap(), "/call").await;
    assert_eq!((status, calls(&body)["DB_URL"]["service"].clone()), (200, serde_json::json!("db")), "{body}");
    // db and api were reached since and wrote nothing: both restarted in place. vol wrote
    // nothing either, but what its volume holds is not proven: created again.
    stack.reset().await.expect("a reset");
    assert_eq!(stack.last_reset().restarted, ["db", "api"]);
    assert_eq!(stack.last_reset().recreated, ["vol"]);
    // The service's code can write its own layer, faultline's init included: one it replaced
    // never restarts the service, which is created again from its image.
    let (code, out) =
        stack.exec("api", &["sh", "-c", "rm -f /.faultline-init && echo x > /.faultline-init"]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    let (status, body) = get(stack.addr("api").unwrap(), "/call").await;
    assert_eq!(status, 200, "{body}");
    let before = container_ids(&run);
    stack.reset().await.expect("a reset");
    assert!(stack.last_reset().recreated.contains(&"api".to_owned()), "{:?}", stack.last_reset());
    assert_ne!(before["api"].split_once('@').unwrap().0, container_ids(&run)["api"].split_once('@').unwrap().0);
    stack.shutdown().await;
    assert_gone(&run);
}
