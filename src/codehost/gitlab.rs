//! GitLab: merge-request pipelines' variables, and
//! `GET /projects/{id}/merge_requests/{iid}`, `…/approvals`, `…/versions` and `…/notes`.

use std::time::{Duration, SystemTime};

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
    let mr_url = format!("{api}/projects/{project}/merge_requests/{iid}");
    let mr = http::get_json(&client, &mr_url, &headers).await?.json;
    let current = mr.get("sha").and_then(|s| s.as_str()).ok_or(ApiError::NoSha)?;
    let url = format!("{mr_url}/approvals");
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
    // What reviewers wrote, only while the commit under test is the head: a note names no
    // commit, so the merge request's versions (one a push) say since when it is.
    if current.eq_ignore_ascii_case(head_sha) {
        let url = format!("{mr_url}/versions?per_page=100");
        let versions = pages(&client, &url, &headers, "versions").await?;
        let since = head_since(&versions, head_sha).map_err(|what| ApiError::Shape { url, what })?;
        if let Some(since) = since {
            let notes = pages(&client, &format!("{mr_url}/notes?per_page=100&sort=asc"), &headers, "notes").await?;
            out.said = said(&notes, head_sha, since);
        }
    }
    Ok(out)
}

/// Pages of notes or versions read at most (100 a page), as for GitHub's reviews.
const MAX_PAGES: usize = 20;

/// Every item of a list `first` begins, page by page: the next page is GitLab's
/// `x-next-page` (a number, appended to `first`: the token goes nowhere else), else the
/// `Link` header's `rel="next"`. More than [`MAX_PAGES`] pages is an error.
async fn pages(
    client: &http::Client,
    first: &str,
    headers: &[(&str, String)],
    what: &'static str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut url = Some(first.to_owned());
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(u) = url.take() else { break };
        let reply = http::get_json(client, &u, headers).await?;
        let page = reply.json.as_array().ok_or_else(|| ApiError::Shape { url: u.clone(), what: "expected a list" })?;
        items.extend(page.iter().cloned());
        url = match reply.next_page {
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(format!("{first}&page={p}")),
            Some(_) => return Err(ApiError::Shape { url: u, what: "an `x-next-page` that is not a page number" }),
            None => reply.next,
        };
    }
    if url.is_some() {
        return Err(ApiError::TooMany { what, max: MAX_PAGES * 100 });
    }
    Ok(items)
}

/// When the commit under test became the merge request's head: the creation of the newest
/// version (`created_at`, then `id`), when its `head_commit_sha` is that commit; `None`
/// when a later push made another head. A version without a head or a time is an error:
/// skipping it could make an older version the newest.
pub(super) fn head_since(versions: &[serde_json::Value], head_sha: &str) -> Result<Option<SystemTime>, &'static str> {
    let mut newest: Option<(SystemTime, u64, &str)> = None;
    for v in versions {
        let (Some(head), Some(at)) = (
            v.get("head_commit_sha").and_then(|h| h.as_str()),
            v.get("created_at").and_then(|t| t.as_str()).and_then(time),
        ) else {
            return Err("a version without a `head_commit_sha` or a `created_at` time");
        };
        let id = v.get("id").and_then(|i| i.as_u64()).unwrap_or(0);
        if newest.is_none_or(|(t, i, _)| (at, id) > (t, i)) {
            newest = Some((at, id, head));
        }
    }
    Ok(newest.filter(|(_, _, head)| head.eq_ignore_ascii_case(head_sha)).map(|(at, _, _)| at))
}

/// `(text, @author, where)` of each note a user wrote (`system: false`) at or after `since`:
/// what was said about the commit under test. Notes GitLab writes (a push, a label) and
/// notes of another shape say nothing.
pub(super) fn said(notes: &[serde_json::Value], head_sha: &str, since: SystemTime) -> Vec<(String, String, String)> {
    notes
        .iter()
        .filter(|n| n.get("system").and_then(|s| s.as_bool()) == Some(false))
        .filter(|n| n.get("created_at").and_then(|t| t.as_str()).and_then(time).is_some_and(|at| at >= since))
        .filter_map(|n| {
            let who = n.pointer("/author/username").and_then(|u| u.as_str())?;
            let body = n.get("body").and_then(|b| b.as_str()).filter(|b| !b.trim().is_empty())?;
            Some((body.to_owned(), handle(who), format!("GitLab note of {}", short(head_sha))))
        })
        .collect()
}

/// An RFC 3339 time as GitLab writes it: UTC (`2024-05-01T10:00:00.123Z`), or with the
/// offset of the instance's time zone (`…+02:00`).
fn time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Some(utc) = s.strip_suffix(['Z', 'z']) {
        return humantime::parse_rfc3339(&format!("{utc}Z")).ok();
    }
    let (local, offset) = s.split_at_checked(s.len().checked_sub(6)?)?;
    let (sign, hm) = offset.split_at_checked(1)?;
    let (h, m) = hm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let off = Duration::from_secs(h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60);
    let at = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    match sign {
        "+" => at.checked_sub(off),
        "-" => at.checked_add(off),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    const HEAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const EARLIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn version(id: u64, head: &str, at: &str) -> serde_json::Value {
        json!({"id": id, "head_commit_sha": head, "base_commit_sha": EARLIER, "created_at": at})
    }

    fn note(who: &str, system: bool, at: &str, body: &str) -> serde_json::Value {
        json!({"id": 1, "body": body, "author": {"username": who}, "system": system, "created_at": at})
    }

    #[test]
    fn only_what_users_wrote_while_the_commit_is_the_head_is_kept() {
        let versions = [version(1, EARLIER, "2024-05-01T10:00:00.000Z"), version(2, HEAD, "2024-05-01T11:00:00.500Z")];
        let since = super::head_since(&versions, HEAD).unwrap().expect("the head is the commit under test");
        let notes = [
            note("alice", false, "2024-05-01T10:30:00.000Z", "faultline accept d-0000000001"),
            note("alice", false, "2024-05-01T11:00:00.500Z", "faultline accept d-0000000002"),
            note("Bob", false, "2024-05-01T13:05:00.000+02:00", "faultline accept d-0000000003"),
            note("alice", true, "2024-05-01T12:00:00.000Z", "faultline accept d-0000000004"),
            json!({"body": "faultline accept d-0000000005", "system": false, "created_at": "2024-05-01T12:00:00Z"}),
            note("carol", false, "yesterday", "faultline accept d-0000000006"),
            note("dave", false, "2024-05-01T12:00:00Z", "  "),
        ];
        let got = super::said(&notes, HEAD, since);
        let texts: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
        // Before the push (d-…1), GitLab's own note (4), no author (5), no time (6), nothing said.
        assert_eq!(texts, ["faultline accept d-0000000002", "faultline accept d-0000000003"], "{got:?}");
        assert_eq!((got[1].1.as_str(), got[1].2.as_str()), ("@bob", "GitLab note of bbbbbbbbbb"));
        // A later push: the commit under test is no longer the head, whatever the order.
        let later = [version(3, EARLIER, "2024-05-01T11:01:00Z"), versions[0].clone(), versions[1].clone()];
        assert_eq!(super::head_since(&later, HEAD), Ok(None));
        // Pushed back to it: only what was written since counts.
        let back = [version(4, HEAD, "2024-05-01T11:02:00Z"), later[0].clone(), versions[1].clone()];
        let since = super::head_since(&back, HEAD).unwrap().unwrap();
        let got = super::said(&notes, HEAD, since);
        assert_eq!(got.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), ["@bob"], "{got:?}");
        // A version of another shape could hide a later push: an error, not skipped.
        let broken = [versions[1].clone(), json!({"id": 3, "created_at": "2024-05-01T12:00:00Z"})];
        assert!(super::head_since(&broken, HEAD).is_err());
        assert_eq!(super::head_since(&[], HEAD), Ok(None));
    }

    #[test]
    fn gitlab_times_read_with_their_offset() {
        let utc = super::time("2024-05-01T11:00:00.250Z").unwrap();
        assert_eq!(super::time("2024-05-01T13:00:00.250+02:00"), Some(utc));
        assert_eq!(super::time("2024-05-01T10:30:00.250-00:30"), Some(utc));
        assert_eq!(super::time("2024-05-01T11:00:01Z"), utc.checked_add(Duration::from_millis(750)));
        for bad in ["2024-05-01T11:00:00", "2024-05-01T11:00:00+2:00", "2024-05-01T11:00:00*02:00", "", "é"] {
            assert_eq!(super::time(bad), None, "{bad}");
        }
    }
}
