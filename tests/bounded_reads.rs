//! Every file faultline reads from a change is read bounded (issue 27, "Bounded reads"):
//! faultline.yaml and scenarios at most 1 MiB each, CODEOWNERS at most 3,000,000 bytes
//! (GitHub's own limit), a blob's size checked before it is loaded; in the working tree a
//! link out of the repository, or anything but a regular file (a FIFO would block the reader
//! for ever), is refused. Each is exit 2 with a message naming the file, through the binary,
//! and none may hang: every run here is killed, and the test failed, after a minute. No Docker.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{SHOP_CONFIG, TestRepo};

const MIB: usize = 1 << 20;

/// `faultline ARGS` in `repo`, as `TestRepo::faultline` runs it, but killed (and the test
/// failed) if it has not ended after a minute: a reader blocked on a FIFO never ends.
fn faultline(repo: &TestRepo, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.args(args).current_dir(&repo.path).env_remove("FAULTLINE_LABELS").env("NO_COLOR", "1");
    for k in ["GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY", "GITLAB_CI", "CI_MERGE_REQUEST_IID"] {
        cmd.env_remove(k);
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("faultline {args:?} was still running after a minute: {}", common::stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `text` followed by YAML comment lines up to just over `size` bytes: still valid YAML,
/// so only the size can make faultline refuse it.
fn padded(text: &str, size: usize) -> String {
    let mut s = text.to_owned();
    while s.len() <= size {
        s.push_str("# padding, a comment line that YAML ignores ...........................\n");
    }
    s
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

fn refused(out: &Output, needles: &[&str]) {
    let err = common::stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn a_configuration_over_one_mib_is_refused_in_a_commit_and_in_the_working_tree() {
    let repo = TestRepo::shop();
    // The same file just under the cap is read: the cap is what refuses it below.
    let under = SHOP_CONFIG.to_owned() + &"#\n".repeat((MIB - SHOP_CONFIG.len()) / 2);
    assert!(under.len() <= MIB);
    repo.write("faultline.yaml", &under);
    repo.commit("a big configuration, under the cap");
    let out = faultline(&repo, &["plan", "--base", "HEAD", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));

    repo.write("faultline.yaml", padded(SHOP_CONFIG, MIB));
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["faultline.yaml is", "over the 1 MiB faultline reads from a change"]);

    repo.commit("a configuration over the cap");
    // The base's configuration, from git objects: the blob's size is checked before loading.
    let out = faultline(&repo, &["plan", "--base", "HEAD", "--head", "HEAD"]);
    refused(&out, &["faultline.yaml in `HEAD` is", "over the 1 MiB faultline reads from a change"]);
}

#[test]
fn a_scenario_over_one_mib_is_refused_in_a_commit_and_in_the_working_tree() {
    let repo = TestRepo::shop();
    repo.write("scenarios/web-smoke.yaml", padded("target: web\n", MIB));
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["scenarios/web-smoke.yaml is", "over the 1 MiB"]);
    let out = faultline(&repo, &["scenario", "lint"]);
    refused(&out, &["scenarios/web-smoke.yaml is", "over the 1 MiB"]);

    repo.commit("a scenario over the cap");
    let out = faultline(&repo, &["plan", "--base", "HEAD", "--head", "HEAD"]);
    refused(&out, &["scenarios/web-smoke.yaml in `HEAD` is", "over the 1 MiB"]);
}

#[test]
fn a_codeowners_file_github_would_not_load_is_refused() {
    let repo = TestRepo::shop();
    repo.write("faultline.yaml", SHOP_CONFIG.replace("  seniors: [", "  codeowners: true\n  seniors: ["));
    repo.write(".github/CODEOWNERS", padded("/services/payments/ @alice\n", 3_000_000));
    repo.commit("CODEOWNERS over 3 MB");
    let out = faultline(&repo, &["plan", "--base", "HEAD", "--head", "HEAD"]);
    refused(&out, &[".github/CODEOWNERS in `HEAD` is", "over the 3000000 bytes"]);
}

#[test]
fn a_link_out_of_the_repository_is_refused_not_followed_nor_skipped() {
    let repo = TestRepo::shop();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("stolen.yaml"), "target: web\n").unwrap();
    std::fs::write(outside.path().join("faultline.yaml"), SHOP_CONFIG).unwrap();

    // A scenario that is a link to a file outside: today it was skipped without a word.
    std::os::unix::fs::symlink(outside.path().join("stolen.yaml"), repo.path.join("scenarios/stolen.yaml")).unwrap();
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(
        &out,
        &["scenarios/stolen.yaml leads through a symbolic link to", "stolen.yaml, outside", "does not follow links"],
    );
    let out = faultline(&repo, &["scenario", "lint"]);
    refused(&out, &["scenarios/stolen.yaml leads through a symbolic link to"]);
    std::fs::remove_file(repo.path.join("scenarios/stolen.yaml")).unwrap();

    // A link inside the repository is read like the file it names.
    std::os::unix::fs::symlink("web-smoke.yaml", repo.path.join("scenarios/alias.yml")).unwrap();
    let out = faultline(&repo, &["scenario", "lint"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), common::stderr(&out));
    assert!(text.contains("scenarios/alias.yml:1:1"), "{text}");
    assert!(text.contains("0 of 4 scenario files valid"), "{text}");
    std::fs::remove_file(repo.path.join("scenarios/alias.yml")).unwrap();

    // The configuration itself as a link out: today it was read through the link.
    repo.remove("faultline.yaml");
    std::os::unix::fs::symlink(outside.path().join("faultline.yaml"), repo.path.join("faultline.yaml")).unwrap();
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["faultline.yaml leads through a symbolic link to", "outside"]);

    // A scenarios folder that is itself a link out of the repository.
    repo.remove("faultline.yaml");
    repo.write("faultline.yaml", SHOP_CONFIG);
    std::fs::rename(repo.path.join("scenarios"), outside.path().join("scenarios")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("scenarios"), repo.path.join("scenarios")).unwrap();
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["leads through a symbolic link to", "outside"]);
}

#[test]
fn a_link_committed_as_a_scenario_is_refused() {
    let repo = TestRepo::shop();
    std::os::unix::fs::symlink("../docs/guide.md", repo.path.join("scenarios/guide.yaml")).unwrap();
    repo.commit("a scenario that is a link");
    let out = faultline(&repo, &["plan", "--base", "HEAD", "--head", "HEAD"]);
    refused(&out, &["scenarios/guide.yaml in `HEAD` is a symbolic link", "reads only regular files from a commit"]);
}

#[test]
fn a_fifo_as_a_scenario_or_as_the_configuration_is_refused_at_once() {
    let repo = TestRepo::shop();
    // A FIFO named like a scenario: today it was skipped without a word.
    mkfifo(&repo.path.join("scenarios/pipe.yaml"));
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["scenarios/pipe.yaml is a FIFO (named pipe), not a regular file"]);
    let out = faultline(&repo, &["scenario", "lint"]);
    refused(&out, &["scenarios/pipe.yaml is a FIFO"]);
    // Named on the command line, too.
    let out = faultline(&repo, &["scenario", "lint", "scenarios/pipe.yaml"]);
    refused(&out, &["scenarios/pipe.yaml is a FIFO"]);
    repo.remove("scenarios/pipe.yaml");

    // faultline.yaml as a FIFO: today the reader blocked for ever.
    repo.remove("faultline.yaml");
    mkfifo(&repo.path.join("faultline.yaml"));
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["faultline.yaml is a FIFO (named pipe), not a regular file"]);

    // And as a link, inside the repository, to a FIFO.
    repo.remove("faultline.yaml");
    mkfifo(&repo.path.join("pipe"));
    std::os::unix::fs::symlink("pipe", repo.path.join("faultline.yaml")).unwrap();
    let out = faultline(&repo, &["plan", "--worktree", "--config-from", "worktree"]);
    refused(&out, &["faultline.yaml is a FIFO"]);
}
