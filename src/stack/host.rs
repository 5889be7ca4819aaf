//! Code of the change that runs on the host: `prepare:` commands, the builds and runs of
//! `nextest` steps, host `exec` steps.
//!
//! That code is written by the change under test, so it gets none of the runner's secrets:
//! its environment is cleared and filled from an allowlist (the toolchain's variables, what
//! `policy.prepare_env` names, what the caller sets with `--prepare-env`). It runs in a
//! process group of its own, which is killed when the gate gives up on it (`--timeout`,
//! Ctrl-C), so a build that ignores the deadline cannot outlive the verdict.

use std::process::Output;

/// Variables of the runner that host commands receive as they are: what a shell and the
/// common toolchains need to find themselves, nothing that usually holds a credential.
pub(crate) const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "TERM",
    "CI",
    "SOURCE_DATE_EPOCH",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_JOBS",
    "CARGO_INCREMENTAL",
    "CARGO_NET_OFFLINE",
    "CARGO_TERM_COLOR",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "CC",
    "CXX",
    "AR",
    "PKG_CONFIG_PATH",
    "GOPATH",
    "GOCACHE",
    "GOMODCACHE",
    "GOFLAGS",
];

/// The environment a host command gets: [`ALLOWED`] and `pass` from the runner, then `set`.
pub(crate) fn env(pass: &[String], set: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for name in ALLOWED.iter().copied().chain(pass.iter().map(String::as_str)) {
        if out.iter().any(|(k, _)| k == name) {
            continue;
        }
        if let Ok(v) = std::env::var(name) {
            out.push((name.to_owned(), v));
        }
    }
    for (k, v) in set {
        out.retain(|(o, _)| o != k);
        out.push((k.clone(), v.clone()));
    }
    out
}

/// What an isolated job gets of the runner's environment: only what the operator named
/// (`pass`, from `policy.prepare_env`), then `set` (`--prepare-env`).
pub(crate) fn named(pass: &[String], set: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        pass.iter().filter_map(|n| std::env::var(n).ok().map(|v| (n.clone(), v))).collect();
    for (k, v) in set {
        out.retain(|(o, _)| o != k);
        out.push((k.clone(), v.clone()));
    }
    out
}

/// A command with only [`env`] in its environment, in a process group of its own.
pub(crate) fn command(program: &str, pass: &[String], set: &[(String, String)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    c.env_clear().envs(env(pass, set)).process_group(0).kill_on_drop(true);
    c
}

/// Kills a process group when dropped before [`GroupGuard::disarm`].
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) with a negative pid signals the process group the command leads.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

/// Runs `cmd` to the end and collects its output. If the future is dropped first (the gate's
/// timeout, Ctrl-C), the whole process group is killed.
pub(crate) async fn output(mut cmd: tokio::process::Command) -> std::io::Result<Output> {
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn()?;
    let mut guard = GroupGuard(child.id());
    let out = child.wait_with_output().await;
    guard.disarm();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_and_named_variables_come_in() {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe {
            std::env::set_var("FAULTLINE_TEST_SECRET_TOKEN", "s3cret");
            std::env::set_var("FAULTLINE_TEST_NAMED", "named");
        }
        let e = env(&["FAULTLINE_TEST_NAMED".into()], &[("X".into(), "1".into()), ("PATH".into(), "/p".into())]);
        assert!(!e.iter().any(|(k, _)| k == "FAULTLINE_TEST_SECRET_TOKEN"));
        assert!(e.contains(&("FAULTLINE_TEST_NAMED".into(), "named".into())));
        assert!(e.contains(&("X".into(), "1".into())));
        assert_eq!(e.iter().filter(|(k, _)| k == "PATH").count(), 1);
        assert!(e.contains(&("PATH".into(), "/p".into())));
    }
}
