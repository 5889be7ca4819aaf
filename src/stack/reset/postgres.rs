//! PostgreSQL: every database copied to a template database once (`CREATE DATABASE
//! faultline_snap_… TEMPLATE db`), and restored from it on every reset (`DROP DATABASE …
//! WITH (FORCE)`, `CREATE DATABASE db TEMPLATE faultline_snap_…`), with `psql` inside the
//! container, as the role its environment names (`POSTGRES_USER`, as the fixture image and
//! the common images take it). The server keeps running: nothing to start or wait for.
//!
//! The fingerprint: roles, databases, and per database every table's row count and the
//! md5 of its rows in order, every sequence's last value, the columns of every table.

use super::{Fingerprint, ResetError, fail};
use crate::stack::Stack;

/// The databases saved at the checkpoint: (name, its template's name).
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    databases: Vec<(String, String)>,
}

/// Runs a psql script inside the container, connected to `template1` (no database restored
/// is ever connected to by faultline). `$1` of the shell is `arg`.
const RUN: &str = r#"set -e
U="${POSTGRES_USER:-${PGUSER:-postgres}}"
psql() { command psql -X -q -v ON_ERROR_STOP=1 -tA -U "$U" "$@"; }
"#;

/// What is not a database of the application.
const NOT_APP: &str = r"NOT datistemplate AND datname NOT LIKE 'faultline\_snap\_%'";

async fn sh(stack: &Stack, service: &str, script: &str, args: &[&str]) -> Result<String, ResetError> {
    let script = format!("{RUN}{script}");
    let mut cmd = vec!["sh", "-c", &script, "sh"];
    cmd.extend_from_slice(args);
    let (code, out) = stack.exec(service, &cmd).await.map_err(|e| fail(service)(e.to_string()))?;
    if code != 0 {
        return Err(fail(service)(format!("psql failed (exit {code}): {}", crate::stack::image::tail(out.trim(), 5))));
    }
    Ok(out)
}

/// Copies every database of the application to a template.
pub(crate) async fn snapshot(stack: &Stack, service: &str) -> Result<Snapshot, ResetError> {
    let sql = format!(
        r"SELECT format('DROP DATABASE %I', datname) FROM pg_database WHERE datname LIKE 'faultline\_snap\_%' \gexec
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND datname IS NOT NULL;
SELECT format('CREATE DATABASE %I TEMPLATE %I', 'faultline_snap_' || md5(datname), datname) FROM pg_database WHERE {NOT_APP} ORDER BY datname \gexec
SELECT 'db ' || encode(convert_to(datname, 'UTF8'), 'hex') || ' ' || encode(convert_to('faultline_snap_' || md5(datname), 'UTF8'), 'hex') FROM pg_database WHERE {NOT_APP} ORDER BY datname;
"
    );
    let out = sh(stack, service, r#"printf '%s\n' "$1" | psql -d template1 -f -"#, &[&sql]).await?;
    let mut databases = Vec::new();
    for line in out.lines() {
        let mut parts = line.split(' ');
        if parts.next() != Some("db") {
            continue;
        }
        let name = parts.next().and_then(unhex);
        let snap = parts.next().and_then(unhex);
        match (name, snap) {
            (Some(n), Some(s)) => databases.push((n, s)),
            _ => return Err(fail(service)(format!("unexpected psql output: {line}"))),
        }
    }
    Ok(Snapshot { databases })
}

/// Returns the databases to the snapshot: each database whose fingerprint differs from
/// `base` is dropped and created again from its template, and any database the scenario
/// created is dropped; the ones it left alone are not touched (a copy costs a quarter of a
/// second each). Returns the fingerprint and data directories after the restore, for the
/// reset's proof: read in the same `docker exec` as the restore, or, when nothing had to be
/// restored, the one that found nothing changed (each exec of psql costs a tenth of a second
/// or more).
pub(crate) async fn restore(
    stack: &Stack,
    service: &str,
    snap: &Snapshot,
    base: &Fingerprint,
) -> Result<(Fingerprint, Vec<String>), ResetError> {
    let (now, dirs) = fingerprint(stack, service).await?;
    let key = |db: &str| format!("database {db}");
    let mut sql = String::new();
    let saved: Vec<&str> = snap.databases.iter().map(|(n, _)| n.as_str()).collect();
    for db in
        now.get("databases").map(|l| l.split(',').filter(|d| !d.is_empty()).collect::<Vec<_>>()).unwrap_or_default()
    {
        if !saved.contains(&db) && db != "template0" && db != "template1" {
            sql.push_str(&format!("DROP DATABASE {} WITH (FORCE);\n", ident(db)));
        }
    }
    for (name, template) in &snap.databases {
        if now.get(&key(name)) != base.get(&key(name)) || !now.contains_key(&key(name)) {
            sql.push_str(&format!(
                "DROP DATABASE IF EXISTS {0} WITH (FORCE);\nCREATE DATABASE {0} TEMPLATE {1};\n",
                ident(name),
                ident(template)
            ));
        }
    }
    if sql.is_empty() {
        return Ok((now, dirs));
    }
    let script = format!("printf '%s\\n' \"$2\" | psql -d template1 -f - >/dev/null\n{FINGERPRINT}");
    parse(service, &sh(stack, service, &script, &[PER_DB, &sql]).await?)
}

/// Per database: every table's row count and rows' md5, sequences, columns.
const PER_DB: &str = r"SELECT format('SELECT %L || '' '' || count(*) || '' '' || md5(coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '''')) FROM %I.%I t', n.nspname || '.' || c.relname, n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' ORDER BY 1 \gexec
SELECT 'sequence ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, '-') FROM pg_sequences ORDER BY 1;
SELECT 'columns ' || md5(coalesce(string_agg(table_schema || '.' || table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_schema, table_name, ordinal_position), '')) FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema');
";

/// The shell script of the fingerprint; `$1` is [`PER_DB`]. Its databases are those of
/// [`NOT_APP`] (a test holds the two together).
const FINGERPRINT: &str = r#"psql -d template1 -c "SELECT 'roles' || chr(9) || string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles" \
  -c "SELECT 'databases' || chr(9) || string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname NOT LIKE 'faultline\_snap\_%'" \
  -c "SELECT 'dirs' || chr(9) || current_setting('data_directory') || ',' || current_setting('unix_socket_directories')"
psql -d template1 -c "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname NOT LIKE 'faultline\_snap\_%' ORDER BY 1" | while IFS= read -r db; do
  printf '%s\n' "$1" | psql -d "$db" -f - | while IFS= read -r line; do printf 'database %s\t%s\n' "$db" "$line"; done
done
"#;

/// The fingerprint, and the directories whose files are the server's own business (its
/// data and sockets), left out of the fingerprint of the container's files.
pub(crate) async fn fingerprint(stack: &Stack, service: &str) -> Result<(Fingerprint, Vec<String>), ResetError> {
    parse(service, &sh(stack, service, FINGERPRINT, &[PER_DB]).await?)
}

/// The fingerprint and data directories from the output of [`FINGERPRINT`].
fn parse(service: &str, out: &str) -> Result<(Fingerprint, Vec<String>), ResetError> {
    let mut fp = Fingerprint::new();
    let mut dirs = Vec::new();
    for line in out.lines() {
        let Some((key, value)) = line.split_once('\t') else { continue };
        if key == "dirs" {
            dirs =
                value.split(',').map(|d| d.trim().trim_end_matches('/').to_owned()).filter(|d| !d.is_empty()).collect();
            continue;
        }
        let e = fp.entry(key.to_owned()).or_default();
        if !e.is_empty() {
            e.push('\n');
        }
        e.push_str(value);
    }
    if !fp.contains_key("roles") || dirs.is_empty() {
        return Err(fail(service)(format!("unexpected psql output: {}", crate::stack::image::tail(out, 3))));
    }
    Ok((fp, dirs))
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_reads_the_databases_a_snapshot_saves() {
        assert!(FINGERPRINT.contains(&format!("WHERE {NOT_APP} ORDER BY 1")));
    }

    #[test]
    fn names_survive_the_round_trip() {
        assert_eq!(unhex("73686f70").as_deref(), Some("shop"));
        assert_eq!(unhex("7"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(ident(r#"we"ird"#), r#""we""ird""#);
    }
}
