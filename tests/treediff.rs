//! faultline's tree diff agrees with `git diff --name-status -M` on the same revisions.

mod common;

use common::TestRepo;

fn git_name_status(repo: &TestRepo) -> Vec<(char, String, Option<String>)> {
    let out = repo.git(&["-c", "core.quotePath=false", "diff", "--name-status", "-M", "--no-color", "main...feat"]);
    let mut v: Vec<_> = out
        .lines()
        .map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            let status = parts[0].chars().next().unwrap();
            match status {
                'R' | 'C' => (status, parts[2].to_owned(), Some(parts[1].to_owned())),
                _ => (status, parts[1].to_owned(), None),
            }
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

fn faultline_name_status(repo: &TestRepo) -> Vec<(char, String, Option<String>)> {
    let plan = repo.plan_json(&["--base", "main", "--head", "feat"]);
    plan["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let letter = match c["status"].as_str().unwrap() {
                "added" => 'A',
                "modified" => 'M',
                "deleted" => 'D',
                "renamed" => 'R',
                "copied" => 'C',
                "typechange" => 'T',
                s => panic!("{s}"),
            };
            (letter, c["path"].as_str().unwrap().to_owned(), c["old_path"].as_str().map(str::to_owned))
        })
        .collect()
}

#[test]
fn agrees_with_git_on_renames_typechanges_modes_and_dir_swaps() {
    let repo = TestRepo::shop();
    let long = (0..40).map(|i| format!("line {i} of a long enough file\n")).collect::<String>();
    repo.write("services/orders/src/big.rs", &long);
    repo.write("services/orders/src/exact.rs", "exactly the same content, moved elsewhere\n");
    repo.write("services/web/thing", "a file that becomes a directory\n");
    repo.write("services/web/dir/inner.txt", "a directory that becomes a file\n");
    repo.write("services/web/tool.sh", "#!/bin/sh\necho hi\n");
    repo.write("services/web/link-target", "target\n");
    repo.commit("more files");

    repo.git(&["checkout", "-q", "-b", "feat"]);
    // Similar rename across directories (a few lines edited).
    repo.remove("services/orders/src/big.rs");
    repo.write("services/payments/src/moved_big.rs", long.replace("line 3 of", "line three of"));
    // Exact rename into a new nested directory.
    std::fs::create_dir_all(repo.path.join("services/web/a/b/c")).unwrap();
    repo.git(&["mv", "services/orders/src/exact.rs", "services/web/a/b/c/exact.rs"]);
    // File becomes directory, directory becomes file.
    repo.remove("services/web/thing");
    repo.write("services/web/thing/now_a_dir.txt", "x\n");
    std::fs::remove_dir_all(repo.path.join("services/web/dir")).unwrap();
    repo.write("services/web/dir", "now a file\n");
    // Mode change only, and a file replaced by a symlink (typechange).
    repo.git(&["update-index", "--chmod=+x", "services/web/tool.sh"]);
    #[cfg(unix)]
    {
        repo.remove("services/web/link-target");
        std::os::unix::fs::symlink("tool.sh", repo.path.join("services/web/link-target")).unwrap();
    }
    // Plain edits, additions and deletions.
    repo.write("services/payments/src/main.rs", "fn main() { charge(); refund(); }\n");
    repo.write("docs/new page.md", "# New\n");
    repo.remove("docs/guide.md");
    repo.git(&["add", "-A"]);
    repo.git(&["update-index", "--chmod=+x", "services/web/tool.sh"]);
    repo.git(&["commit", "-q", "-m", "reshuffle"]);

    let ours = faultline_name_status(&repo);
    let git = git_name_status(&repo);
    assert_eq!(ours, git);
    assert!(ours.iter().any(|c| c.0 == 'R' && c.1 == "services/payments/src/moved_big.rs"), "{ours:?}");
    assert!(ours.iter().any(|c| c.0 == 'R' && c.1 == "services/web/a/b/c/exact.rs"), "{ours:?}");
    #[cfg(unix)]
    assert!(ours.iter().any(|c| c.0 == 'T' && c.1 == "services/web/link-target"), "{ours:?}");
}
