//! Long fuzz runs over the loader, the validator and every renderer (see
//! `tests/support/fuzz.rs`): prints how many inputs ran, the panics, the slowest input and how
//! many took over 2 s. Exit 1 if any panicked or took over 2 s.
//!
//!     cargo run --release --example fuzz -- --inputs 1000000 [--seconds N] [--seed N] [--threads N]
//!
//! With several threads, thread `i` starts from seed `seed + i` and runs its share of inputs.

#[path = "../tests/support/fuzz.rs"]
mod fuzz;

use std::time::{Duration, Instant};

/// Adds `s` to `into`.
fn merge(into: &mut fuzz::Stats, s: fuzz::Stats) {
    into.inputs += s.inputs;
    for k in 0..into.per_kind.len() {
        into.per_kind[k] += s.per_kind[k];
    }
    into.bytes += s.bytes;
    into.panics.extend(s.panics);
    into.over_two_seconds += s.over_two_seconds;
    if let Some(d) = s.slowest
        && into.slowest.is_none_or(|(best, ..)| d.0 > best)
    {
        into.slowest = Some(d);
        into.slowest_input = s.slowest_input;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok())
    };
    let inputs = arg("--inputs").unwrap_or(1_000_000);
    let seconds = arg("--seconds").unwrap_or(30 * 24 * 3600);
    let seed = arg("--seed").unwrap_or(1);
    let threads = arg("--threads").unwrap_or(1).max(1);
    let t = Instant::now();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let all: Vec<fuzz::Stats> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                s.spawn(move || {
                    let share = inputs / threads + u64::from(i < inputs % threads);
                    let mut f = fuzz::Fuzzer::new(root, seed + i);
                    let mut total = fuzz::Stats::default();
                    // In chunks, with a progress line each (the generator goes on where it was).
                    while total.inputs < share && Instant::now() < deadline {
                        let chunk = f.run(deadline - Instant::now(), (share - total.inputs).min(50_000));
                        merge(&mut total, chunk);
                        eprintln!(
                            "thread {i}: {} inputs, {} panics, slowest {:.3} s, {:.0} s",
                            total.inputs,
                            total.panics.len(),
                            total.slowest.map_or(0.0, |s| s.0.as_secs_f64()),
                            t.elapsed().as_secs_f64()
                        );
                    }
                    total
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a fuzz thread")).collect()
    });
    let mut stats = fuzz::Stats::default();
    for s in all {
        merge(&mut stats, s);
    }
    println!("inputs            {}", stats.inputs);
    println!("  faultline.yaml  {}", stats.per_kind[0]);
    println!("  scenarios       {}", stats.per_kind[1]);
    println!("  verdict.json    {}", stats.per_kind[2]);
    println!("  CODEOWNERS      {}", stats.per_kind[3]);
    println!("  templates       {}", stats.per_kind[4]);
    println!("  OpenAPI (init)  {}", stats.per_kind[5]);
    println!("  Python (init)   {}", stats.per_kind[6]);
    println!("bytes             {} MiB", stats.bytes >> 20);
    println!(
        "seed              {seed} ({threads} thread{}: seeds {seed}..{})",
        if threads == 1 { "" } else { "s" },
        seed + threads
    );
    println!("wall clock        {:.1} s", t.elapsed().as_secs_f64());
    if let Some((d, kind, len)) = stats.slowest {
        let keep = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-slowest");
        let _ = std::fs::write(&keep, &stats.slowest_input);
        println!("slowest input     {:.3} s ({kind:?}, {len} bytes, kept in {})", d.as_secs_f64(), keep.display());
    }
    println!("over 2 s          {}", stats.over_two_seconds);
    println!("panics            {}", stats.panics.len());
    for (kind, input, msg) in stats.panics.iter().take(5) {
        println!("  {kind:?} ({} bytes): {msg}", input.len());
    }
    if !stats.panics.is_empty() || stats.over_two_seconds > 0 {
        std::process::exit(1);
    }
}
