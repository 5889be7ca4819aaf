//! Repository paths as git stores them: bytes, not necessarily UTF-8.

use std::fmt;
use std::path::Path;

use serde::{Serialize, Serializer};

/// A path relative to the repository root, exactly as git stores it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoPath(Vec<u8>);

impl RepoPath {
    pub(crate) fn new(bytes: impl Into<Vec<u8>>) -> Self {
        RepoPath(bytes.into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as the OS sees it, for glob matching (byte-exact on Unix).
    #[cfg(unix)]
    pub(crate) fn as_path(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        Path::new(std::ffi::OsStr::from_bytes(&self.0))
    }

    #[cfg(not(unix))]
    pub(crate) fn as_path(&self) -> &Path {
        Path::new(std::str::from_utf8(&self.0).unwrap_or(""))
    }

    pub(crate) fn starts_with_dir(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/').as_bytes();
        self.0.starts_with(dir) && self.0.get(dir.len()) == Some(&b'/')
    }
}

/// UTF-8 paths print as they are; any byte that is not valid UTF-8, and every control
/// character (a newline in a file name must not forge a line of a report), prints as `\xNN`,
/// so the text stays unambiguous and round-trips by hand.
impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            if valid.chars().any(char::is_control) {
                for c in valid.chars() {
                    if c.is_control() {
                        for b in c.to_string().bytes() {
                            write!(f, "\\x{b:02x}")?;
                        }
                    } else {
                        write!(f, "{c}")?;
                    }
                }
            } else {
                f.write_str(valid)?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for RepoPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The inverse of the display form: `\xNN` is the byte NN.
impl<'de> serde::Deserialize<'de> for RepoPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = Vec::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let hex = (b[i] == b'\\' && b.get(i + 1) == Some(&b'x'))
                .then(|| b.get(i + 2..i + 4))
                .flatten()
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 4;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        Ok(RepoPath(out))
    }
}

impl From<&str> for RepoPath {
    fn from(s: &str) -> Self {
        RepoPath(s.as_bytes().to_vec())
    }
}

/// `s` with control characters escaped (`\n`, `\u{1b}`), so a name or message written by a
/// change cannot forge a line of the plan or drive the terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_bytes_are_escaped() {
        assert_eq!(RepoPath::new(b"caf\xe9 menu.txt".to_vec()).to_string(), "caf\\xe9 menu.txt");
        assert_eq!(RepoPath::from("a b/ü.rs").to_string(), "a b/ü.rs");
    }

    #[test]
    fn dir_prefix() {
        assert!(RepoPath::from("scenarios/a.yaml").starts_with_dir("scenarios"));
        assert!(RepoPath::from("scenarios/a.yaml").starts_with_dir("scenarios/"));
        assert!(!RepoPath::from("scenarios2/a.yaml").starts_with_dir("scenarios"));
    }
}
