//! The code host, as CI hands it to the gate: the pull request's labels and author, the
//! approvals given on it and what its reviewers wrote. Read from what the CI system provides
//! and the change cannot write — GitHub's event file (`GITHUB_EVENT_PATH`) and reviews API,
//! GitLab's merge-request variables and its approvals, versions and notes APIs — never from
//! the change's commits.
//!
//! Approvals name people by their code-host handle, `@login`; `policy.seniors` (and the
//! `seniors` of `policy.owners`) list handles or emails.

mod github;
mod gitlab;
mod http;

/// Why the code host could not be read. The gate fails closed on it: a sign-off it needed
/// becomes "could not verify", with this text.
#[derive(Debug, thiserror::Error)]
pub enum CodeHostError {
    #[error("cannot read the GitHub event file {path} (GITHUB_EVENT_PATH): {source}")]
    EventFile { path: String, source: std::io::Error },

    #[error("the GitHub event file {path} (GITHUB_EVENT_PATH) is not JSON: {source}")]
    EventJson { path: String, source: serde_json::Error },

    #[error("cannot read the approvals of {host}: {source}")]
    Approvals { host: String, source: ApiError },

    /// A revision the event names is not a full commit id: the gate cannot check the
    /// revisions it judges against it.
    #[error("{field} in the {origin} is `{value}`, not a full commit id")]
    BadRevision { origin: &'static str, field: &'static str, value: String },
}

/// What went wrong reading approvals from a code host's API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A host reference of the other code host (a bug of the caller).
    #[error("not a {0}")]
    OtherHost(&'static str),

    /// The job has no token to read the API with; the text says how to give it one.
    #[error("no token: {0}")]
    NoToken(&'static str),

    #[error("cannot read the system's TLS roots: {0}")]
    TlsRoots(std::io::Error),

    #[error("`{url}` is not a URL: {source}")]
    NotAUrl { url: String, source: hyper::http::uri::InvalidUri },

    #[error("cannot make a request to {url}: {source}")]
    Request { url: String, source: hyper::http::Error },

    /// The call failed (connection, TLS, reading the reply); `reason` is the whole chain.
    #[error("GET {url}: {reason}")]
    Call { url: String, reason: String },

    #[error("GET {url}: {status}: {body}")]
    Status { url: String, status: hyper::StatusCode, body: String },

    #[error("GET {url}: the reply is not JSON: {source}")]
    NotJson { url: String, source: serde_json::Error },

    #[error("GET {url}: no reply within {secs}s")]
    Timeout { url: String, secs: u64 },

    /// A reply of another shape than the API's: `what` says what was missing.
    #[error("GET {url}: {what}")]
    Shape { url: String, what: &'static str },

    /// More pages than are read (`what`: `reviews`, `notes`, `versions`).
    #[error("more than {max} {what}; not all could be read")]
    TooMany { what: &'static str, max: usize },

    #[error("the merge request has no `sha`")]
    NoSha,
}

/// What CI says about the pull request under test.
#[derive(Debug, Clone, Default)]
pub struct CiContext {
    /// Where this came from, for messages: `GitHub event file`, `GitLab CI variables`.
    pub source: &'static str,
    /// The pull request's labels.
    pub labels: Vec<String>,
    /// Who opened it (`@login`).
    pub author: Option<String>,
    /// Where its approvals can be read; `None` when the event is not about a pull request.
    pub host: Option<HostRef>,
    /// The revisions the event names: what the change goes into, and its head.
    pub revisions: Option<EventRevisions>,
}

/// The revisions a pull request's event names. The code host wrote them; the change cannot.
/// The gate judges against them: a `--base` or `--head` that disagrees is could not verify
/// (`plan::planned`), and without `--base`/`--head` the gate takes them from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventRevisions {
    /// `GitHub event file`, `GitLab CI variables`.
    pub source: &'static str,
    /// The commit the change goes into (`pull_request.base.sha`), or one the base must
    /// contain (GitLab's `CI_MERGE_REQUEST_DIFF_BASE_SHA`, the merge request's diff base).
    pub base: Option<EventCommit>,
    /// The change's head (`pull_request.head.sha`, `CI_COMMIT_SHA`).
    pub head: Option<EventCommit>,
    /// The branch the change goes into (`pull_request.base.ref`,
    /// `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`).
    pub base_branch: Option<String>,
    /// The repository's default branch (`repository.default_branch`, `CI_DEFAULT_BRANCH`).
    pub default_branch: Option<String>,
}

/// One commit an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCommit {
    /// Where it was read: `pull_request.base.sha`, `CI_MERGE_REQUEST_DIFF_BASE_SHA`.
    pub field: &'static str,
    /// A full commit id, lower case.
    pub sha: String,
    /// The commit itself is the base (or the head); `false` for GitLab's diff base, a commit
    /// the base only contains.
    pub exact: bool,
}

impl EventRevisions {
    /// The base `gate` takes without `--base`: the event's base commit, else the fetched tip of
    /// the branch the change goes into (`refs/remotes/origin/BRANCH`, a full ref, so no tag or
    /// other branch can stand in for it).
    pub fn default_base(&self) -> Option<String> {
        match (&self.base, &self.base_branch) {
            (Some(b), _) if b.exact => Some(b.sha.clone()),
            (_, Some(branch)) => Some(format!("refs/remotes/origin/{branch}")),
            _ => None,
        }
    }

    /// The head `gate` takes without `--head`.
    pub fn default_head(&self) -> Option<String> {
        self.head.as_ref().map(|h| h.sha.clone())
    }
}

/// `value` of `field` as an [`EventCommit`]: absent or empty is `None`, anything but a full
/// commit id an error.
fn event_commit(
    source: &'static str,
    field: &'static str,
    value: Option<&str>,
    exact: bool,
) -> Result<Option<EventCommit>, CodeHostError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if !matches!(v.len(), 40 | 64) || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CodeHostError::BadRevision { origin: source, field, value: v.chars().take(80).collect() });
    }
    Ok(Some(EventCommit { field, sha: v.to_ascii_lowercase(), exact }))
}

/// A branch name an event gives, when it is one.
fn branch_name(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty() && git2::Reference::is_valid_name(&format!("refs/heads/{v}")))
        .map(str::to_owned)
}

/// A token, never printed.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// One pull request (merge request) on one code host, and how to read its approvals.
#[derive(Debug, Clone)]
pub enum HostRef {
    GitHub {
        /// `GITHUB_API_URL`, default `https://api.github.com`.
        api: String,
        /// `owner/name`.
        repo: String,
        number: u64,
        /// The pull request's head commit: only approvals of this commit count.
        head_sha: String,
        /// `FAULTLINE_GITHUB_TOKEN`, else `GITHUB_TOKEN`.
        token: Option<Secret>,
    },
    GitLab {
        /// `CI_API_V4_URL`.
        api: String,
        /// `CI_PROJECT_ID`.
        project: String,
        /// `CI_MERGE_REQUEST_IID`.
        iid: u64,
        /// The commit the pipeline runs (`CI_COMMIT_SHA`): approvals count only while it
        /// is the merge request's head.
        head_sha: String,
        /// `PRIVATE-TOKEN` from `FAULTLINE_GITLAB_TOKEN` or `GITLAB_TOKEN`, else
        /// `JOB-TOKEN` from `CI_JOB_TOKEN`.
        token: Option<(&'static str, Secret)>,
    },
}

impl HostRef {
    /// `GitHub pull request owner/name#12`, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            HostRef::GitHub { repo, number, .. } => format!("GitHub pull request {repo}#{number}"),
            HostRef::GitLab { project, iid, .. } => format!("GitLab merge request {project}!{iid}"),
        }
    }
}

/// Approvals read from the code host.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostApprovals {
    /// `(who, where)`: `("@alice", "GitHub review of 1a2b3c4d5e")`.
    pub counted: Vec<(String, String)>,
    /// `(who, commit, why it does not count)`: approvals of an earlier head.
    pub stale: Vec<(String, String, String)>,
    /// `(text, who, where)`: the text of each review of the head commit (any state: a comment
    /// review too; on GitLab, each note a user wrote while the head was the commit under
    /// test), where a senior may accept a difference (`faultline accept ID`).
    pub said: Vec<(String, String, String)>,
}

/// The pull request's approvals, from its code host. Every failure (no token, an API error,
/// a reply of another shape) is an error: the caller fails closed.
pub(crate) async fn approvals(host: &HostRef) -> Result<HostApprovals, CodeHostError> {
    match host {
        HostRef::GitHub { .. } => github::approvals(host).await,
        HostRef::GitLab { .. } => gitlab::approvals(host).await,
    }
    .map_err(|source| CodeHostError::Approvals { host: host.describe(), source })
}

/// What the CI environment says, read through `env` (the process's environment, or a test's
/// map). `Ok(None)`: not a CI system faultline knows, or not a pull request event. An event
/// file that cannot be read is an error (the gate fails closed rather than lose a label).
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<CiContext>, CodeHostError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if get("GITHUB_ACTIONS").is_some_and(|v| v == "true")
        && let Some(path) = get("GITHUB_EVENT_PATH")
    {
        let text =
            std::fs::read_to_string(&path).map_err(|source| CodeHostError::EventFile { path: path.clone(), source })?;
        let event: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| CodeHostError::EventJson { path, source })?;
        return github::context(&event, &get);
    }
    if get("GITLAB_CI").is_some_and(|v| v == "true") {
        return gitlab::context(&get);
    }
    Ok(None)
}

/// The process's environment, for [`from_env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `@login`, lower case: how handles are compared.
fn handle(login: &str) -> String {
    format!("@{}", login.trim().trim_start_matches('@').to_ascii_lowercase())
}

fn short(sha: &str) -> String {
    sha.chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::{ApiError, CodeHostError};

    #[test]
    fn the_revisions_an_event_names_are_commit_ids_or_nothing() {
        let sha = "0123456789abcdef0123456789ABCDEF01234567";
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        // GitLab: merged results pipelines name the target's commit and the source's head.
        let vars: &'static [(&str, &str)] = &[
            ("GITLAB_CI", "true"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", "1111111111111111111111111111111111111111"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "2222222222222222222222222222222222222222"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", "3333333333333333333333333333333333333333"),
            ("CI_COMMIT_SHA", "4444444444444444444444444444444444444444"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "release/1.x"),
            ("CI_DEFAULT_BRANCH", "main"),
        ];
        let r = super::from_env(&env(vars)).unwrap().unwrap().revisions.unwrap();
        assert_eq!(r.default_base().as_deref(), Some("1111111111111111111111111111111111111111"));
        assert_eq!(r.default_head().as_deref(), Some("3333333333333333333333333333333333333333"));
        assert_eq!(r.base_branch.as_deref(), Some("release/1.x"));
        // Other pipelines: the diff base is only contained; the base is the fetched target.
        let vars: &'static [(&str, &str)] = &[
            ("GITLAB_CI", "true"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "2222222222222222222222222222222222222222"),
            ("CI_COMMIT_SHA", "4444444444444444444444444444444444444444"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ];
        let r = super::from_env(&env(vars)).unwrap().unwrap().revisions.unwrap();
        assert!(!r.base.as_ref().unwrap().exact);
        assert_eq!(r.default_base().as_deref(), Some("refs/remotes/origin/main"));
        assert_eq!(r.head.unwrap().field, "CI_COMMIT_SHA");
        // A branch name that is no ref name is not used; a sha that is no sha is an error.
        assert_eq!(super::branch_name(Some("a..b")), None);
        assert_eq!(super::branch_name(Some(" main ")).as_deref(), Some("main"));
        let c = super::event_commit("x", "f", Some(sha), true).unwrap().unwrap();
        assert_eq!(c.sha, sha.to_ascii_lowercase());
        for bad in ["main", "0123", "0123456789abcdef0123456789abcdef0123456z"] {
            let e = super::event_commit("GitHub event file", "pull_request.base.sha", Some(bad), true).unwrap_err();
            assert!(e.to_string().contains("not a full commit id"), "{e}");
        }
        assert_eq!(super::event_commit("x", "f", Some(" "), true).unwrap(), None);
    }

    #[test]
    fn an_unreadable_host_says_which_and_why() {
        let e = CodeHostError::Approvals {
            host: "GitHub pull request o/r#1".into(),
            source: ApiError::Status {
                url: "http://h/x".into(),
                status: hyper::StatusCode::BAD_GATEWAY,
                body: "".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "cannot read the approvals of GitHub pull request o/r#1: GET http://h/x: 502 Bad Gateway: "
        );
        let e = ApiError::NoToken("set FAULTLINE_GITLAB_TOKEN (read_api) for the job");
        assert_eq!(e.to_string(), "no token: set FAULTLINE_GITLAB_TOKEN (read_api) for the job");
        let e = ApiError::Shape { url: "http://h/a".into(), what: "no `approved_by`" };
        assert_eq!(e.to_string(), "GET http://h/a: no `approved_by`");
    }
}
