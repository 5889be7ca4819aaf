//! GitLab: merge-request pipelines' variables, and
//! `GET /projects/{id}/merge_requests/{iid}` and `…/approvals`.

use super::{
    ApiError, CiContext, CodeHostError, EventRevisions, HostApprovals, HostRef, Secret, branch_name, event_commit,
    handle, http, short,
};

pub(super) fn context(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<CiContext>, CodeHostError> {
    let Some(iid) = get("CI_MERGE_REQUEST_IID").and_then(|i| i.trim().parse().ok()) else { return Ok(None) };
    let labels = get("CI_MERGE_REQUEST_LABELS")
        .map(|l| l.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let token = get("FAULTLINE_GITLAB_TOKEN")
        .or_else(|| get("GITLAB_TOKEN"))
        .map(|t| ("private-token", Secret(t)))
        .or_else(|| get("CI_JOB_TOKEN").map(|t| ("job-token", Secret(t))));
    let host = match (get("CI_API_V4_URL"), get("CI_PROJECT_ID"), get("CI_COMMIT_SHA")) {
        (Some(api), Some(project), Some(head_sha)) => {
            Some(HostRef::GitLab { api: api.trim_end_matches('/').into(), project, iid, head_sha, token })
        }
        _ => None,
    };
    Ok(Some(CiContext {
        source: "GitLab CI variables",
        labels,
        // GitLab names who started the pipeline, not who opened the merge request.
        author: None,
        host,
        revisions: Some(revisions(get)?),
    }))
}

/// The base: `CI_MERGE_REQUEST_TARGET_BRANCH_SHA` (merged results pipelines: the target
/// branch's commit the merge was made on), else `CI_MERGE_REQUEST_DIFF_BASE_SHA` (the merge
/// request's diff base, a commit the base must contain: GitLab does not name the target's
/// commit in other pipelines). The head: `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` (merged results
/// pipelines, where `CI_COMMIT_SHA` is the merge), else `CI_COMMIT_SHA`.
fn revisions(get: &dyn Fn(&str) -> Option<String>) -> Result<EventRevisions, CodeHostError> {
    const SOURCE: &str = "GitLab CI variables";
    let base = match event_commit(
        SOURCE,
        "CI_MERGE_REQUEST_TARGET_BRANCH_SHA",
        get("CI_MERGE_REQUEST_TARGET_BRANCH_SHA").as_deref(),
        true,
    )? {
        Some(b) => Some(b),
        None => event_commit(
            SOURCE,
            "CI_MERGE_REQUEST_DIFF_BASE_SHA",
            get("CI_MERGE_REQUEST_DIFF_BASE_SHA").as_deref(),
            false,
        )?,
    };
    let head = match event_commit(
        SOURCE,
        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
        get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA").as_deref(),
        true,
    )? {
        Some(h) => Some(h),
        None => event_commit(SOURCE, "CI_COMMIT_SHA", get("CI_COMMIT_SHA").as_deref(), true)?,
    };
    Ok(EventRevisions {
        source: SOURCE,
        base,
        head,
        base_branch: branch_name(get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME").as_deref()),
        default_branch: branch_name(get("CI_DEFAULT_BRANCH").as_deref()),
    })
}

pub(super) async fn approvals(host: &HostRef) -> Result<HostApprovals, ApiError> {
    let HostRef::GitLab { api, project, iid, head_sha, token } = host else {
        return Err(ApiError::OtherHost("GitLab merge request"));
    };
    let (name, token) = token.as_ref().ok_or(ApiError::NoToken("set FAULTLINE_GITLAB_TOKEN (read_api) for the job"))?;
    let headers = [(*name, token.0.clone())];
    let client = http::client()?;
    let mr = http::get_json(&client, &format!("{api}/projects/{project}/merge_requests/{iid}"), &headers).await?.json;
    let current = mr.get("sha").and_then(|s| s.as_str()).ok_or(ApiError::NoSha)?;
    let url = format!("{api}/projects/{project}/merge_requests/{iid}/approvals");
    let reply = http::get_json(&client, &url, &headers).await?.json;
    let by = reply
        .get("approved_by")
        .and_then(|a| a.as_array())
        .ok_or_else(|| ApiError::Shape { url: url.clone(), what: "no `approved_by`" })?;
    let mut out = HostApprovals::default();
    for a in by {
        let Some(login) = a.pointer("/user/username").and_then(|u| u.as_str()) else { continue };
        if current.eq_ignore_ascii_case(head_sha) {
            out.counted.push((handle(login), format!("GitLab approval of {}", short(current))));
        } else {
            out.stale.push((
                handle(login),
                short(current),
                format!("given while the merge request's head is {}, not the commit under test", short(current)),
            ));
        }
    }
    Ok(out)
}
