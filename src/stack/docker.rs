//! The Docker Engine through testcontainers' client: labels, the run's network, and the
//! sweep of what dead runs left behind.

use std::collections::{BTreeMap, HashMap};

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::StackError;

pub(crate) const MANAGED: &str = "faultline.managed";
pub(crate) const RUN: &str = "faultline.run";
pub(crate) const OWNER: &str = "faultline.owner";
pub(crate) const SERVICE: &str = "faultline.service";

/// The engine, or a clear error saying what to do.
pub async fn client() -> Result<Docker, StackError> {
    let docker = testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| StackError::NoDocker { reason: e.to_string() })?;
    docker.ping().await.map_err(|e| StackError::NoDocker { reason: e.to_string() })?;
    Ok(docker)
}

/// Whether `DOCKER_HOST` names an engine on another machine: `tcp://`, `ssh://` or `http(s)://`
/// to a host other than this one. A unix socket (`unix://…`, a path) is local.
pub(crate) fn is_remote(docker_host: &str) -> bool {
    let Some((scheme, rest)) = docker_host.trim().split_once("://") else { return false };
    if !matches!(scheme, "tcp" | "ssh" | "http" | "https") {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    !matches!(host, "localhost" | "127.0.0.1" | "::1" | "") && !host.starts_with("127.")
}

/// [`client`] for starting stacks: refused when `DOCKER_HOST` is an engine on another
/// machine, which could not reach the proxies on this one.
pub(crate) async fn local_client() -> Result<Docker, StackError> {
    if let Some(docker_host) = std::env::var("DOCKER_HOST").ok().filter(|h| is_remote(h)) {
        return Err(StackError::RemoteEngine { docker_host });
    }
    client().await
}

/// Labels every object of a run carries.
pub(crate) fn labels(run: &str) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), run.to_owned()),
        (OWNER.to_owned(), owner()),
    ])
}

/// `host/pid/start-time`: enough to tell whether the process that made an object still runs.
pub fn owner() -> String {
    let pid = std::process::id();
    format!("{}/{pid}/{}", hostname(), start_time(pid).unwrap_or_default())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The start time of a process (clock ticks since boot), to tell a reused pid apart.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether the owner label names a process that is gone. Objects from another host are
/// never judged dead.
pub(crate) fn owner_dead(label: &str) -> bool {
    let mut parts = label.split('/');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else { return true };
    if host != hostname() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else { return true };
    match start_time(pid) {
        None => true,
        Some(now) => start.parse::<u64>() != Ok(now),
    }
}

/// Creates the run's private network, labelled.
pub(crate) async fn create_network(docker: &Docker, name: &str, run: &str) -> Result<(), StackError> {
    let req = testcontainers::bollard::models::NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".to_owned()),
        labels: Some(labels(run)),
        ..Default::default()
    };
    docker
        .create_network(req)
        .await
        .map_err(|e| StackError::Docker { action: format!("create network {name}"), reason: e.to_string() })?;
    Ok(())
}

/// The gateway of the default bridge: where `host.docker.internal` points inside containers.
/// Some engines report only the subnet; Docker's gateway is then its first address.
pub(crate) async fn bridge_gateway(docker: &Docker) -> Option<std::net::IpAddr> {
    network_gateway(docker, "bridge").await
}

/// The gateway of a network: the host's address on it, where an edge with a `client_port`
/// listens (each run's network has its own, so runs at once do not collide).
pub(crate) async fn network_gateway(docker: &Docker, network: &str) -> Option<std::net::IpAddr> {
    let net = docker.inspect_network(network, None::<InspectNetworkOptions>).await.ok()?;
    net.ipam?
        .config?
        .into_iter()
        .find_map(|c| c.gateway.and_then(|g| g.parse().ok()).or_else(|| first_host(c.subnet.as_deref()?)))
}

fn first_host(subnet: &str) -> Option<std::net::IpAddr> {
    let (addr, _) = subnet.split_once('/')?;
    let v4: std::net::Ipv4Addr = addr.parse().ok()?;
    Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) + 1)))
}

/// What a sweep removed, and what it could not.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    pub runs: Vec<String>,
    pub containers: usize,
    pub networks: usize,
    /// Endpoints forcibly disconnected from a run's network so it could be removed.
    pub disconnected: usize,
    /// Objects in scope the engine refused to remove.
    pub left: Vec<Left>,
}

/// A labelled object a sweep could not remove: what, why the engine refused, what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Left {
    /// `container` or `network`.
    pub kind: &'static str,
    pub name: String,
    pub run: String,
    /// What the engine answered.
    pub why: String,
    /// What the user can do.
    pub help: String,
}

impl std::fmt::Display for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (run {}) is left: the engine refused: {}; {}",
            self.kind, self.name, self.run, self.why, self.help
        )
    }
}

/// Whether the engine's answer means the object is gone or going already.
fn gone(e: &testcontainers::bollard::errors::Error) -> bool {
    use testcontainers::bollard::errors::Error;
    matches!(e, Error::DockerResponseServerError { status_code: 404, .. }) || e.to_string().contains("in progress")
}

/// Which faultline objects a sweep removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Those of runs whose process is gone.
    Dead,
    /// Those of one run.
    Run(&'a str),
    /// Those of every run of this process.
    Mine,
    /// Every faultline object.
    All,
}

/// Removes the containers and networks in `scope`.
pub async fn sweep(docker: &Docker, scope: Scope<'_>) -> Result<Swept, StackError> {
    let only_run = match scope {
        Scope::Run(r) => Some(r),
        _ => None,
    };
    let me = owner();
    let err = |action: &str| {
        let action = action.to_owned();
        move |e: testcontainers::bollard::errors::Error| StackError::Docker { action, reason: e.to_string() }
    };
    let mut filter = HashMap::from([("label".to_owned(), vec![format!("{MANAGED}=true")])]);
    if let Some(run) = only_run {
        filter.insert("label".to_owned(), vec![format!("{MANAGED}=true"), format!("{RUN}={run}")]);
    }
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filter).build()))
        .await
        .map_err(err("list containers"))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filter).build()))
        .await
        .map_err(err("list networks"))?;
    let dead = |labels: &Option<HashMap<String, String>>| {
        let owner = labels.as_ref().and_then(|l| l.get(OWNER));
        match scope {
            Scope::All | Scope::Run(_) => true,
            Scope::Mine => owner == Some(&me),
            Scope::Dead => owner.is_none_or(|o| owner_dead(o)),
        }
    };
    let mut swept = Swept::default();
    let mut runs = BTreeMap::new();
    for c in containers.into_iter().filter(|c| dead(&c.labels)) {
        let Some(id) = c.id else { continue };
        let run = c.labels.as_ref().and_then(|l| l.get(RUN)).cloned().unwrap_or_default();
        let opts = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match docker.remove_container(&id, Some(opts)).await {
            Ok(()) => swept.containers += 1,
            Err(e) if gone(&e) => {}
            Err(e) => swept.left.push(Left {
                kind: "container",
                name: c.names.and_then(|n| n.first().cloned()).unwrap_or(id).trim_start_matches('/').to_owned(),
                run: run.clone(),
                why: e.to_string(),
                help: "remove it with `docker rm -f <name>`; if the engine refuses that too, restart the Docker \
                       daemon and run `faultline gc` again"
                    .into(),
            }),
        }
        runs.insert(run, ());
    }
    for n in networks.into_iter().filter(|n| dead(&n.labels)) {
        let Some(id) = n.id else { continue };
        let run = n.labels.as_ref().and_then(|l| l.get(RUN)).cloned().unwrap_or_default();
        let name = n.name.unwrap_or_else(|| id.clone());
        match remove_network(docker, &id, &mut swept.disconnected).await {
            Ok(()) => swept.networks += 1,
            Err(e) if gone(&e) => {}
            Err(e) => swept.left.push(Left {
                kind: "network",
                help: format!(
                    "faultline disconnected every endpoint the engine lists; an endpoint the engine keeps with no \
                     container (after a killed run) is freed by restarting the Docker daemon, then \
                     `docker network rm {name}` or `faultline gc`"
                ),
                name,
                run: run.clone(),
                why: e.to_string(),
            }),
        }
        runs.insert(run, ());
    }
    swept.runs = runs.into_keys().filter(|r| !r.is_empty()).collect();
    Ok(swept)
}

/// Removes a network; when the engine refuses because endpoints are still attached (a
/// container of another run, a stale endpoint left by a killed run), disconnects each
/// endpoint it lists, by force, and tries again.
async fn remove_network(
    docker: &Docker,
    id: &str,
    disconnected: &mut usize,
) -> Result<(), testcontainers::bollard::errors::Error> {
    let Err(first) = docker.remove_network(id).await else { return Ok(()) };
    if gone(&first) {
        return Err(first);
    }
    let endpoints: Vec<String> = docker
        .inspect_network(id, None::<InspectNetworkOptions>)
        .await?
        .containers
        .unwrap_or_default()
        .into_iter()
        .map(|(container, ep)| ep.name.unwrap_or(container))
        .collect();
    for container in endpoints {
        let req = testcontainers::bollard::models::NetworkDisconnectRequest { container, force: Some(true) };
        if docker.disconnect_network(id, req).await.is_ok() {
            *disconnected += 1;
        }
    }
    docker.remove_network(id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_from_subnet() {
        assert_eq!(first_host("172.17.0.0/16"), Some("172.17.0.1".parse().unwrap()));
        assert_eq!(first_host("nonsense"), None);
    }

    #[test]
    fn own_process_is_alive_and_junk_is_dead() {
        assert!(!owner_dead(&owner()));
        assert!(owner_dead("garbage"));
        assert!(owner_dead(&format!("{}/{}/1", hostname(), std::process::id())), "a reused pid");
        assert!(!owner_dead("some-other-host/1/1"), "another host's runs are not ours to judge");
    }
}

#[cfg(test)]
mod remote_tests {
    #[test]
    fn a_remote_engine_is_told_from_a_local_one() {
        for h in ["tcp://docker:2375", "ssh://me@build-box", "tcp://10.0.0.5:2376", "https://dind:2376"] {
            assert!(super::is_remote(h), "{h}");
        }
        for h in ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375", ""]
        {
            assert!(!super::is_remote(h), "{h}");
        }
    }
}
