//! The examples of both hosts' documentation, each claim checked: GitHub's "About code
//! owners" (docs.github.com, "Example of a CODEOWNERS file", "Syntax exceptions") and
//! GitLab's "Syntax of CODEOWNERS file" and "Advanced CODEOWNERS configuration"
//! (docs.gitlab.com).

use super::*;
use crate::change::ChangeStatus;

/// `(area, owners, approvals)` of `path` under `text` read by `host`'s rules, in order;
/// `policy.seniors` when no entry requires an owner.
fn owners_of(host: CodeHost, text: &str, path: &str) -> Vec<(String, Vec<String>, u32)> {
    let mut owners = Owners { sections: vec![Section::new(UNNAMED, Vec::new())] };
    let mut skipped = Vec::new();
    match host {
        CodeHost::GitHub => read_github("CODEOWNERS", text, &mut owners.sections[0], &mut skipped),
        CodeHost::GitLab => read_gitlab("CODEOWNERS", text, &mut owners.sections),
    }
    let changed = [ChangedPath { path: RepoPath::from(path), status: ChangeStatus::Modified, old_path: None }];
    areas(&changed, &owners, &["@senior".to_owned()]).into_iter().map(|a| (a.area, a.seniors, a.approvals)).collect()
}

/// Just the owners of `path`, one list per area.
fn who(host: CodeHost, text: &str, path: &str) -> Vec<Vec<String>> {
    owners_of(host, text, path).into_iter().map(|a| a.1).collect()
}

fn v(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// GitHub's example file, every example of it (the last two are tried on their own below).
const GITHUB_EXAMPLE: &str = r"# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence. When someone opens a pull request that only
# modifies JS files, only @js-owner and not the global
# owner(s) will be requested for a review.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer. They'll be
# used to look up users just like we do for commit author
# emails.
*.go docs@example.com

# Teams can be specified as code owners as well. Teams should
# be identified in the format @org/team-name. Teams must have
# explicit write access to the repository. In this example,
# the octocats team in the octo-org organization owns all .txt files.
*.txt @octo-org/octocats

# In this example, @doctocat owns any files in the build/logs
# directory at the root of the repository and any of its
# subdirectories.
/build/logs/ @doctocat

# The `docs/*` pattern will match files like
# `docs/getting-started.md` but not further nested files like
# `docs/build-app/troubleshooting.md`.
docs/*  docs@example.com

# In this example, @octocat owns any file in an apps directory
# anywhere in your repository.
apps/ @octocat

# In this example, @doctocat owns any file in the `/docs`
# directory in the root of your repository and any of its
# subdirectories.
/docs/ @doctocat

# In this example, any change inside the `/scripts` directory
# will require approval from @doctocat or @octocat.
/scripts/ @doctocat @octocat

# In this example, @octocat owns any file in a `/logs` directory such as
# `/build/logs`, `/scripts/logs`, and `/deeply/nested/logs`. Any changes
# in a `/logs` directory will require approval from @octocat.
**/logs @octocat
";

/// The example file up to the line that starts with `last`: what each example's comment
/// says holds there (a later line may take the path over).
fn github_upto(last: &str) -> String {
    let mut out = String::new();
    for l in GITHUB_EXAMPLE.lines() {
        out.push_str(l);
        out.push('\n');
        if l.starts_with(last) {
            break;
        }
    }
    out
}

#[test]
fn the_github_example_file_means_what_its_comments_say() {
    use CodeHost::GitHub;
    let global = || vec![v(&["@global-owner1", "@global-owner2"])];
    let t = github_upto("*  ");
    assert_eq!(who(GitHub, &t, "README.md"), global());
    let t = github_upto("*.js");
    assert_eq!(who(GitHub, &t, "src/app.js"), [v(&["@js-owner"])], "the inline comment is no owner");
    assert_eq!(who(GitHub, &t, "README.md"), global());
    assert_eq!(who(GitHub, &github_upto("*.go"), "cmd/main.go"), [v(&["docs@example.com"])]);
    assert_eq!(who(GitHub, &github_upto("*.txt"), "a/notes.txt"), [v(&["@octo-org/octocats"])]);
    let t = github_upto("/build/logs/");
    assert_eq!(who(GitHub, &t, "build/logs/a.log"), [v(&["@doctocat"])]);
    assert_eq!(who(GitHub, &t, "build/logs/x/y.log"), [v(&["@doctocat"])], "and its subdirectories");
    assert_eq!(who(GitHub, &t, "x/build/logs/a.log"), global(), "at the root only");
    let t = github_upto("docs/*");
    assert_eq!(who(GitHub, &t, "docs/getting-started.md"), [v(&["docs@example.com"])]);
    assert_eq!(who(GitHub, &t, "docs/build-app/troubleshooting.md"), global(), "not nested files");
    let t = github_upto("apps/");
    assert_eq!(who(GitHub, &t, "apps/main.c"), [v(&["@octocat"])]);
    assert_eq!(who(GitHub, &t, "deep/er/apps/main.c"), [v(&["@octocat"])], "anywhere");
    let t = github_upto("/docs/");
    assert_eq!(who(GitHub, &t, "docs/build-app/troubleshooting.md"), [v(&["@doctocat"])]);
    assert_eq!(who(GitHub, &t, "x/docs/a.md"), global());
    assert_eq!(who(GitHub, &github_upto("/scripts/"), "scripts/x/run.sh"), [v(&["@doctocat", "@octocat"])]);
    let t = github_upto("**/logs");
    for p in ["build/logs/a", "scripts/logs/a", "deeply/nested/logs/a"] {
        assert_eq!(who(GitHub, &t, p), [v(&["@octocat"])], "{p}");
    }
}

#[test]
fn a_github_line_without_owners_leaves_its_paths_to_the_seniors() {
    use CodeHost::GitHub;
    // "@octocat owns any file in the `/apps` directory … except for the `/apps/github`
    // subdirectory, as its owners are left empty."
    let t = "/apps/ @octocat\n/apps/github\n";
    assert_eq!(who(GitHub, t, "apps/main.c"), [v(&["@octocat"])]);
    assert_eq!(owners_of(GitHub, t, "apps/github/x.c"), [("policy.seniors".to_owned(), v(&["@senior"]), 1)]);
    // "… except for the `/apps/github` subdirectory, as this subdirectory has its own owner"
    let t = "/apps/ @octocat\n/apps/github @doctocat\n";
    assert_eq!(who(GitHub, t, "apps/github/x.c"), [v(&["@doctocat"])]);
    assert_eq!(who(GitHub, t, "apps/main.c"), [v(&["@octocat"])]);
}

#[test]
fn github_skips_what_it_does_not_support_and_earlier_lines_keep_their_paths() {
    let text = "* @all\n!docs/ @nobody\ndocs/[ab].md @ranges\n\\#notes @pound\ndocs/ @writers x\n";
    let mut owners = Owners { sections: vec![Section::new(UNNAMED, Vec::new())] };
    let mut skipped = Vec::new();
    read_github(".github/CODEOWNERS", text, &mut owners.sections[0], &mut skipped);
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(skipped[0].starts_with(".github/CODEOWNERS:2: !docs/ @nobody: `!`"), "{skipped:?}");
    assert!(skipped[3].contains("`x` is not an owner"), "{skipped:?}");
    let changed = [ChangedPath { path: RepoPath::from("docs/a.md"), status: ChangeStatus::Modified, old_path: None }];
    let a = areas(&changed, &owners, &[]);
    assert_eq!(a[0].seniors, ["@all"]);
    // GitLab reads the same lines: `!` excludes, `[ab]` is a class, `\#` is a `#`.
    assert_eq!(who(CodeHost::GitLab, "* @all\n!docs/\n", "docs/b.md"), [v(&["@senior"])], "excluded");
    assert_eq!(who(CodeHost::GitLab, text, "docs/b.md"), [v(&["@ranges"])], "`docs/` replaced `!docs/` in place");
    assert_eq!(who(CodeHost::GitLab, "* @all\ndocs/[ab].md @ranges\n", "docs/b.md"), [v(&["@ranges"])]);
    assert_eq!(who(CodeHost::GitLab, "* @all\n\\#notes @pound\n", "#notes"), [v(&["@pound"])]);
}

/// GitLab's syntax page: its first example file.
#[test]
fn the_gitlab_example_file_means_what_its_comments_say() {
    use CodeHost::GitLab;
    let t = r"# Specify a default Code Owner for all files with a wildcard:
* @default-owner

# Specify multiple Code Owners to a specific file:
README.md @doc-team @tech-lead

# Specify a Code Owner to all files with a specific extension:
*.rb @ruby-owner

# Specify Code Owners with usernames or email addresses:
LICENSE @legal janedoe@gitlab.com

# Use group names to match groups and nested groups:
README @group @group/with-nested/subgroup

# Specify a Code Owner to a directory and all its contents:
/docs/ @all-docs
/docs/* @root-docs
/docs/**/*.md @markdown-docs  # Match specific file types in any subdirectory
/db/**/index.md @index-docs   # Match a specific file name in any subdirectory

# Use a section to group related rules:
[Documentation]
ee/docs    @docs
docs       @docs

# Assign a role as a Code Owner:
/config/ @@maintainer
";
    assert_eq!(who(GitLab, t, "lib/x.c"), [v(&["@default-owner"])]);
    assert_eq!(who(GitLab, t, "sub/README.md"), [v(&["@doc-team", "@tech-lead"])]);
    assert_eq!(who(GitLab, t, "app/models/user.rb"), [v(&["@ruby-owner"])]);
    assert_eq!(who(GitLab, t, "LICENSE"), [v(&["janedoe@gitlab.com", "@legal"])]);
    assert_eq!(who(GitLab, t, "README"), [v(&["@group", "@group/with-nested/subgroup"])]);
    assert_eq!(who(GitLab, t, "docs/api/x.txt"), [v(&["@all-docs"])]);
    assert_eq!(who(GitLab, t, "docs/x.txt"), [v(&["@root-docs"])]);
    assert_eq!(who(GitLab, t, "docs/api/x.md"), [v(&["@markdown-docs"])], "no inline comment; no owner in it");
    assert_eq!(who(GitLab, t, "db/a/b/index.md"), [v(&["@index-docs"])]);
    // The section applies besides the unnamed one; `docs` names a file, not a directory.
    assert_eq!(who(GitLab, t, "ee/docs"), [v(&["@default-owner"]), v(&["@docs"])]);
    assert_eq!(who(GitLab, t, "docs/x.txt").len(), 1, "`docs` without `/` does not own docs/x.txt");
    assert_eq!(who(GitLab, t, "config/a.yml"), [v(&["@default-owner"]), v(&["@@maintainer"])]);
}

#[test]
fn gitlab_sections_each_apply_and_the_last_match_wins_within_one() {
    use CodeHost::GitLab;
    // "Sections": the owners of README.md and internal/README.md.
    let t = "* @admin\n\n[README Owners]\nREADME.md @user1 @user2\ninternal/README.md @user4\n\n[README other owners]\nREADME.md @user3\n";
    assert_eq!(who(GitLab, t, "README.md"), [v(&["@admin"]), v(&["@user1", "@user2"]), v(&["@user3"])]);
    assert_eq!(who(GitLab, t, "internal/README.md"), [v(&["@admin"]), v(&["@user4"]), v(&["@user3"])]);
    // "Set default Code Owner for a section".
    let t = "[Documentation] @docs-team\ndocs/\nREADME.md\n\n[Database] @database-team @agarcia\nmodel/db/\nconfig/db/database-setup.md @docs-team\n";
    assert_eq!(who(GitLab, t, "docs/a.md"), [v(&["@docs-team"])]);
    assert_eq!(who(GitLab, t, "model/db/schema.rb"), [v(&["@database-team", "@agarcia"])]);
    assert_eq!(who(GitLab, t, "config/db/database-setup.md"), [v(&["@docs-team"])]);
    // "Regular entries and sections": model/db/CHANGELOG.txt needs three approvals.
    let t = "# Required for all files\n* @general-approvers\n\n[Documentation] @docs-team\ndocs/\nREADME.md\n*.txt\n\n[Database] @database-team\nmodel/db/\nconfig/db/database-setup.md @docs-team\n";
    assert_eq!(
        who(GitLab, t, "model/db/CHANGELOG.txt"),
        [v(&["@general-approvers"]), v(&["@docs-team"]), v(&["@database-team"])]
    );
    // "Sections with duplicate names" are one, whatever the case; the first name is kept.
    let t = "[Documentation]\nee/docs/    @docs\ndocs/       @docs\n\n[Database]\nREADME.md  @database\nmodel/db/   @database\n\n[DOCUMENTATION]\nREADME.md  @docs\n";
    let areas: Vec<String> = owners_of(GitLab, t, "README.md").into_iter().map(|a| a.0).collect();
    assert_eq!(areas, ["CODEOWNERS:10: [Documentation] README.md", "CODEOWNERS:6: [Database] README.md"]);
    // "Define Code Owners for specific files or directories": the last match.
    assert_eq!(who(GitLab, "*.md @doc-team\nterms.md @legal-team\n", "terms.md"), [v(&["@legal-team"])]);
    // An entry of the same pattern replaces the earlier one where it stood.
    let t = "*.md @a\ndocs/* @b\n*.md @c\n";
    assert_eq!(who(GitLab, t, "x.md"), [v(&["@c"])]);
    assert_eq!(who(GitLab, t, "docs/x.md"), [v(&["@b"])]);
    assert_eq!(who(CodeHost::GitHub, t, "docs/x.md"), [v(&["@c"])], "GitHub: the last line");
}

#[test]
fn gitlab_optional_sections_approval_counts_and_exclusions() {
    use CodeHost::GitLab;
    // "Optional sections": `^[Go]` requires nobody.
    let t = "[Documentation]\n*.md @root\n\n[Ruby]\n*.rb @root\n\n^[Go]\n*.go @root\n";
    assert_eq!(owners_of(GitLab, t, "main.go")[0].0, "policy.seniors");
    assert_eq!(who(GitLab, t, "a.rb"), [v(&["@root"])]);
    // One required header of a section makes it required.
    assert_eq!(who(GitLab, "^[Go]\n*.go @a\n[go]\nmain.go @b\n", "cmd/main.go"), [v(&["@b"])]);
    assert_eq!(who(GitLab, "^[Go]\n*.go @a\n[go]\nmain.go @b\n", "x.go"), [v(&["@a"])], "required: its *.go too");
    // "Require multiple approvals from Code Owners".
    let t = "[Documentation][2]\n*.md @tech-writer-team\n\n[Ruby]\n*.rb @dev-team\n";
    assert_eq!(owners_of(GitLab, t, "a.md")[0].2, 2);
    assert_eq!(owners_of(GitLab, t, "a.rb")[0].2, 1);
    assert_eq!(owners_of(GitLab, "[Docs][0]\n*.md @w\n", "a.md")[0].2, 1, "0 is read as 1");
    // "Default Code Owners and optional sections".
    let t = "[Documentation][2] @docs-team\ndocs/\nREADME.md\n\n^[Database] @database-team\nmodel/db/\n";
    assert_eq!(
        owners_of(GitLab, t, "docs/a")[0],
        ("CODEOWNERS:2: [Documentation] docs/".into(), v(&["@docs-team"]), 2)
    );
    assert_eq!(owners_of(GitLab, t, "model/db/x")[0].0, "policy.seniors");
    // "Exclusion patterns".
    let t = "* @username\n!pom.xml\n\n[Ruby]\n*.rb @ruby-team\n!/config/**/*.rb\n";
    assert_eq!(owners_of(GitLab, t, "pom.xml")[0].0, "policy.seniors");
    assert_eq!(who(GitLab, t, "config/db/x.rb"), [v(&["@username"])]);
    assert_eq!(who(GitLab, t, "app/x.rb"), [v(&["@username"]), v(&["@ruby-team"])]);
    // "Exclusions are evaluated in order": excluded, a later entry cannot include it again.
    assert_eq!(
        owners_of(GitLab, "* @default-owner\n!*.rb\n/special/*.rb @ruby-owner\n", "special/a.rb")[0].0,
        "policy.seniors"
    );
    let t = "[Ruby]\n*.rb @ruby-team\n!/config/**/*.rb\n/config/routes.rb @ops\n";
    assert_eq!(owners_of(GitLab, t, "config/routes.rb")[0].0, "policy.seniors");
    // "Unparsable sections": `[Section name` is an entry; `docs/` stays in the unnamed section.
    let t = "* @group\n\n[Section name\ndocs/ @docs_group\n";
    assert_eq!(owners_of(GitLab, t, "docs/a")[0], ("CODEOWNERS:4: docs/".into(), v(&["@docs_group"]), 1));
    // "Malformed owners".
    assert_eq!(
        who(GitLab, "/path/* @group user_without_at_symbol @user_with_at_symbol\n", "path/a"),
        [v(&["@group", "@user_with_at_symbol"])]
    );
    // "Zero owners": needs no approval in its section.
    assert_eq!(owners_of(GitLab, "* @a\n[S]\nx.c\n", "x.c"), [("CODEOWNERS:1: *".into(), v(&["@a"]), 1)]);
}
