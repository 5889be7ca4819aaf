//! The fuzzer over the loader, the validator and every renderer, on a short budget on every
//! run of the suite (`FAULTLINE_FUZZ_SECONDS`, default 20; `FAULTLINE_FUZZ_SEED`, default 1).
//! Long runs: `cargo run --release --example fuzz -- --inputs 1000000`.

#[path = "support/fuzz.rs"]
mod fuzz;

use std::time::Duration;

#[test]
fn no_input_panics_the_loader_the_validator_or_a_renderer() {
    let seconds: u64 = std::env::var("FAULTLINE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("FAULTLINE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut f = fuzz::Fuzzer::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), seed);
    let stats = f.run(Duration::from_secs(seconds), u64::MAX);
    println!(
        "fuzz: {} inputs ({} configs, {} scenarios, {} verdicts, {} CODEOWNERS, {} templates, {} OpenAPI, {} Python, {} MiB), seed {seed}, slowest {:?}",
        stats.inputs,
        stats.per_kind[0],
        stats.per_kind[1],
        stats.per_kind[2],
        stats.per_kind[3],
        stats.per_kind[4],
        stats.per_kind[5],
        stats.per_kind[6],
        stats.bytes >> 20,
        stats.slowest
    );
    assert!(stats.inputs > 0);
    // Kept for a look with `cargo run --release --example fuzz` or a profiler; never asserted
    // on (timings belong in benchmarks).
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-slowest-suite"),
        &stats.slowest_input,
    );
    if let Some((kind, input, msg)) = stats.panics.first() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{kind:?}-seed{seed}"));
        let _ = std::fs::write(&file, input);
        panic!(
            "{} of {} inputs panicked; the first ({kind:?}, {} bytes, kept in {}): {msg}",
            stats.panics.len(),
            stats.inputs,
            input.len(),
            file.display()
        );
    }
}
