//! GitHub: the event file of a `pull_request` / `pull_request_review` /
//! `pull_request_target` run, and `GET /repos/{repo}/pulls/{n}/reviews`.

use std::collections::BTreeMap;

use super::{
    ApiError, CiContext, CodeHostError, EventRevisions, HostApprovals, HostRef, Secret, branch_name, event_commit,
    handle, http, short,
};

/// Pages of reviews read at most (100 reviews a page).
const MAX_PAGES: usize = 20;

pub(super) fn context(
    event: &serde_json::Value,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CiContext>, CodeHostError> {
    let Some(pr) = event.get("pull_request").filter(|p| p.is_object()) else { return Ok(None) };
    let labels = pr
        .get("labels")
        .and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|l| l.get("name")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let author = pr.pointer("/user/login").and_then(|l| l.as_str()).map(|l| l.to_owned());
    let host = match (
        pr.get("number").and_then(|n| n.as_u64()),
        pr.pointer("/head/sha").and_then(|s| s.as_str()),
        get("GITHUB_REPOSITORY")
            .or_else(|| event.pointer("/repository/full_name").and_then(|s| s.as_str()).map(str::to_owned)),
    ) {
        (Some(number), Some(sha), Some(repo)) => Some(HostRef::GitHub {
            api: get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()).trim_end_matches('/').into(),
            repo,
            number,
            head_sha: sha.to_owned(),
            token: get("FAULTLINE_GITHUB_TOKEN").or_else(|| get("GITHUB_TOKEN")).map(Secret),
        }),
        _ => None,
    };
    Ok(Some(CiContext { source: "GitHub event file", labels, author, host, revisions: Some(revisions(event, pr)?) }))
}

/// `pull_request.base.sha` (the base branch's tip when the event was made), `head.sha`,
/// `base.ref` and `repository.default_branch`.
fn revisions(event: &serde_json::Value, pr: &serde_json::Value) -> Result<EventRevisions, CodeHostError> {
    const SOURCE: &str = "GitHub event file";
    let s = |p: &str| pr.pointer(p).and_then(|v| v.as_str());
    Ok(EventRevisions {
        source: SOURCE,
        base: event_commit(SOURCE, "pull_request.base.sha", s("/base/sha"), true)?,
        head: event_commit(SOURCE, "pull_request.head.sha", s("/head/sha"), true)?,
        base_branch: branch_name(s("/base/ref")),
        default_branch: branch_name(event.pointer("/repository/default_branch").and_then(|v| v.as_str())),
    })
}

pub(super) async fn approvals(host: &HostRef) -> Result<HostApprovals, ApiError> {
    let HostRef::GitHub { api, repo, number, head_sha, token } = host else {
        return Err(ApiError::OtherHost("GitHub pull request"));
    };
    let token = token.as_ref().ok_or(ApiError::NoToken(
        "give the gate step `GITHUB_TOKEN: ${{ github.token }}` in its env, with \
         `permissions: pull-requests: read`",
    ))?;
    let headers = [
        ("authorization", format!("Bearer {}", token.0)),
        ("x-github-api-version", "2022-11-28".to_owned()),
        ("accept", "application/vnd.github+json".to_owned()),
    ];
    let client = http::client()?;
    let mut url = Some(format!("{api}/repos/{repo}/pulls/{number}/reviews?per_page=100"));
    let mut reviews = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(u) = url.take() else { break };
        let reply = http::get_json(&client, &u, &headers).await?;
        let page = reply
            .json
            .as_array()
            .ok_or_else(|| ApiError::Shape { url: u.clone(), what: "expected a list of reviews" })?;
        reviews.extend(page.iter().cloned());
        url = reply.next;
    }
    if url.is_some() {
        return Err(ApiError::TooMany { what: "reviews", max: MAX_PAGES * 100 });
    }
    Ok(judge(&reviews, head_sha))
}

/// Each reviewer's last decisive review (approved, changes requested, dismissed; comments
/// change nothing), in the order GitHub lists them (oldest first). An approval counts only
/// when it is of the head commit; one of an earlier commit is stale.
pub(super) fn judge(reviews: &[serde_json::Value], head_sha: &str) -> HostApprovals {
    let mut last: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for r in reviews {
        let (Some(login), Some(state)) =
            (r.pointer("/user/login").and_then(|v| v.as_str()), r.get("state").and_then(|v| v.as_str()))
        else {
            continue;
        };
        if matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            last.insert(handle(login), (state, r.get("commit_id").and_then(|v| v.as_str()).unwrap_or("")));
        }
    }
    let mut out = HostApprovals::default();
    for r in reviews {
        let (Some(login), Some(body), Some(commit)) = (
            r.pointer("/user/login").and_then(|v| v.as_str()),
            r.get("body").and_then(|v| v.as_str()),
            r.get("commit_id").and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        if !body.trim().is_empty() && commit.eq_ignore_ascii_case(head_sha) {
            out.said.push((body.to_owned(), handle(login), format!("GitHub review of {}", short(commit))));
        }
    }
    for (who, (state, commit)) in last {
        if state != "APPROVED" {
            continue;
        }
        if commit.eq_ignore_ascii_case(head_sha) {
            out.counted.push((who, format!("GitHub review of {}", short(commit))));
        } else {
            out.stale.push((
                who,
                short(commit),
                format!("approved an earlier head; the pull request's head is now {}", short(head_sha)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn only_the_last_decisive_review_of_the_head_counts() {
        let r =
            |login: &str, state: &str, sha: &str| json!({"user": {"login": login}, "state": state, "commit_id": sha});
        let reviews = [
            r("Alice", "APPROVED", "aaa"),
            r("alice", "COMMENTED", "bbb"),
            r("bob", "APPROVED", "bbb"),
            r("bob", "CHANGES_REQUESTED", "bbb"),
            r("carol", "APPROVED", "aaa"),
            r("dave", "APPROVED", "bbb"),
            r("dave", "DISMISSED", "bbb"),
        ];
        let got = super::judge(&reviews, "bbb");
        assert!(got.counted.is_empty(), "{got:?}");
        let got = super::judge(&reviews, "aaa");
        assert_eq!(got.counted.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["@alice", "@carol"]);
    }

    #[test]
    fn what_reviews_of_the_head_say_is_kept_whatever_their_state() {
        let r = |login: &str, state: &str, sha: &str, body: &str| json!({"user": {"login": login}, "state": state, "commit_id": sha, "body": body});
        let reviews = [
            r("Alice", "COMMENTED", "bbb", "faultline accept d-0123456789"),
            r("bob", "APPROVED", "aaa", "faultline accept d-9876543210"),
            r("carol", "APPROVED", "bbb", ""),
        ];
        let got = super::judge(&reviews, "bbb");
        assert_eq!(got.said.len(), 1, "{got:?}");
        assert_eq!((got.said[0].1.as_str(), got.said[0].2.as_str()), ("@alice", "GitHub review of bbb"));
        assert!(got.said[0].0.contains("d-0123456789"), "a review of an earlier head says nothing now");
    }
}
