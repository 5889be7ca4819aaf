//! The demo's repository: the shop on `main`, the AI-assisted bug and the docs fix on
//! branches, planned as the gate will plan them. (The gating itself is exercised by
//! tests/shop.rs on the same kind of change.)

use faultline::change::ChangeSpec;
use faultline::config::Tier;
use faultline::plan::{ConfigFrom, PlanRequest, plan};
use faultline::repo::Repo;

fn planned(root: &std::path::Path, head: &str) -> faultline::plan::Plan {
    let req = PlanRequest {
        change: ChangeSpec::Revisions { base: "main".into(), head: head.into() },
        config_from: ConfigFrom::Base,
        labels: Vec::new(),
        author: None,
        event: None,
        protected_base: false,
        codeowners_host: None,
    };
    plan(&Repo::discover(root).unwrap(), &req).unwrap()
}

#[test]
fn the_demo_repository_holds_the_shop_and_both_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = faultline::demo::prepare(dir.path()).unwrap();
    assert!(root.join("images/postgres/Dockerfile").is_file());
    assert!(!root.join("services/orders/bin").exists(), "no build output is copied");

    let bug = planned(&root, "key-per-attempt");
    assert!(bug.ai_assisted);
    assert_eq!(bug.tier, Some(Tier::Medium));
    assert_eq!(bug.changed.len(), 1);
    assert_eq!(bug.stack, ["postgres", "redis", "payments", "orders"]);
    assert!(bug.scenarios.contains(&"charge-reply-lost".to_owned()));
    assert!(bug.signoff_required);

    let docs = planned(&root, "docs-typo");
    assert!(docs.ai_assisted);
    assert_eq!(docs.tier, Some(Tier::Low));
    assert!(docs.affected.is_empty() && docs.scenarios.is_empty() && !docs.signoff_required);
}

#[test]
fn the_demo_repository_holds_a_bug_only_exploration_catches() {
    let dir = tempfile::tempdir().unwrap();
    let root = faultline::demo::prepare(dir.path()).unwrap();
    let p = planned(&root, faultline::demo::EXPLORED);
    assert!(p.ai_assisted);
    assert_eq!(p.tier, Some(Tier::Medium));
    // The shop explores AI-assisted changes of the medium tier: orders, which has a workload.
    assert_eq!(p.explore, ["orders"]);
    assert!(p.gate.as_ref().is_some_and(|g| g.explore));
}
