//! Stacks shared by the scenarios of one gate: at most one per scenario in flight, each reset
//! between scenarios and proven clean ([`Stack::reset`]), instead of one started and removed
//! per scenario.
//!
//! A scenario takes an idle stack of exactly its services (the same stack a fresh start
//! would give it), resets it and runs; a stack whose reset fails or whose fingerprint
//! differs is discarded and a fresh one started, and the outcome says so
//! ([`StackUse::discarded`]). A scenario with `fresh: true` gets a stack of its own. The
//! number of stacks alive never exceeds the number of scenarios in flight: a scenario that
//! finds no idle stack of its services removes an idle one of other services first.
//!
//! Stacks are made ready ahead of the scenarios that run on them: [`StackPool::at_once`]
//! scenarios run their faults, steps and checks at once, and as many more (up to one per
//! core) may start or reset their stacks meanwhile ([`StackPool::in_flight`] is the sum). A
//! scenario's own work is mostly waiting (a latency, a pause, a deadline), so the stack of
//! the next one comes up in that time instead of after it.

use std::time::Instant;

use super::event::{Event, Quiet, Reporter};
use super::{blank_outcome, run_in_turn, run_on, start_stack};
use crate::config::Config;
use crate::outcome::{PoolCounts, ScenarioOutcome, StackUse};
use crate::scenario::validate::Scenario;
use crate::stack::Stack;
use crate::stack::{RunOptions, Teardowns};

/// Idle stacks by the services they run, and the removals under way.
pub struct StackPool {
    /// Turns to run (faults, steps, checks): as many as scenarios may run at once.
    turns: tokio::sync::Semaphore,
    at_once: usize,
    /// Stacks made ready ahead of the scenarios running; `None`: one per core, up to
    /// `at_once`.
    ahead: Option<usize>,
    idle: std::sync::Mutex<Vec<(Vec<String>, Stack)>>,
    /// Scenarios not yet started, by their services: a stack no later scenario can use is
    /// neither checkpointed nor kept.
    waiting: std::sync::Mutex<std::collections::BTreeMap<Vec<String>, usize>>,
    teardowns: Teardowns,
    counts: std::sync::Mutex<PoolCounts>,
}

impl StackPool {
    /// A pool for `scenarios`, which it will be asked to run, one at a time unless
    /// [`StackPool::at_once`] says more.
    pub fn new<'a>(scenarios: impl IntoIterator<Item = &'a Scenario>) -> StackPool {
        let pool = StackPool {
            turns: tokio::sync::Semaphore::new(1),
            at_once: 1,
            ahead: None,
            idle: Default::default(),
            waiting: Default::default(),
            teardowns: Default::default(),
            counts: Default::default(),
        };
        pool.expect(scenarios);
        pool
    }

    /// Lets `jobs` scenarios run at once.
    pub(crate) fn at_once(self, jobs: usize) -> StackPool {
        let jobs = jobs.max(1);
        StackPool { turns: tokio::sync::Semaphore::new(jobs), at_once: jobs, ..self }
    }

    /// Makes `n` stacks ready ahead of the scenarios running (`None`: the default of
    /// [`StackPool::at_once`]).
    pub(crate) fn ahead(self, n: Option<usize>) -> StackPool {
        StackPool { ahead: n, ..self }
    }

    /// How many scenarios the caller should hand the pool at once: those running, and those
    /// whose stacks start or reset meanwhile: by default up to one per core (starting and
    /// resetting keep a core busy; more at once only slows each down). On the shop at
    /// `--jobs 2` on 2 cores the default was 0.95× to 1.13× as fast as none ahead over
    /// several benchmark runs (`cargo bench --bench gate`; runs vary by ±2 s).
    pub(crate) fn in_flight(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.at_once + self.ahead.unwrap_or(self.at_once.min(cores))
    }

    /// Waits for a turn to run: a stack made ready ahead waits here, not the scenario's clock.
    async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }

    /// Adds scenarios the pool will be asked to run (exploration knows its experiments only
    /// after its reference run).
    pub(crate) fn expect<'a>(&self, scenarios: impl IntoIterator<Item = &'a Scenario>) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for s in scenarios {
            *waiting.entry(services_of(s)).or_default() += 1;
        }
    }

    /// A scenario it was told about will not run after all.
    pub(crate) fn forget(&self, scenario: &Scenario) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = waiting.get_mut(&services_of(scenario)) {
            *n = n.saturating_sub(1);
        }
    }

    /// Runs `scenario` on an idle stack of its services, reset, or on a fresh one.
    pub async fn run(&self, scenario: &Scenario, config: &Config, opts: &RunOptions) -> ScenarioOutcome {
        self.run_reporting(scenario, config, opts, &Quiet).await
    }

    /// [`StackPool::run`], telling `events` what happens inside the run as it happens (see
    /// [`super::run_reporting`]).
    pub async fn run_reporting(
        &self,
        scenario: &Scenario,
        config: &Config,
        opts: &RunOptions,
        events: &dyn Reporter,
    ) -> ScenarioOutcome {
        if scenario.fresh || opts.keep {
            return self.run_fresh(scenario, config, opts, events).await;
        }
        let mut out = blank_outcome(scenario, opts);
        let key = services_of(scenario);
        let later = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let n = waiting.entry(key.clone()).or_default();
            *n = n.saturating_sub(1);
            *n
        };
        let t = Instant::now();
        let mut used = StackUse::default();
        let mut stack = None;
        if let Some(mut s) = self.take(&key) {
            match s.reset().await {
                Ok(seconds) => {
                    used.reused = true;
                    used.reset_seconds = seconds;
                    used.restarted = s.last_reset().restarted.len();
                    used.recreated = s.last_reset().recreated.len();
                    self.count(|c| {
                        c.reused += 1;
                        c.reset_seconds += seconds;
                    });
                    stack = Some(s);
                }
                Err(e) => {
                    tracing::warn!(scenario = %scenario.name, error = %e, "stack discarded");
                    used.discarded = Some(e.to_string());
                    self.count(|c| c.discarded += 1);
                    self.remove(s);
                }
            }
        }
        let mut reusable = later > 0;
        let stack = match stack {
            Some(s) => s,
            None => {
                self.count(|c| c.started += 1);
                let mut s = match start_stack(scenario, config, opts, reusable).await {
                    Ok(s) => s,
                    Err(e) => {
                        out.stack = used;
                        return out.error(format!("the stack did not come up: {e}"));
                    }
                };
                if reusable && let Err(e) = s.checkpoint().await {
                    // It still serves this scenario as a fresh stack; nothing will reuse it.
                    tracing::warn!(scenario = %scenario.name, error = %e, "no checkpoint: the stack is not reused");
                    reusable = false;
                }
                s
            }
        };
        out.stack_seconds = t.elapsed().as_secs_f64();
        out.stack = used;
        events.report(&Event::StackReady { scenario: &scenario.name, stack: &out.stack, seconds: out.stack_seconds });
        let turn = self.turn().await;
        tracing::info!(scenario = %scenario.name, stack_seconds = out.stack_seconds, reused = out.stack.reused, waited = ?t.elapsed(), "scenario's turn");
        let (out, stack) = run_on(scenario, config, opts, stack, out, events).await;
        drop(turn);
        tracing::info!(scenario = %scenario.name, run_seconds = out.run_seconds, "scenario ran");
        if let Some(stack) = stack {
            // Whether a later scenario can use it is asked again: others may have taken
            // the waiting ones meanwhile.
            let wanted = self.waiting.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied().unwrap_or(0) > 0;
            if reusable && wanted {
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).push((key, stack));
            } else {
                self.remove(stack);
            }
        }
        out
    }

    /// A scenario on a stack of its own, removed in the background after it.
    async fn run_fresh(
        &self,
        scenario: &Scenario,
        config: &Config,
        opts: &RunOptions,
        events: &dyn Reporter,
    ) -> ScenarioOutcome {
        let opts = RunOptions { teardowns: Some(self.teardowns.clone()), ..opts.clone() };
        self.count(|c| c.started += 1);
        run_in_turn(scenario, config, &opts, self.turn(), events).await.0
    }

    /// An idle stack of `key`'s services; when there is none, an idle stack of others is
    /// removed, so this scenario's new one does not add to the stacks alive.
    fn take(&self, key: &[String]) -> Option<Stack> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = idle.iter().position(|(k, _)| k == key) {
            return Some(idle.swap_remove(i).1);
        }
        if !idle.is_empty() {
            let (_, other) = idle.remove(0);
            drop(idle);
            self.remove(other);
        }
        None
    }

    /// Removes a stack in the background.
    fn remove(&self, stack: Stack) {
        let task = tokio::spawn(async move {
            let t = Instant::now();
            stack.shutdown().await;
            t.elapsed().as_secs_f64()
        });
        self.teardowns.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    }

    fn count(&self, f: impl FnOnce(&mut PoolCounts)) {
        f(&mut self.counts.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Removes every stack, waits for every removal; returns the summed seconds of removals
    /// and what the pool did.
    pub async fn finish(&self) -> (f64, PoolCounts) {
        let idle: Vec<_> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, s) in idle {
            self.remove(s);
        }
        let seconds = super::finish_teardowns(&self.teardowns).await;
        (seconds, self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The services of a scenario's stack, sorted: scenarios with the same ones share stacks.
pub(crate) fn services_of(scenario: &Scenario) -> Vec<String> {
    let mut v = scenario.stack.clone();
    v.sort();
    v.dedup();
    v
}
