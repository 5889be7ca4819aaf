//! What the common coding assistants and agents write into the commits they make, by default:
//! co-author trailers, their own trailers, bot authors and committers, and markers in the
//! message. Collected from the tools' own documentation and public commits:
//!
//! - Claude Code: `Co-Authored-By: Claude <noreply@anthropic.com>` (also with the model,
//!   `Claude Opus 4.7 (1M context)`), and `🤖 Generated with [Claude Code](…)` in the body;
//!   on the web, the author `Claude Code <noreply@anthropic.com>`; the GitHub app `claude[bot]`.
//! - GitHub Copilot: the coding agent authors as `Copilot <…+Copilot@users.noreply.github.com>`
//!   (`copilot-swe-agent[bot]`); Copilot CLI and VS Code add `Co-authored-by: Copilot <…>`.
//! - Cursor: `Co-authored-by: Cursor <cursoragent@cursor.com>`, the author `Cursor Agent
//!   <cursoragent@cursor.com>`, `Made-with: Cursor`, `Made with [Cursor](…)`.
//! - aider: `Co-authored-by: aider (MODEL) <noreply@aider.chat>`; older versions append
//!   ` (aider)` to the author's or committer's name.
//! - OpenCode: `Co-Authored-By: opencode <noreply@opencode.ai>`; OpenAI Codex:
//!   `chatgpt-codex-connector[bot]`, a Codex co-author; Gemini: `Co-authored-by: Gemini <…>`,
//!   `gemini-code-assist[bot]`; Devin `devin-ai-integration[bot]`; Jules
//!   `google-labs-jules[bot]`; OpenHands `openhands <openhands@all-hands.dev>`; Amazon Q
//!   `amazon-q-developer[bot]`; Sweep `sweep-ai[bot]`.
//! - Factory Droid: `Co-authored-by: factory-droid[bot] <138933559+factory-droid[bot]@users.noreply.github.com>`
//!   (Factory's own documentation repository, e.g. Factory-AI/factory#1264); the GitHub app
//!   `factory-droid[bot]`.
//! - Warp: `Co-Authored-By: Warp <agent@warp.dev>` (Warp's agent), and `Co-Authored-By: Oz
//!   <oz-agent@warp.dev>` from its cloud agents (warpdotdev/docs#85).
//! - Qwen Code: `Co-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>`, the default of its
//!   `gitCoAuthor` setting (QwenLM/qwen-code's shell tool and its tests).
//! - Replit Agent: the trailer `Replit-Commit-Author: Agent` (or `Assistant`) on every
//!   checkpoint commit (docs.replit.com/replitai/checkpoints-and-rollbacks says checkpoints
//!   are commits; the trailer itself is from public Replit repositories, not a document).
//! - Lovable: commits by its GitHub app, `gpt-engineer-app[bot]
//!   <159125892+gpt-engineer-app[bot]@users.noreply.github.com>`, the app being `lovable-dev[bot]`
//!   ("Commits are attributed to the Lovable bot", github.com/marketplace/lovablebot).
//! - CodeRabbit: `coderabbitai[bot] <136622811+coderabbitai[bot]@users.noreply.github.com>`, as
//!   the co-author of its applied suggestions and the author of the pull requests it opens.
//! - Crush (Charm): `Co-Authored-By: Crush <crush@charm.land>` and `💘 Generated with Crush`
//!   (charmbracelet/crush, `internal/llm/tools/bash.go`); users also write `Assisted-by: Crush`.
//! - grok: no default of xAI's was found. What public repositories' agent instructions write is
//!   recognised: `Co-Authored-By: Grok <noreply@x.ai>`, `Grok <grok@x.ai>`, `Grok Build
//!   <grok-build@x.ai>`, `Grok 4.6 <noreply@x.ai>`; only these addresses of `x.ai`, whose
//!   people commit too.
//! - Agent apps that open pull requests and commit as `NAME[bot]` (`AGENT_APPS`): besides the
//!   above, Codegen `codegen-sh[bot]`, Vercel v0 `v0[bot]`, Ellipsis `ellipsis-dev[bot]`
//!   (their `ID+NAME[bot]@users.noreply.github.com` addresses, seen in public commits). Other
//!   apps (`dependabot[bot]`, `renovate[bot]`, `github-actions[bot]`) are not agents.
//! - Projects' own conventions: `Assisted-by:` (Linux kernel, Fedora, OpenInfra),
//!   `Generated-by:` (Apache), `AI-assisted: true`.
//!
//! `policy.ai_assisted.builtin: false` switches these off; the policy's own patterns add to them.

use std::sync::LazyLock;

use regex::Regex;

/// Trailer keys that say an assistant took part, whatever their value.
const AI_KEYS: &[&str] = &["assisted-by", "generated-by", "ai-assisted", "ai-generated", "co-generated-by"];

/// Co-author names (the part before `<email>`) of assistants and agents.
static AI_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(
            claude(\s+(code|opus|sonnet|haiku|\d).*)?
          | (github\s+)?copilot(\s+.*)?
          | cursor(\s+agent)?
          | aider(\s*\(.*\))?
          | (openai\s+)?codex(\s+.*)?
          | chatgpt
          | gemini(\s+(cli|code\s+assist|\d).*)?
          | opencode
          | devin(\s+ai)?
          | jules
          | openhands(\s+agent)?
          | amazon\s+q(\s+developer)?
          | windsurf | cascade | codeium
          | junie | kiro | amp | goose | qwen[\s-]code | qwen-coder | tabnine
          | factory\s+droid | warp(\s+agent)? | crush
          | grok(\s+(build|code|cli|\d).*)?
        )\s*$",
    )
    .expect("valid regex")
});

/// GitHub apps of agents that commit or open pull requests as `NAME[bot]`, with the address
/// `ID+NAME[bot]@users.noreply.github.com`.
const AGENT_APPS: &[&str] = &[
    "copilot-swe-agent",
    "claude",
    "cursor",
    "devin-ai-integration",
    "google-labs-jules",
    "chatgpt-codex-connector",
    "gemini-code-assist",
    "amazon-q-developer",
    "sweep-ai",
    "openhands-agent",
    "factory-droid",
    "lovable-dev",
    "gpt-engineer-app",
    "coderabbitai",
    "codegen-sh",
    "v0",
    "ellipsis-dev",
];

/// `(a|b|c)` of the agent apps, for a regex.
fn apps() -> String {
    let names: Vec<String> = AGENT_APPS.iter().map(|a| regex::escape(a)).collect();
    format!("({})", names.join("|"))
}

/// Email addresses and domains the assistants commit with.
static AI_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(^noreply@anthropic\.com$|^cursoragent@cursor\.com$|@aider\.chat$|^noreply@opencode\.ai$|^openhands@all-hands\.dev$|^\d+\+copilot@users\.noreply\.github\.com$|^copilot@github\.com$|^noreply@openai\.com$|^codex@openai\.com$|^devin-ai-integration\[bot\]@|^(agent|oz-agent)@warp\.dev$|^qwen-coder@alibabacloud\.com$|^crush@charm\.land$|^(noreply|grok|grok-build)@x\.ai$|^\d+\+{}\[bot\]@users\.noreply\.github\.com$)",
        apps()
    ))
    .expect("valid regex")
});

/// Author or committer names of agents that commit on their own.
static AI_BOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(^(copilot|copilot-swe-agent|claude|claude code|cursor agent|devin-ai-integration|google-labs-jules|chatgpt-codex-connector|gemini-code-assist|amazon-q-developer|sweep-ai|openhands-agent|openhands|lovable)(\[bot\])?$|^{}\[bot\]$|\((aider|claude-code|claude|codex|cursor)\)$)",
        apps()
    ))
    .expect("valid regex")
});

/// Markers the assistants put in the message body.
static AI_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)(generated\s+(with|by)\s+\[?(claude\s+code|claude|copilot|cursor|aider|codex|gemini|opencode|devin|openhands|crush|qwen\s+code)\b|made\s+with\s+\[?cursor\b|co-authored\s+with\s+(claude|copilot|cursor|codex|gemini)\b|\bclaude\.(ai|com)/(code|claude-code)\b)",
    )
    .expect("valid regex")
});

/// The `(name, email)` of `Name <email>`; the email is empty when there is none.
pub(crate) fn split_person(s: &str) -> (&str, &str) {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => (s[..a].trim(), s[a + 1..b].trim()),
        _ => (s.trim(), ""),
    }
}

/// Whether the trailer `key: value` is one an assistant writes.
pub(crate) fn trailer(key: &str, value: &str) -> bool {
    let key = key.trim();
    if AI_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k)) {
        return true;
    }
    if key.eq_ignore_ascii_case("replit-commit-author") {
        // `Deployment` is Replit's own deploy commit, not an assistant.
        return ["agent", "assistant"].iter().any(|v| value.trim().eq_ignore_ascii_case(v));
    }
    if key.eq_ignore_ascii_case("made-with") || key.eq_ignore_ascii_case("generated-with") {
        return AI_NAME.is_match(value) || value.to_ascii_lowercase().contains("cursor");
    }
    if key.eq_ignore_ascii_case("co-authored-by") || key.eq_ignore_ascii_case("co-developed-by") {
        let (name, email) = split_person(value);
        return AI_NAME.is_match(name) || (!email.is_empty() && AI_EMAIL.is_match(email));
    }
    false
}

/// Whether `Name <email>` (an author or committer) is an assistant or agent.
pub(crate) fn person(who: &str) -> bool {
    let (name, email) = split_person(who);
    AI_BOT.is_match(name) || (!email.is_empty() && AI_EMAIL.is_match(email))
}

/// The marker an assistant left in `message`, if any.
pub(crate) fn marker(message: &str) -> Option<String> {
    AI_MARKER.find(message).map(|m| m.as_str().to_owned())
}

/// Lines of `message` shaped like trailers (`Key: value`), wherever they are: git reads
/// trailers only from the last paragraph, but an assistant's co-author line is evidence
/// wherever it stands.
pub(crate) fn trailer_lines(message: &str) -> impl Iterator<Item = (&str, &str)> {
    message.lines().filter_map(|l| {
        let (k, v) = l.split_once(':')?;
        let k = k.trim();
        (!k.is_empty() && k.len() <= 40 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .then_some((k, v.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_assistants_write_is_recognised() {
        for (k, v) in [
            ("Co-Authored-By", "Claude <noreply@anthropic.com>"),
            ("Co-authored-by", "Claude Opus 4.7 (1M context) <noreply@anthropic.com>"),
            ("co-authored-by", "Copilot <175728472+Copilot@users.noreply.github.com>"),
            ("Co-authored-by", "Cursor <cursoragent@cursor.com>"),
            ("Co-authored-by", "aider (openai/gpt-4o) <noreply@aider.chat>"),
            ("Co-Authored-By", "opencode <noreply@opencode.ai>"),
            ("Co-authored-by", "Gemini <gemini@google.com>"),
            ("Assisted-by", "Claude:claude-sonnet-4"),
            ("Generated-by", "Claude Code (Claude Opus 4.6)"),
            ("Ai-assisted", "true"),
            ("Made-with", "Cursor"),
            ("Co-authored-by", "factory-droid[bot] <138933559+factory-droid[bot]@users.noreply.github.com>"),
            ("Co-Authored-By", "Warp <agent@warp.dev>"),
            ("Co-Authored-By", "Oz <oz-agent@warp.dev>"),
            ("Co-authored-by", "Qwen-Coder <qwen-coder@alibabacloud.com>"),
            ("Replit-Commit-Author", "Agent"),
            ("Co-authored-by", "coderabbitai[bot] <136622811+coderabbitai[bot]@users.noreply.github.com>"),
            ("Co-Authored-By", "Crush <crush@charm.land>"),
            ("Co-Authored-By", "Grok <noreply@x.ai>"),
            ("Co-authored-by", "Grok Build <grok-build@x.ai>"),
            ("Co-authored-by", "ellipsis-dev[bot] <65095814+ellipsis-dev[bot]@users.noreply.github.com>"),
        ] {
            assert!(trailer(k, v), "{k}: {v}");
        }
        for (k, v) in [
            ("Co-authored-by", "Claude Monet <claude@monet.fr>"),
            ("Co-authored-by", "Ada Lovelace <ada@example.com>"),
            ("Reviewed-by", "Claude <noreply@anthropic.com>"),
            ("Signed-off-by", "Bob <bob@example.com>"),
            ("Replit-Commit-Author", "Deployment"),
            ("Co-authored-by", "Oz Cohen <oz@example.com>"),
            ("Co-authored-by", "Jane <jane@x.ai>"),
            ("Co-authored-by", "renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>"),
        ] {
            assert!(!trailer(k, v), "{k}: {v}");
        }
        for who in [
            "Copilot <198982749+Copilot@users.noreply.github.com>",
            "copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
            "Cursor Agent <cursoragent@cursor.com>",
            "Jane Doe (aider) <jane@example.com>",
            "devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
            "google-labs-jules[bot] <161369871+google-labs-jules[bot]@users.noreply.github.com>",
            "Claude Code <noreply@anthropic.com>",
            "claude[bot] <209825114+claude[bot]@users.noreply.github.com>",
            "gpt-engineer-app[bot] <159125892+gpt-engineer-app[bot]@users.noreply.github.com>",
            "lovable-dev[bot]",
            "coderabbitai[bot]",
            "factory-droid[bot]",
            "codegen-sh[bot] <131295404+codegen-sh[bot]@users.noreply.github.com>",
            "v0[bot]",
        ] {
            assert!(person(who), "{who}");
        }
        for who in [
            "Claude Monet <claude@monet.fr>",
            "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
            "github-actions[bot]",
            "v0 <v0@example.com>",
        ] {
            assert!(!person(who), "{who}");
        }
        assert!(marker("Fix it\n\n💘 Generated with Crush\n").is_some());
        assert!(marker("Fix it\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n").is_some());
        assert!(marker("Fix it\n\nMade with [Cursor](https://cursor.com)").is_some());
        assert!(marker("Generate the report with a cursor over the rows").is_none());
    }
}
