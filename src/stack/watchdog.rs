//! The watchdog: a small process in its own session that holds a pipe from faultline. When
//! the pipe closes — faultline finished, panicked, was interrupted or killed with SIGKILL —
//! it removes every container and network labelled with the run's id.
//!
//! It is a shell running the docker CLI, so it needs nothing from faultline's process and
//! survives it. Without the docker CLI there is no watchdog; leftovers of a killed run are
//! then removed by the next start's sweep or `faultline gc`.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::docker::RUN;

pub(crate) struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Child,
}

const SCRIPT: &str = r#"
read -r _ || true
c=$(docker ps -aq --filter "label=$LABEL")
[ -n "$c" ] && docker rm -f -v $c >/dev/null 2>&1
for n in $(docker network ls -q --filter "label=$LABEL"); do
  docker network rm "$n" >/dev/null 2>&1 && continue
  # Endpoints still attached (a stale one after a killed run): disconnect them by force.
  for ep in $(docker network inspect -f '{{range $k, $v := .Containers}}{{$k}} {{end}}' "$n" 2>/dev/null); do
    docker network disconnect -f "$n" "$ep" >/dev/null 2>&1
  done
  docker network rm "$n" >/dev/null 2>&1
done
exit 0
"#;

impl Watchdog {
    /// Starts the watchdog for `run`; `None` (with a warning) when it cannot.
    pub(crate) fn spawn(run: &str) -> Option<Watchdog> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .env("LABEL", format!("{RUN}={run}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; it detaches the watchdog from the terminal's
        // process group, so the Ctrl-C that stops faultline does not stop its watchdog.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        if Command::new("docker").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            tracing::warn!(
                "no docker CLI: no watchdog for run {run}; a killed run is swept at the next start or by `faultline gc`"
            );
            return None;
        }
        match cmd.spawn() {
            Ok(mut child) => Some(Watchdog { stdin: child.stdin.take(), child }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the watchdog");
                None
            }
        }
    }

    /// Tells the watchdog to clean up now and waits until it has.
    pub(crate) fn finish(mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing the pipe is the signal; the watchdog cleans up on its own.
        self.stdin.take();
    }
}
