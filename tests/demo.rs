//! The demo builds the example shop and plans both of its changes.

use faultline::demo;

#[test]
fn demo_plans_the_ai_retry_change_high_and_the_docs_fix_low() {
    let dir = tempfile::tempdir().unwrap();
    let d = demo::run(dir.path()).expect("demo runs");
    assert_eq!(d.changes.len(), 2);

    let retry = &d.changes[0].plan;
    assert!(retry.ai_assisted);
    assert_eq!(retry.tier, Some(faultline::config::Tier::High));
    assert_eq!(retry.stack, ["postgres", "redis", "payments", "orders"]);
    assert_eq!(retry.scenarios.len(), retry.scenarios_available);
    assert!(retry.scenarios.contains(&"postgres-paused".to_owned()));
    assert!(retry.signoff_required);

    let docs = &d.changes[1].plan;
    assert!(docs.ai_assisted);
    assert_eq!(docs.tier, Some(faultline::config::Tier::Low));
    assert!(docs.affected.is_empty() && docs.scenarios.is_empty() && !docs.signoff_required);

    let text = demo::render(&d);
    assert!(text.contains("the gate allows this change"), "{text}");
    assert!(text.contains("a senior must sign off"), "{text}");
}
