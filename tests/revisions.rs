//! What the gate judges against comes from where the change cannot write: revisions that no
//! tag or branch can shadow, the code host's event, and a base on a branch the team protects.
//! Through the binary on real git repositories. No Docker: every rule here runs no scenario
//! (a sign-off decides), so a wrong base shows as an allow (exit 0) where the right one
//! blocks (exit 1), and the gate refuses (exit 2) while planning, before any container.

mod common;

use common::TestRepo;
use serde_json::{Value, json};

/// The team's configuration: a change to `api` needs a senior's sign-off.
const STRICT: &str = r#"version: 1
services:
  api:
    paths: ["api/**"]
    build: images/relay
    ports: [8080]
    ready: { http: /health }
policy:
  tiers:
    high: ["api/**"]
  gate:
    high: { scenarios: none, signoff: seniors }
  seniors: ["@alice"]
"#;

/// What an attacker's base would say: nothing needs a sign-off.
fn weak() -> String {
    STRICT.replace("signoff: seniors", "signoff: none")
}

/// `main` with the strict configuration; a branch `change` (checked out) that changes `api`.
fn repo() -> (TestRepo, String, String) {
    let r = TestRepo::relay(STRICT, &[], &[("api/main.txt", "v1\n")]);
    let main = r.git(&["rev-parse", "main"]);
    r.write("api/main.txt", "v2\n");
    let head = r.commit("api change");
    (r, main, head)
}

/// A commit off `main` whose faultline.yaml needs nothing (with `extra` appended), on no
/// branch: what someone with push access can point a tag or branch at.
fn weak_commit(r: &TestRepo, extra: &str) -> String {
    r.git(&["checkout", "-q", "-b", "tmp-weak", "main"]);
    r.write("faultline.yaml", weak() + extra);
    let c = r.commit("weaken the gate");
    r.git(&["checkout", "-q", "change"]);
    r.git(&["branch", "-q", "-D", "tmp-weak"]);
    c
}

fn gate(r: &TestRepo, args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    r.with_report(&[&["gate", "--seed", "1"], args].concat(), env)
}

fn short(id: &str) -> &str {
    &id[..12]
}

/// A GitHub `pull_request` event file; without `number`, so no API is called.
fn github_event(dir: &std::path::Path, base: &str, head: &str, default_branch: &str) -> String {
    let path = dir.join("event.json");
    let ev = json!({"action": "synchronize", "pull_request": {"labels": [], "user": {"login": "dev"},
        "base": {"sha": base, "ref": "main"}, "head": {"sha": head}},
        "repository": {"full_name": "shop/app", "default_branch": default_branch}});
    std::fs::write(&path, ev.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_name_that_is_two_refs_or_a_ref_and_a_commit_is_an_error_naming_both() {
    let (r, main, _) = repo();
    r.git(&["update-ref", "refs/remotes/origin/main", &main]);
    let evil = weak_commit(&r, "");
    // The judged base is right: a sign-off is missing.
    let (code, v, text) = gate(&r, &["--base", "origin/main"], &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["base"]["commit"], main.as_str());

    // A tag `origin/main`, a tag `main`, a branch named like the base's abbreviated id: git
    // would take each of them (tags and refs come before remote-tracking branches and ids).
    let abbrev = &main[..9];
    for (rev, make, theirs, ours) in [
        ("origin/main", ["tag", "origin/main", &evil], "refs/tags/origin/main", "refs/remotes/origin/main"),
        ("main", ["tag", "main", &evil], "refs/tags/main", "refs/heads/main"),
        (abbrev, ["branch", abbrev, &evil], &*format!("refs/heads/{abbrev}"), "the object"),
    ] {
        r.git(&make);
        let (code, v, text) = gate(&r, &["--base", rev], &[]);
        assert_eq!(code, 2, "`{rev}` must not be judged against either:\n{text}");
        assert!(v["plan"].is_null(), "nothing is planned: {v}");
        assert!(text.contains(&format!("revision `{rev}` is ambiguous")), "{text}");
        for part in [theirs, ours, short(&evil), short(&main), "refs/tags/", "refs/heads/"] {
            assert!(text.contains(part), "`{part}` is named:\n{text}");
        }
        // `faultline plan` resolves the same way.
        let out = r.faultline(&["plan", "--base", rev]);
        assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
        assert!(common::stderr(&out).contains("is ambiguous"), "{}", common::stderr(&out));
        let drop: &[&str] = if make[0] == "tag" { &["tag", "-d", make[1]] } else { &["branch", "-q", "-D", make[1]] };
        r.git(drop);
    }

    // A full ref or a full commit id means exactly that, whatever else shares the name.
    r.git(&["tag", "origin/main", &evil]);
    r.git(&["tag", "main", &evil]);
    for rev in ["refs/remotes/origin/main", "refs/heads/main", main.as_str()] {
        let (code, v, text) = gate(&r, &["--base", rev], &[]);
        assert_eq!(code, 1, "{rev}:\n{text}");
        assert_eq!(v["plan"]["base"]["commit"], main.as_str(), "{rev}");
    }
    // A branch named like a full commit id does not stand in for a commit that is missing.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    r.git(&["branch", missing, &evil]);
    let (code, _, text) = gate(&r, &["--base", missing], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

#[test]
fn the_gate_judges_the_revisions_the_pull_request_event_names() {
    let (r, first, head) = repo();
    // main moved on after the change branched off: the event names its newer tip.
    r.git(&["checkout", "-q", "main"]);
    r.write("README.md", "newer\n");
    let main = r.commit("a newer commit on main");
    r.git(&["checkout", "-q", "change"]);
    let evil = weak_commit(&r, "");
    r.git(&["branch", "evil", &evil]);
    let tmp = tempfile::tempdir().unwrap();
    let ev = github_event(tmp.path(), &main, &head, "main");
    let env = [("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", ev.as_str()), ("GITHUB_REPOSITORY", "shop/app")];

    // A --head other than the pull request's (the base itself, as a workflow that checks out
    // the base would give: nothing would change, and today that is an allow), a --base the
    // event does not name (an older commit of main, whose configuration may be older too):
    // could not verify, naming both commits and the event's field.
    for (args, which, ours, theirs, field) in [
        (["--base", "main", "--head", "main"], "head", &main, &head, "pull_request.head.sha"),
        (["--base", first.as_str(), "--head", "HEAD"], "base", &first, &main, "pull_request.base.sha"),
    ] {
        let (code, v, text) = gate(&r, &args, &env);
        assert_eq!(code, 2, "{args:?}:\n{text}");
        assert!(v["plan"].is_null(), "{v}");
        let given = args[if which == "base" { 1 } else { 3 }];
        assert!(text.contains(&format!("the {which} `{given}` is commit {ours}")), "{text}");
        assert!(text.contains(&format!("names {theirs} ({field})")), "{text}");
    }
    // Without --base and --head, the event's: the right verdict.
    let (code, v, text) = gate(&r, &[], &env);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["base"]["commit"], main.as_str());
    assert_eq!(v["plan"]["head"]["commit"], head.as_str());

    // A later commit that contains the event's base but is not the base branch's (a branch
    // of one's own with a weaker configuration) is refused by the protected branches.
    let (code, _, text) = gate(&r, &["--base", "evil"], &env);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not on a branch a change may be judged against"), "{text}");

    // The base branch moved on since the event: its later tip contains the event's base
    // and is judged against (its configuration is the branch's newest).
    r.git(&["checkout", "-q", "main"]);
    r.write("README.md", "later\n");
    let later = r.commit("a later commit on main");
    r.git(&["checkout", "-q", "change"]);
    let (code, v, text) = gate(&r, &["--base", "main"], &env);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["base"]["commit"], later.as_str());
    // The code host's test merge of the head (GitHub's refs/pull/N/merge) is the head too.
    r.git(&["checkout", "-q", "--detach", &later]);
    r.git(&["merge", "-q", "--no-ff", "--no-edit", &head]);
    let (code, v, text) = gate(&r, &["--base", "main", "--head", "HEAD"], &env);
    assert_eq!(code, 1, "{text}");
    assert_ne!(v["plan"]["head"]["commit"], head.as_str());

    // An event whose revisions are not commit ids is not guessed around.
    let bad = github_event(tmp.path(), "main", &head, "main");
    let (code, _, text) = gate(&r, &["--base", "main"], &[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_PATH", &bad)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("pull_request.base.sha") && text.contains("not a full commit id"), "{text}");
}

#[test]
fn gitlab_merge_request_variables_name_the_revisions() {
    let (r, main, head) = repo();
    r.git(&["update-ref", "refs/remotes/origin/main", &main]);
    let vars = [
        ("GITLAB_CI", "true"),
        ("CI_MERGE_REQUEST_IID", "3"),
        ("CI_MERGE_REQUEST_DIFF_BASE_SHA", main.as_str()),
        ("CI_COMMIT_SHA", head.as_str()),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
    ];
    // The pipeline's commit is the head: another --head is could not verify.
    let (code, _, text) = gate(&r, &["--base", "main", "--head", "main"], &vars);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains(&format!("names {head} (CI_COMMIT_SHA)")), "{text}");
    // Without --base: the fetched target branch (refs/remotes/origin/main, a full ref no tag
    // can shadow), which contains the merge request's diff base.
    r.git(&["tag", "origin/main", &head]);
    let (code, v, text) = gate(&r, &[], &vars);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["base"]["rev"], "refs/remotes/origin/main");
    assert_eq!(v["plan"]["head"]["commit"], head.as_str());
}

#[test]
fn a_base_off_the_protected_branches_is_could_not_verify() {
    let (r, main, _) = repo();
    // A branch of one's own whose configuration needs nothing.
    let evil = weak_commit(&r, "");
    r.git(&["branch", "evil", &evil]);
    // A feature branch that weakened the configuration for one commit and restored it,
    // merged into main: the weak commit is reachable from main, but was never its tip.
    r.git(&["checkout", "-q", "-b", "feature", "main"]);
    r.write("faultline.yaml", weak());
    let weak_moment = r.commit("weaken for a moment");
    r.write("faultline.yaml", STRICT);
    r.commit("restore");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["merge", "-q", "--no-ff", "--no-edit", "feature"]);
    let merged = r.git(&["rev-parse", "main"]);
    r.git(&["checkout", "-q", "change"]);

    for base in [weak_moment.as_str(), "evil"] {
        let (code, v, text) = gate(&r, &["--base", base], &[]);
        assert_eq!(code, 2, "{base}:\n{text}");
        assert!(v["plan"].is_null(), "{v}");
        assert!(text.contains("is not on a branch a change may be judged against: main"), "{text}");
        assert!(text.contains("the default branch"), "{text}");
    }
    // main's tip, and a commit that was main's tip before (first-parent history), are.
    for (base, behind) in [("main", 0), (main.as_str(), 1)] {
        let (code, v, text) = gate(&r, &["--base", base], &[]);
        assert_eq!(code, 1, "{base}:\n{text}");
        assert_eq!(v["plan"]["base_branch"]["branch"], "main");
        assert_eq!(v["plan"]["base_branch"]["behind"], behind, "{}", v["plan"]["base_branch"]);
        assert_eq!(v["plan"]["base_branch"]["tip"], merged.as_str());
    }
    // `faultline plan` shows any revisions.
    assert!(r.faultline(&["plan", "--base", "evil"]).status.success());
    // A base's own list does not count: it would let any branch list itself.
    let listed = weak_commit(&r, "  base_branches: [main, listed]\n");
    r.git(&["branch", "listed", &listed]);
    let (code, _, text) = gate(&r, &["--base", "listed"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not on a branch a change may be judged against: main"), "{text}");

    // The default branch's own configuration lists more branches (a glob too); the list
    // comes from the default branch, never from the base.
    r.git(&["checkout", "-q", "main"]);
    r.write("faultline.yaml", format!("{STRICT}  base_branches: [main, \"release/*\"]\n"));
    r.commit("judge release branches too");
    r.git(&["checkout", "-q", "-b", "release/1.x"]);
    r.write("RELEASE.md", "1.x\n");
    r.commit("release 1.x");
    r.git(&["checkout", "-q", "change"]);
    let (code, v, text) = gate(&r, &["--base", "release/1.x"], &[]);
    assert_eq!(code, 1, "{text}");
    assert_eq!(v["plan"]["base_branch"]["branch"], "release/1.x");
    assert!(v["plan"]["base_branch"]["listed_by"].as_str().unwrap().contains("policy.base_branches of main"));
    let (code, _, text) = gate(&r, &["--base", "evil"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("main, release/*"), "{text}");

    // The default branch the code host names wins over `main`: a base on main is then off.
    r.git(&["branch", "trunk", &main]);
    r.git(&["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk"]);
    r.git(&["update-ref", "refs/remotes/origin/trunk", &main]);
    let (code, _, text) = gate(&r, &["--base", "main"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("origin/HEAD"), "{text}");
    let (code, _, text) = gate(&r, &["--base", "trunk"], &[]);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn adopting_applies_only_while_the_protected_branch_has_no_configuration() {
    // main before faultline, then main adopts it (strict).
    let r = TestRepo::new();
    r.write("api/main.txt", "v1\n");
    let before = r.commit("before faultline");
    let relay = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/relay");
    for f in ["Dockerfile", "relay.py"] {
        r.write(format!("images/relay/{f}"), std::fs::read(relay.join(f)).unwrap());
    }
    r.write("faultline.yaml", STRICT);
    r.commit("adopt faultline");
    // A change made from before the adoption, bringing its own permissive configuration.
    r.git(&["checkout", "-q", "-b", "change", &before]);
    r.write("images/relay/Dockerfile", std::fs::read(relay.join("Dockerfile")).unwrap());
    r.write("images/relay/relay.py", std::fs::read(relay.join("relay.py")).unwrap());
    r.write("faultline.yaml", weak());
    r.write("api/main.txt", "v2\n");
    r.commit("api change with its own configuration");
    let (code, v, text) = gate(&r, &["--base", &before, "--adopting"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(!text.contains("NOT ENFORCED YET"), "{text}");
    assert!(text.contains("`main` has a faultline.yaml"), "{text}");
    assert!(v.is_null() || v["decision"] != "allow", "{v}");
    // A base of one's own without a configuration is no way around it.
    r.git(&["checkout", "-q", "--orphan", "bare"]);
    r.git(&["rm", "-q", "-rf", "--cached", "."]);
    r.write("api/main.txt", "v0\n");
    r.git(&["add", "api/main.txt"]);
    r.git(&["commit", "-q", "-m", "a base of one's own"]);
    r.git(&["checkout", "-q", "-f", "change"]);
    r.git(&["merge", "-q", "--allow-unrelated-histories", "-X", "ours", "--no-edit", "bare"]);
    let (code, _, text) = gate(&r, &["--base", "bare", "--adopting"], &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not on a branch a change may be judged against"), "{text}");
}

#[test]
fn base_branches_is_checked_where_it_is_written() {
    let r = TestRepo::relay(
        &format!("{STRICT}  base_branches: [main, refs/heads/release]\n"),
        &[],
        &[("api/main.txt", "v1\n")],
    );
    let out = r.faultline(&["plan", "--base", "main"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("`refs/heads/release` is not a branch name"), "{err}");
    assert!(err.contains("write the branch as the code host names it: `release`"), "{err}");
    assert!(err.contains("faultline.yaml:"), "{err}");
    let schema = String::from_utf8(r.faultline(&["schema"]).stdout).unwrap();
    assert!(schema.contains("base_branches") && schema.contains("\"assume\""), "{schema}");
}
