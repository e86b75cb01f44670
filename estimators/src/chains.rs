//! The chain runner: C chains on threads, with burn-in, thinning, minibatches, per-chain seeds and divergence detection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};
use crate::sampler::{ChainRng, Sampler};

/// How to run the chains. Checked by [`ChainSettings::validate`] before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSettings {
    /// Number of independent chains C.
    pub chains: usize,
    /// Draws kept per chain after burn-in.
    pub draws: usize,
    /// Sampler steps discarded at the start of each chain.
    pub burnin: usize,
    /// Sampler steps per kept draw (1 keeps every step).
    pub thin: usize,
    /// Minibatch size; at least n means full-batch gradients.
    pub batch_size: usize,
    /// The run's seed; chain c uses the stream [`chain_seed`]`(seed, c)`.
    pub seed: u64,
    /// A chain has diverged when ‖w − w*‖ exceeds this radius (or the loss is not finite).
    pub divergence_radius: f64,
    /// Also record the full-batch loss every this many draws (0: never).
    pub full_loss_every: usize,
    /// Worker threads (0: one per available core, at most one per chain).
    pub threads: usize,
}

impl ChainSettings {
    /// Checks every rule once; one error per broken rule, naming the setting.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(Error::OutOfRange {
                    name,
                    value: v.to_string(),
                    rule: "must be at least 1",
                })
            } else {
                Ok(())
            }
        };
        positive("llc.chains", self.chains)?;
        positive("llc.draws", self.draws)?;
        positive("llc.thin", self.thin)?;
        positive("llc.batch", self.batch_size)?;
        if self.divergence_radius.is_nan() || self.divergence_radius <= 0.0 {
            return Err(Error::OutOfRange {
                name: "llc.divergence_radius",
                value: self.divergence_radius.to_string(),
                rule: "must be positive",
            });
        }
        Ok(())
    }

    /// Sampler steps per chain: burn-in plus draws × thin.
    pub fn steps_per_chain(&self) -> usize {
        self.burnin + self.draws * self.thin
    }
}

/// Why and when a chain stopped early.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The sampler step at which it was detected (counting burn-in).
    pub step: usize,
    /// What was seen, in words.
    pub reason: String,
}

/// What one chain produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainTrace {
    /// The chain's index.
    pub chain: usize,
    /// The seed of its random stream.
    pub seed: u64,
    /// The minibatch loss L_B(w) at each kept draw.
    pub losses: Vec<f64>,
    /// (draw index, full-batch loss) every `full_loss_every` draws.
    pub full_losses: Vec<(usize, f64)>,
    /// Set when the chain diverged; its draws are then excluded from estimates.
    pub divergence: Option<Divergence>,
}

/// Watches a chain's kept draws (the LLC, volume and diagnostics observe; they do not drive the loop).
pub trait ChainObserver: Send {
    /// Called at every kept draw with the draw index, the point and its minibatch loss.
    fn on_draw(&mut self, draw: usize, w: &[f64], loss: f64);
}

/// Keeps the point of a chain's last kept draw (where a following run can start it again).
#[derive(Debug, Default, Clone)]
pub struct LastDraw {
    /// The point at the last kept draw; empty before the first.
    pub w: Vec<f64>,
}

impl ChainObserver for LastDraw {
    fn on_draw(&mut self, _draw: usize, w: &[f64], _loss: f64) {
        self.w.clear();
        self.w.extend_from_slice(w);
    }
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl ChainObserver for NoObserver {
    fn on_draw(&mut self, _draw: usize, _w: &[f64], _loss: f64) {}
}

/// The seed of chain `chain` in a run seeded with `seed` (SplitMix64 of both, so streams differ).
pub fn chain_seed(seed: u64, chain: usize) -> u64 {
    splitmix64(seed ^ splitmix64(chain as u64 + 0x9E37_79B9))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the chains without observers. See [`run_chains_observed`].
pub fn run_chains<L: Landscape, S: Sampler>(
    landscape: &L,
    sampler: &S,
    center: &[f64],
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<ChainTrace>> {
    run_chains_observed(landscape, sampler, center, settings, progress, |_| {
        NoObserver
    })
    .map(|(t, _)| t)
}

/// Runs `settings.chains` chains from `center` (w*), each on its own random stream, on worker threads.
///
/// `progress` is called with the number of steps done since its last call (about every 1024 steps).
/// Same seed, same machine: the same numbers, whatever the number of threads. A diverged chain is
/// recorded and stopped; the others go on.
pub fn run_chains_observed<L: Landscape, S: Sampler, O: ChainObserver>(
    landscape: &L,
    sampler: &S,
    center: &[f64],
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
    make_observer: impl Fn(usize) -> O + Sync,
) -> Result<(Vec<ChainTrace>, Vec<O>)> {
    run_chains_from_observed(
        landscape,
        sampler,
        center,
        &[],
        settings,
        progress,
        make_observer,
    )
}

/// [`run_chains_observed`], with chain c starting at `starts[c % starts.len()]` instead of `center`
/// (`center` stays the localization's center and the divergence test's origin; no starts: `center`).
pub fn run_chains_from_observed<L: Landscape, S: Sampler, O: ChainObserver>(
    landscape: &L,
    sampler: &S,
    center: &[f64],
    starts: &[Vec<f64>],
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
    make_observer: impl Fn(usize) -> O + Sync,
) -> Result<(Vec<ChainTrace>, Vec<O>)> {
    settings.validate()?;
    if center.len() != landscape.dim() {
        return Err(Error::InvalidShape {
            what: format!("center of length {}", center.len()),
            why: format!("the landscape has {} parameters", landscape.dim()),
        });
    }
    if let Some(s) = starts.iter().find(|s| s.len() != landscape.dim()) {
        return Err(Error::InvalidShape {
            what: format!("chain start of length {}", s.len()),
            why: format!("the landscape has {} parameters", landscape.dim()),
        });
    }
    let threads = if settings.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        settings.threads
    }
    .clamp(1, settings.chains);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(ChainTrace, O)>>> =
        Mutex::new((0..settings.chains).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= settings.chains {
                    break;
                }
                let mut observer = make_observer(c);
                let start = if starts.is_empty() {
                    center
                } else {
                    &starts[c % starts.len()][..]
                };
                let trace = run_one_chain(
                    landscape,
                    sampler,
                    ChainOrigin { center, start },
                    settings,
                    c,
                    progress,
                    &mut observer,
                );
                results.lock().expect("a chain thread panicked")[c] = Some((trace, observer));
            });
        }
    });
    let (traces, observers) = results
        .into_inner()
        .expect("a chain thread panicked")
        .into_iter()
        .map(|r| r.expect("every chain index is taken by exactly one worker"))
        .unzip();
    Ok((traces, observers))
}

/// Where one chain starts and what it is localized around (the divergence test's origin).
struct ChainOrigin<'a> {
    center: &'a [f64],
    start: &'a [f64],
}

fn run_one_chain<L: Landscape, S: Sampler, O: ChainObserver>(
    landscape: &L,
    sampler: &S,
    origin: ChainOrigin<'_>,
    settings: &ChainSettings,
    chain: usize,
    progress: &(dyn Fn(u64) + Sync),
    observer: &mut O,
) -> ChainTrace {
    let ChainOrigin { center, start } = origin;
    let seed = chain_seed(settings.seed, chain);
    let mut rng = ChainRng::seed_from_u64(seed);
    let d = landscape.dim();
    let mut ws = landscape.workspace();
    let mut state = sampler.init_state(d);
    let mut w = start.to_vec();
    let mut grad = vec![0.0; d];
    // Minibatches: shuffled epochs over 0..n (sampling without replacement within an epoch).
    let minibatch = landscape.data_size().filter(|&n| settings.batch_size < n);
    let mut order: Vec<usize> = (0..minibatch.unwrap_or(0)).collect();
    let mut cursor = order.len();
    let radius2 = settings.divergence_radius * settings.divergence_radius;
    let mut trace = ChainTrace {
        chain,
        seed,
        losses: Vec::with_capacity(settings.draws),
        full_losses: Vec::new(),
        divergence: None,
    };
    let total = settings.steps_per_chain();
    let mut pending = 0u64;
    for step in 0..total {
        let batch = if minibatch.is_some() {
            if cursor + settings.batch_size > order.len() {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            cursor += settings.batch_size;
            Batch::Indices(&order[cursor - settings.batch_size..cursor])
        } else {
            Batch::Full
        };
        let loss = landscape.loss_and_grad(&w, batch, &mut grad, &mut ws);
        if !loss.is_finite() {
            trace.divergence = Some(Divergence {
                step,
                reason: format!("loss became {loss}"),
            });
            break;
        }
        if step >= settings.burnin && (step - settings.burnin) % settings.thin == 0 {
            let draw = (step - settings.burnin) / settings.thin;
            trace.losses.push(loss);
            if settings.full_loss_every > 0 && draw % settings.full_loss_every == 0 {
                trace
                    .full_losses
                    .push((draw, landscape.loss(&w, Batch::Full, &mut ws)));
            }
            observer.on_draw(draw, &w, loss);
        }
        sampler.step(&mut state, &mut w, &grad, center, &mut rng);
        let dist2: f64 = w.iter().zip(center).map(|(a, b)| (a - b) * (a - b)).sum();
        if dist2.is_nan() || dist2 > radius2 {
            trace.divergence = Some(Divergence {
                step,
                reason: format!(
                    "distance from w* reached {:.3e} (divergence radius {:.3e})",
                    dist2.sqrt(),
                    settings.divergence_radius
                ),
            });
            break;
        }
        pending += 1;
        if pending == 1024 {
            progress(pending);
            pending = 0;
        }
    }
    // Count the steps a diverged chain will never take, so that progress reaches its total.
    progress(pending + remaining_steps(&trace, settings) as u64);
    trace
}

fn remaining_steps(trace: &ChainTrace, settings: &ChainSettings) -> usize {
    match &trace.divergence {
        Some(d) => settings.steps_per_chain().saturating_sub(d.step + 1),
        None => 0,
    }
}
