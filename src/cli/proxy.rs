//! `faultline proxy`: one fault proxy in the foreground.

use std::path::PathBuf;

use faultline::exit;

use super::session::Interrupt;

#[derive(clap::Args)]
pub(super) struct ProxyArgs {
    /// Where clients connect, e.g. 127.0.0.1:9000 (port 0: pick one).
    #[arg(long, value_name = "ADDR")]
    pub(super) listen: std::net::SocketAddr,
    /// The service behind the proxy, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub(super) upstream: String,
    /// Understand HTTP/1.1: record requests, allow http.* faults.
    #[arg(long)]
    pub(super) http: bool,
    /// A fault, as key=value pairs (repeatable). See above.
    #[arg(long = "fault", value_name = "SPEC")]
    pub(super) faults: Vec<String>,
    /// Seed of every random choice (default: from the clock, printed).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Headers that identify a request across retries.
    #[arg(long = "request-id-header", value_name = "NAME", default_values = ["Idempotency-Key", "X-Request-Id"])]
    pub(super) request_id_headers: Vec<String>,
    /// Also write the observations as JSON to FILE on exit.
    #[arg(long, value_name = "FILE")]
    pub(super) report: Option<PathBuf>,
}

pub(super) fn exec(args: ProxyArgs) -> miette::Result<i32> {
    use faultline::fault::{FaultSpec, Proxy, ProxyConfig};
    use std::net::ToSocketAddrs;

    let upstream = args
        .upstream
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| miette::miette!("--upstream {}: not an address (write HOST:PORT)", args.upstream))?;
    let mut faults = Vec::new();
    for (i, f) in args.faults.iter().enumerate() {
        let spec = FaultSpec::parse_compact(f).map_err(|e| miette::miette!("--fault {f}: {e}"))?;
        let name = format!("fault-{}", i + 1);
        spec.validate().map_err(|e| miette::miette!("--fault {f}: {e}"))?;
        faults.push((name, f.clone(), spec));
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| miette::miette!("{e}"))?;
    rt.block_on(async move {
        let mut cfg = ProxyConfig::new(format!("{} -> {upstream}", args.listen), upstream, seed);
        cfg.listen = vec![args.listen];
        cfg.http = args.http;
        cfg.request_id_headers = args.request_id_headers.iter().map(|h| h.to_ascii_lowercase()).collect();
        let mut interrupt = Interrupt::new();
        let p = Proxy::start(cfg).await?;
        for (name, text, spec) in &faults {
            p.add_spec(name, spec)?;
            eprintln!("fault {name}: {text}");
        }
        eprintln!(
            "faultline proxy: {} -> {upstream}{}, seed {seed} (--seed {seed} repeats these faults); Ctrl-C to stop",
            p.addr(),
            if args.http { " (HTTP)" } else { "" }
        );
        interrupt.wait().await;
        let obs = p.observations();
        eprintln!("{}", faultline::report::edge::render_text(&obs));
        if let Some(path) = &args.report {
            let json = serde_json::to_string_pretty(&obs).map_err(|e| miette::miette!("{e}"))?;
            std::fs::write(path, json).map_err(|e| miette::miette!("cannot write {}: {e}", path.display()))?;
            eprintln!("observations written to {}", path.display());
        }
        p.shutdown().await;
        Ok::<_, miette::Report>(exit::ALLOW)
    })
}
