//! Which dependencies look like fallbacks: every call of one in a service's Python code is
//! reached only once an error was caught — inside an `except` block, after a `try` whose
//! body returns (so what follows runs only when it raised), or under an `if` that tests an
//! error. `faultline init` says so beside the edge: exploration's reference leaves such an
//! edge idle, and faults it while the fault that makes the service call it is on.
//!
//! Read from the text alone, by indentation (Python's blocks); code of other languages is
//! not judged (no edge is called a fallback from it).

/// A call of a dependency that is reached only after an error, where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fallback {
    /// `file:line` of the first call.
    pub at: String,
    /// How it is reached: "in an `except` block", "after a `try` (line N) that returns".
    pub how: String,
}

/// The lines (0-based) of `text` that name one of `needles` outside a comment, each with
/// how it is reached after an error (`None`: on the normal path). Empty when no line names
/// them.
pub fn calls(text: &str, needles: &[String]) -> Vec<(usize, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let code = l.trim_start();
        if code.starts_with('#') || !needles.iter().any(|n| !n.is_empty() && code.contains(n.as_str())) {
            continue;
        }
        out.push((i, after_error(&lines, i)));
    }
    out
}

/// Whether every line of `files` (name, text) naming one of `needles` is reached only after
/// an error: the first such call and how, or `None` when one is on the normal path or none
/// names them.
pub(crate) fn only_after_errors(files: &[(String, String)], needles: &[String]) -> Option<Fallback> {
    let mut first = None;
    for (name, text) in files {
        for (line, how) in calls(text, needles) {
            let how = how?;
            first.get_or_insert(Fallback { at: format!("{name}:{}", line + 1), how });
        }
    }
    first
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// A line that is no statement of its own: blank, a comment.
fn blank(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// Whether a block header's keyword is `word` (`except:`, `except (A, B) as e:`).
fn keyword(s: &str, word: &str) -> bool {
    s.strip_prefix(word).is_some_and(|r| r.starts_with([' ', ':', '(']))
}

/// An `if`/`elif` condition that tests an error.
fn tests_error(s: &str) -> bool {
    let Some(cond) = s.strip_prefix("if ").or_else(|| s.strip_prefix("elif ")) else { return false };
    let c = cond.to_ascii_lowercase();
    ["err", "fail", "exception", ">= 500", "> 499"].iter().any(|w| c.contains(w))
}

/// How line `t` is reached after an error, or `None` when it is on the normal path: walking
/// up from it, the headers of the blocks that hold it (an `except`, an `if` that tests an
/// error) and the statements before it in each (a `try` whose body returns at its top level:
/// what follows it runs only when the body raised). A function, class or module top stops
/// the walk.
fn after_error(lines: &[&str], t: usize) -> Option<String> {
    let mut cur = indent(lines[t]);
    let mut j = t;
    while j > 0 {
        j -= 1;
        let l = lines[j];
        if blank(l) {
            continue;
        }
        let ind = indent(l);
        let s = l.trim_start();
        if ind > cur {
            continue;
        }
        if ind < cur {
            // The header of a block that holds line `t`.
            if keyword(s, "except") {
                return Some(format!("in the `except` block at line {}", j + 1));
            }
            if tests_error(s) {
                return Some(format!("under `{}` (line {})", s.trim_end_matches(':'), j + 1));
            }
            if keyword(s, "def") || keyword(s, "async") || keyword(s, "class") {
                return None;
            }
            cur = ind;
            continue;
        }
        // A statement before it in the same block: the last clause of a `try` statement?
        if keyword(s, "except") || keyword(s, "else") || keyword(s, "finally") {
            let k = (0..j).rev().find(|&k| {
                indent(lines[k]) == cur && !blank(lines[k]) && {
                    let h = lines[k].trim_start();
                    keyword(h, "try") || !(keyword(h, "except") || keyword(h, "else") || keyword(h, "finally"))
                }
            })?;
            if keyword(lines[k].trim_start(), "try") && body_returns(lines, k, cur) {
                return Some(format!("after the `try` at line {} returns, so only when it raised", k + 1));
            }
            j = k;
            continue;
        }
        if keyword(s, "def") || keyword(s, "async") || keyword(s, "class") {
            // A function defined before it at the same level: not a block that holds it.
            continue;
        }
    }
    None
}

/// Whether the body of the `try:` at line `k` (indented deeper than `cur`) returns at its
/// own top level.
fn body_returns(lines: &[&str], k: usize, cur: usize) -> bool {
    let body: Vec<&str> =
        lines[k + 1..].iter().copied().filter(|l| !blank(l)).take_while(|l| indent(l) > cur).collect();
    let Some(first) = body.first() else { return false };
    let level = indent(first);
    body.iter().filter(|l| indent(l) == level).any(|l| keyword(l.trim_start(), "return"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needles(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    const GATEWAY: &str = "\
class Gateway(Handler):
    def do_POST(self):
        order = self.body()
        try:
            _, r = call(\"POST\", f\"{peers.url('inventory')}/reservations\", order)
            return self.reply(201, r)
        except urllib.error.HTTPError as e:
            if e.code in (400, 409):
                return self.reply(e.code, {})
            print('inventory answered')
        except OSError as e:
            print('inventory unavailable')
        # the inventory failed: take it as a backorder
        try:
            _, entry = call(\"POST\", f\"{peers.url('backorders')}/backorders\", order)
            return self.reply(202, entry)
        except OSError as e:
            return self.reply(503, {})

    def do_GET(self):
        try:
            book = call('GET', peers.url('catalog'))
        except OSError:
            book = call('GET', peers.url('mirror'))
        if err is not None:
            log(peers.url('audit'))
        return book
";

    #[test]
    fn a_call_after_a_try_that_returns_or_in_an_except_block_is_a_fallback() {
        let files = vec![("app.py".to_owned(), GATEWAY.to_owned())];
        let b = only_after_errors(&files, &needles(&["'backorders'"])).unwrap();
        assert_eq!(b.at, "app.py:15");
        assert!(b.how.contains("after the `try` at line 4 returns"), "{}", b.how);
        assert!(only_after_errors(&files, &needles(&["'inventory'"])).is_none());
        assert!(only_after_errors(&files, &needles(&["'catalog'"])).is_none());
        let m = only_after_errors(&files, &needles(&["'mirror'"])).unwrap();
        assert!(m.how.contains("`except` block at line 23"), "{}", m.how);
        let a = only_after_errors(&files, &needles(&["'audit'"])).unwrap();
        assert!(a.how.contains("if err is not None"), "{}", a.how);
        // Named nowhere: nothing to say; named once on the normal path: not a fallback.
        assert!(only_after_errors(&files, &needles(&["'reviews'"])).is_none());
        let both = vec![files[0].clone(), ("other.py".into(), "x = peers.url('backorders')\n".into())];
        assert!(only_after_errors(&both, &needles(&["'backorders'"])).is_none());
        // A comment naming it is no call.
        let commented = vec![("c.py".into(), "    # peers.url('catalog') is called below\n".into())];
        assert!(only_after_errors(&commented, &needles(&["'catalog'"])).is_none());
    }

    #[test]
    fn a_try_whose_body_does_not_return_leads_to_the_normal_path() {
        let text =
            "def f():\n    try:\n        a = call('a')\n    except OSError:\n        a = None\n    b = call('b')\n";
        assert_eq!(calls(text, &needles(&["'b'"])), vec![(5, None)]);
        // Odd input does not panic: tabs, a header alone, an except with no try.
        for t in ["\texcept:\n\t\tcall('x')\n", "except", "    except:\ncall('x')\n", "  call('x')\n except:\n"] {
            let _ = calls(t, &needles(&["'x'"]));
        }
    }
}
