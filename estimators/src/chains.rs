//! The chain executor: burn-in, thinning, minibatches, seeds, divergence and observers, for chains on CPU threads or a batch of chains on one backend.
//!
//! One loop runs every chain. It steps a [`ChainBatch`]: a single chain of a
//! [`Landscape`] and a [`Sampler`] on a CPU thread ([`run_chains`] runs one per chain), or C chains
//! that advance together on another backend, all stacked on a device ([`run_chains_batched`]). The
//! backend only evaluates and steps; when to keep a draw, when a chain has diverged and what the
//! observers see is decided here, once.

use std::borrow::Cow;
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

    /// Whether [`ChainObserver::on_draw`] reads `w`. An observer that says `false` gets an empty
    /// slice instead, so that a batch on a device is not read back at every draw for nothing.
    fn wants_point(&self) -> bool {
        true
    }
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

    fn wants_point(&self) -> bool {
        false
    }
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

/// The stream index that a batch's shared minibatches are drawn from ([`chain_seed`]`(seed,
/// BATCH_STREAM)`): one that no chain's noise uses.
pub const BATCH_STREAM: usize = usize::MAX;

/// Chains that advance together through one backend: C chains of one landscape and sampler whose
/// state lives in one place (C networks stacked in a device's tensors, say), each with its own noise,
/// all on the same minibatch at each step.
///
/// The executor ([`run_chains_batched`]) owns the loop; the backend evaluates, steps and reads back,
/// in this order at each step: [`evaluate`](ChainBatch::evaluate) on the step's minibatch, the reads
/// the step needs ([`losses`](ChainBatch::losses) at watched steps, [`full_losses`] and
/// [`point`](ChainBatch::point) at draws), then [`step`](ChainBatch::step); at watched steps
/// [`squared_distances`](ChainBatch::squared_distances) first, where the previous step left the chains.
/// A read may be costly (a device read-back waits for its queue): unless
/// [`cheap_readback`](ChainBatch::cheap_readback) says otherwise, only the watched steps are read
/// (see [`run_chains_batched`]), and points only for observers that want them. The chains start
/// where the backend put them when it was made; a batch is run once.
///
/// [`full_losses`]: ChainBatch::full_losses
pub trait ChainBatch {
    /// Number of chains C.
    fn chains(&self) -> usize;

    /// Parameters per chain d.
    fn dim(&self) -> usize;

    /// Training points n, or `None` without data (every step on the full batch), as
    /// [`Landscape::data_size`].
    fn data_size(&self) -> Option<usize>;

    /// Whether a read costs no more than reading host memory: then every step is watched for
    /// divergence, as a chain on a CPU thread is. Default: no (a device).
    fn cheap_readback(&self) -> bool {
        false
    }

    /// Seeds the chains' noise for a run seeded with `seed`, before the first step, and returns the
    /// seed each chain's trace records. Chains with a stream each seed chain c with
    /// [`chain_seed`]`(seed, c)` (the stream [`run_chains`] gives it); a device with one generator
    /// seeds that with `seed`.
    fn seed(&mut self, seed: u64) -> Vec<u64>;

    /// Evaluates every live chain's loss and gradient on `batch` at its current point, and keeps
    /// them for [`ChainBatch::losses`] and [`ChainBatch::step`] (nothing is read back here).
    fn evaluate(&mut self, batch: Batch<'_>) -> Result<()>;

    /// The losses of the last evaluation into `out` (one per chain; a stopped chain's is not read).
    fn losses(&mut self, out: &mut [f64]) -> Result<()>;

    /// One sampler step for every live chain with the last evaluation's gradient. `rng` is the
    /// executor's stream, the one the minibatches come from: a lone chain on a CPU thread draws its
    /// noise from it too (its minibatches and noise have always shared the chain's stream); chains
    /// with streams of their own, or a device's generator, leave it alone.
    fn step(&mut self, rng: &mut ChainRng) -> Result<()>;

    /// Each chain's squared distance ‖w − w*‖² from the center into `out` (one per chain).
    fn squared_distances(&mut self, out: &mut [f64]) -> Result<()>;

    /// Each chain's full-batch loss L_n(w) at its current point into `out` (one per chain).
    fn full_losses(&mut self, out: &mut [f64]) -> Result<()>;

    /// Chain `chain`'s current point (d values), for observers; borrowed where the host holds it.
    fn point(&mut self, chain: usize) -> Result<Cow<'_, [f64]>>;

    /// Chain `chain` has diverged and is read no more. A backend may stop evaluating and stepping
    /// it, or keep computing it where masking it out would cost more (a device). Default: nothing.
    fn stop(&mut self, _chain: usize) {}
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

/// One chain's trace and observer, from its worker thread.
type ChainOutcome<O> = Result<(ChainTrace, O)>;

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
    let results: Mutex<Vec<Option<ChainOutcome<O>>>> =
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
                let mut chain = OneChain::new(landscape, sampler, center, start, c);
                // A chain's minibatches and noise share its own stream.
                let mut rng = ChainRng::seed_from_u64(chain_seed(settings.seed, c));
                let result = drive(
                    &mut chain,
                    settings,
                    c,
                    &mut rng,
                    progress,
                    std::slice::from_mut(&mut observer),
                )
                .map(|traces| {
                    let trace = traces.into_iter().next().expect("a chain of one");
                    (trace, observer)
                });
                results.lock().expect("a chain thread panicked")[c] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("a chain thread panicked")
        .into_iter()
        .map(|r| r.expect("every chain index is taken by exactly one worker"))
        .collect::<Result<Vec<_>>>()
        .map(|done| done.into_iter().unzip())
}

/// Runs the C chains of `batch` with `settings` through the executor every chain runs through:
/// burn-in, thinning, kept draws, full-batch losses, divergence and observers, as
/// [`run_chains_observed`] runs them, with these differences. Every chain sees the same minibatch at
/// each step (shuffled epochs over 0..n, as on the CPU, drawn from the stream
/// [`chain_seed`]`(settings.seed, `[`BATCH_STREAM`]`)`); the noise is the backend's, seeded by
/// [`ChainBatch::seed`]; `settings.threads` does not apply.
///
/// Divergence follows one rule: a chain has diverged when its minibatch loss at a step is not finite
/// (recorded at that step, before its draw) or when a step's move takes it farther than
/// `settings.divergence_radius` from the center, or to NaN (recorded at that step). It is then
/// stopped: its trace keeps its draws so far and is excluded by the estimates, the other chains go
/// on, and the run ends when every chain has diverged. Unless the backend's reads are cheap, the
/// rule is applied at the watched steps only, the kept draws and every `thin`-th step of the burn-in
/// (the same spacing): a device read-back waits for its queue, and a chain that has blown up stays
/// non-finite or far, so the next watched step still sees it. A watched step reads where the
/// previous step's move left the chains, and the last move is read after the loop; the step
/// recorded is the last one before the read that saw it, and between watched steps a chain is not
/// watched.
///
/// `progress` gets chain-steps (every 1024 or so, and at the end those a stopped run will not take).
/// `make_observer(c)` makes chain c's observer, which sees its kept draws.
pub fn run_chains_batched<B: ChainBatch + ?Sized, O: ChainObserver>(
    batch: &mut B,
    settings: &ChainSettings,
    progress: &(dyn Fn(u64) + Sync),
    make_observer: impl FnMut(usize) -> O,
) -> Result<(Vec<ChainTrace>, Vec<O>)> {
    settings.validate()?;
    if batch.chains() != settings.chains {
        return Err(Error::InvalidShape {
            what: format!("a batch of {} chains", batch.chains()),
            why: format!("llc.chains is {}", settings.chains),
        });
    }
    let mut rng = ChainRng::seed_from_u64(chain_seed(settings.seed, BATCH_STREAM));
    let mut observers: Vec<O> = (0..settings.chains).map(make_observer).collect();
    let traces = drive(batch, settings, 0, &mut rng, progress, &mut observers)?;
    Ok((traces, observers))
}

/// The executor's loop, for a lone chain on a CPU thread and for a batch alike: the traces of
/// `batch`'s chains, numbered from `first_chain`, with `rng` the minibatches' stream.
fn drive<B: ChainBatch + ?Sized, O: ChainObserver>(
    batch: &mut B,
    settings: &ChainSettings,
    first_chain: usize,
    rng: &mut ChainRng,
    progress: &(dyn Fn(u64) + Sync),
    observers: &mut [O],
) -> Result<Vec<ChainTrace>> {
    let (c, d) = (batch.chains(), batch.dim());
    debug_assert_eq!(observers.len(), c);
    let mut traces: Vec<ChainTrace> = batch
        .seed(settings.seed)
        .into_iter()
        .enumerate()
        .map(|(i, seed)| ChainTrace {
            chain: first_chain + i,
            seed,
            losses: Vec::with_capacity(settings.draws),
            full_losses: Vec::new(),
            divergence: None,
        })
        .collect();
    debug_assert_eq!(traces.len(), c);
    let mut minibatches = Minibatches::new(batch.data_size(), settings.batch_size);
    let every_step = batch.cheap_readback();
    let radius = settings.divergence_radius;
    let (mut losses, mut dist2, mut full) = (vec![0.0; c], vec![0.0; c], Vec::new());
    let mut live = c;
    let total = settings.steps_per_chain();
    let mut pending = 0u64;
    let mut step = 0;
    while step < total {
        let draw = draw_at(settings, step);
        let watched =
            every_step || draw.is_some() || (step < settings.burnin && step % settings.thin == 0);
        if watched && step > 0 {
            // Before this step's evaluation, so that no chain is evaluated where it blew up.
            batch.squared_distances(&mut dist2)?;
            live -= stop_diverged(batch, &mut traces, &dist2, |d2| {
                distance_divergence(step - 1, d2, radius)
            });
            if live == 0 {
                break;
            }
        }
        batch.evaluate(minibatches.next(rng))?;
        if watched {
            batch.losses(&mut losses)?;
            live -= stop_diverged(batch, &mut traces, &losses, |l| loss_divergence(step, l));
            if live == 0 {
                break;
            }
        }
        if let Some(k) = draw {
            let full_due = settings.full_loss_every > 0 && k % settings.full_loss_every == 0;
            if full_due {
                full.resize(c, 0.0);
                batch.full_losses(&mut full)?;
            }
            for (i, trace) in traces.iter_mut().enumerate() {
                if trace.divergence.is_some() {
                    continue;
                }
                trace.losses.push(losses[i]);
                if full_due {
                    trace.full_losses.push((k, full[i]));
                }
                let observer = &mut observers[i];
                if observer.wants_point() {
                    let w = batch.point(i)?;
                    debug_assert_eq!(w.len(), d);
                    observer.on_draw(k, &w, losses[i]);
                } else {
                    observer.on_draw(k, &[], losses[i]);
                }
            }
        }
        batch.step(rng)?;
        step += 1;
        pending += c as u64;
        if pending >= 1024 {
            progress(pending);
            pending = 0;
        }
    }
    if step == total && live > 0 {
        // Where the last move left the chains.
        batch.squared_distances(&mut dist2)?;
        stop_diverged(batch, &mut traces, &dist2, |d2| {
            distance_divergence(total - 1, d2, radius)
        });
    }
    // Count the steps the stopped chains will never take, so that progress reaches its total.
    progress(pending + ((total - step) * c) as u64);
    Ok(traces)
}

/// The draw kept at sampler step `step`, if any (every `thin`-th step after the burn-in).
fn draw_at(settings: &ChainSettings, step: usize) -> Option<usize> {
    (step >= settings.burnin && (step - settings.burnin) % settings.thin == 0)
        .then(|| (step - settings.burnin) / settings.thin)
}

/// The divergence rule for the minibatch loss at `step`: it is not finite.
fn loss_divergence(step: usize, loss: f64) -> Option<Divergence> {
    (!loss.is_finite()).then(|| Divergence {
        step,
        reason: format!("loss became {loss}"),
    })
}

/// The divergence rule for where `step`'s move left a chain, at squared distance `dist2` from the
/// center: NaN, or beyond `radius`.
fn distance_divergence(step: usize, dist2: f64, radius: f64) -> Option<Divergence> {
    (dist2.is_nan() || dist2 > radius * radius).then(|| Divergence {
        step,
        reason: format!(
            "distance from w* reached {:.3e} (divergence radius {radius:.3e})",
            dist2.sqrt()
        ),
    })
}

/// Records `rule`'s verdict on `values` (one per chain) for each live chain, stops those that
/// diverged, and returns how many did.
fn stop_diverged<B: ChainBatch + ?Sized>(
    batch: &mut B,
    traces: &mut [ChainTrace],
    values: &[f64],
    rule: impl Fn(f64) -> Option<Divergence>,
) -> usize {
    let mut stopped = 0;
    for (i, (trace, &v)) in traces.iter_mut().zip(values).enumerate() {
        if trace.divergence.is_some() {
            continue;
        }
        if let Some(d) = rule(v) {
            trace.divergence = Some(d);
            batch.stop(i);
            stopped += 1;
        }
    }
    stopped
}

/// Minibatches as shuffled epochs over 0..n (without replacement within an epoch), or the full
/// batch when there is no data or the batch size reaches n.
struct Minibatches {
    order: Vec<usize>,
    cursor: usize,
    size: usize,
    full: bool,
}

impl Minibatches {
    fn new(data_size: Option<usize>, size: usize) -> Self {
        let minibatch = data_size.filter(|&n| size < n);
        let order: Vec<usize> = (0..minibatch.unwrap_or(0)).collect();
        Self {
            cursor: order.len(),
            order,
            size,
            full: minibatch.is_none(),
        }
    }

    /// The next minibatch; a new epoch is shuffled from `rng` when this one cannot fill it.
    fn next(&mut self, rng: &mut ChainRng) -> Batch<'_> {
        if self.full {
            return Batch::Full;
        }
        if self.cursor + self.size > self.order.len() {
            self.order.shuffle(rng);
            self.cursor = 0;
        }
        self.cursor += self.size;
        Batch::Indices(&self.order[self.cursor - self.size..self.cursor])
    }
}

/// One chain of a landscape and a sampler on the host: the backend each of [`run_chains`]'s
/// threads drives, through the same loop as a batch.
struct OneChain<'a, L: Landscape, S: Sampler> {
    landscape: &'a L,
    sampler: &'a S,
    center: &'a [f64],
    chain: usize,
    w: Vec<f64>,
    grad: Vec<f64>,
    loss: f64,
    state: S::State,
    ws: L::Workspace,
}

impl<'a, L: Landscape, S: Sampler> OneChain<'a, L, S> {
    fn new(
        landscape: &'a L,
        sampler: &'a S,
        center: &'a [f64],
        start: &[f64],
        chain: usize,
    ) -> Self {
        let d = landscape.dim();
        Self {
            landscape,
            sampler,
            center,
            chain,
            w: start.to_vec(),
            grad: vec![0.0; d],
            loss: f64::NAN,
            state: sampler.init_state(d),
            ws: landscape.workspace(),
        }
    }
}

impl<L: Landscape, S: Sampler> ChainBatch for OneChain<'_, L, S> {
    fn chains(&self) -> usize {
        1
    }

    fn dim(&self) -> usize {
        self.w.len()
    }

    fn data_size(&self) -> Option<usize> {
        self.landscape.data_size()
    }

    fn cheap_readback(&self) -> bool {
        true
    }

    /// Its noise comes from the executor's stream, which the thread seeds with this chain's seed.
    fn seed(&mut self, seed: u64) -> Vec<u64> {
        vec![chain_seed(seed, self.chain)]
    }

    fn evaluate(&mut self, batch: Batch<'_>) -> Result<()> {
        self.loss = self
            .landscape
            .loss_and_grad(&self.w, batch, &mut self.grad, &mut self.ws);
        Ok(())
    }

    fn losses(&mut self, out: &mut [f64]) -> Result<()> {
        out[0] = self.loss;
        Ok(())
    }

    fn step(&mut self, rng: &mut ChainRng) -> Result<()> {
        self.sampler
            .step(&mut self.state, &mut self.w, &self.grad, self.center, rng);
        Ok(())
    }

    fn squared_distances(&mut self, out: &mut [f64]) -> Result<()> {
        out[0] = self
            .w
            .iter()
            .zip(self.center)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        Ok(())
    }

    fn full_losses(&mut self, out: &mut [f64]) -> Result<()> {
        out[0] = self.landscape.loss(&self.w, Batch::Full, &mut self.ws);
        Ok(())
    }

    fn point(&mut self, _chain: usize) -> Result<Cow<'_, [f64]>> {
        Ok(Cow::Borrowed(&self.w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llc::LlcEstimate;
    use crate::potentials::Potential;
    use crate::sampler::{Sgld, TemperedPosterior};

    /// C chains of a landscape and a sampler in one host buffer, each with its own noise stream:
    /// a batch the executor drives as it drives a device, whose numbers can be compared with
    /// [`run_chains`]'s.
    struct HostBatch<'a, L: Landscape, S: Sampler> {
        landscape: &'a L,
        sampler: &'a S,
        center: &'a [f64],
        /// Chain c's point is `w[c·d..(c+1)·d]`; its gradient sits at the same place in `grad`.
        w: Vec<f64>,
        grad: Vec<f64>,
        loss: Vec<f64>,
        states: Vec<S::State>,
        rngs: Vec<ChainRng>,
        live: Vec<bool>,
        ws: L::Workspace,
        cheap: bool,
    }

    impl<'a, L: Landscape, S: Sampler> HostBatch<'a, L, S> {
        fn new(
            landscape: &'a L,
            sampler: &'a S,
            center: &'a [f64],
            chains: usize,
            cheap: bool,
        ) -> Self {
            let d = landscape.dim();
            Self {
                landscape,
                sampler,
                center,
                w: center.repeat(chains),
                grad: vec![0.0; chains * d],
                loss: vec![f64::NAN; chains],
                states: (0..chains).map(|_| sampler.init_state(d)).collect(),
                rngs: Vec::new(),
                live: vec![true; chains],
                ws: landscape.workspace(),
                cheap,
            }
        }

        fn d(&self) -> usize {
            self.center.len()
        }
    }

    impl<L: Landscape, S: Sampler> ChainBatch for HostBatch<'_, L, S> {
        fn chains(&self) -> usize {
            self.live.len()
        }

        fn dim(&self) -> usize {
            self.d()
        }

        fn data_size(&self) -> Option<usize> {
            self.landscape.data_size()
        }

        fn cheap_readback(&self) -> bool {
            self.cheap
        }

        fn seed(&mut self, seed: u64) -> Vec<u64> {
            let seeds: Vec<u64> = (0..self.chains()).map(|c| chain_seed(seed, c)).collect();
            self.rngs = seeds.iter().map(|&s| ChainRng::seed_from_u64(s)).collect();
            seeds
        }

        fn evaluate(&mut self, batch: Batch<'_>) -> Result<()> {
            let d = self.d();
            for (c, live) in self.live.iter().enumerate() {
                if *live {
                    self.loss[c] = self.landscape.loss_and_grad(
                        &self.w[c * d..(c + 1) * d],
                        batch,
                        &mut self.grad[c * d..(c + 1) * d],
                        &mut self.ws,
                    );
                }
            }
            Ok(())
        }

        fn losses(&mut self, out: &mut [f64]) -> Result<()> {
            out.copy_from_slice(&self.loss);
            Ok(())
        }

        fn step(&mut self, _rng: &mut ChainRng) -> Result<()> {
            let d = self.d();
            for (c, live) in self.live.iter().enumerate() {
                if *live {
                    self.sampler.step(
                        &mut self.states[c],
                        &mut self.w[c * d..(c + 1) * d],
                        &self.grad[c * d..(c + 1) * d],
                        self.center,
                        &mut self.rngs[c],
                    );
                }
            }
            Ok(())
        }

        fn squared_distances(&mut self, out: &mut [f64]) -> Result<()> {
            for (o, w) in out.iter_mut().zip(self.w.chunks_exact(self.d())) {
                *o = w
                    .iter()
                    .zip(self.center)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
            }
            Ok(())
        }

        fn full_losses(&mut self, out: &mut [f64]) -> Result<()> {
            let d = self.d();
            for (c, o) in out.iter_mut().enumerate() {
                *o = self
                    .landscape
                    .loss(&self.w[c * d..(c + 1) * d], Batch::Full, &mut self.ws);
            }
            Ok(())
        }

        fn point(&mut self, chain: usize) -> Result<Cow<'_, [f64]>> {
            let d = self.d();
            Ok(Cow::Borrowed(&self.w[chain * d..(chain + 1) * d]))
        }

        fn stop(&mut self, chain: usize) {
            self.live[chain] = false;
        }
    }

    fn settings(chains: usize, seed: u64) -> ChainSettings {
        ChainSettings {
            chains,
            draws: 300,
            burnin: 205,
            thin: 7,
            batch_size: 1,
            seed,
            divergence_radius: 1e3,
            full_loss_every: 4,
            threads: 0,
        }
    }

    /// Traces with every chain's last draw.
    type Observed = (Vec<ChainTrace>, Vec<LastDraw>);

    /// The executor's run of a host batch, and [`run_chains_observed`]'s, with every chain's last
    /// draw.
    fn both<L: Landscape, S: Sampler>(
        landscape: &L,
        sampler: &S,
        center: &[f64],
        settings: &ChainSettings,
        cheap: bool,
    ) -> (Observed, Observed) {
        let mut batch = HostBatch::new(landscape, sampler, center, settings.chains, cheap);
        let batched =
            run_chains_batched(&mut batch, settings, &|_| {}, |_| LastDraw::default()).unwrap();
        let cpu = run_chains_observed(landscape, sampler, center, settings, &|_| {}, |_| {
            LastDraw::default()
        })
        .unwrap();
        (batched, cpu)
    }

    fn last_points(observers: &[LastDraw]) -> Vec<Vec<f64>> {
        observers.iter().map(|o| o.w.clone()).collect()
    }

    /// x² + y⁴ has no data: every step is the full batch, so the batch's chains, each on its own
    /// stream, are run_chains's chains number for number, whether every step or only the watched
    /// ones are read. The twin: another seed moves every trace.
    #[test]
    fn batched_chains_are_run_chains_number_for_number_without_minibatches() {
        let p = Potential::new(&[vec![2, 0], vec![0, 4]]).unwrap();
        let posterior = TemperedPosterior {
            nbeta: 50.0,
            localization: 1.0,
        };
        let sampler = Sgld::new(1e-3, posterior).unwrap();
        let center = [0.1, -0.2];
        let s = settings(4, 3);
        for cheap in [true, false] {
            let ((bt, bo), (ct, co)) = both(&p, &sampler, &center, &s, cheap);
            assert!(bt.iter().all(|t| t.divergence.is_none()));
            assert_eq!(bt, ct, "cheap reads: {cheap}");
            assert_eq!(last_points(&bo), last_points(&co));
            assert_eq!(bt[0].full_losses.len(), s.draws.div_ceil(4));
        }
        let (_, (other, _)) = both(&p, &sampler, &center, &settings(4, 4), true);
        let ((bt, _), _) = both(&p, &sampler, &center, &s, true);
        assert!(bt.iter().zip(&other).all(|(a, b)| a.losses != b.losses));
    }

    /// x⁴ + y⁴ at ε = 0.021, nβ = 100: some chains' quartic overshoot blows up (in the burn-in and
    /// among the draws), the others stay.
    fn blowing_up() -> (Potential, Sgld, ChainSettings) {
        let p = Potential::new(&[vec![4, 0], vec![0, 4]]).unwrap();
        let posterior = TemperedPosterior {
            nbeta: 100.0,
            localization: 1.0,
        };
        let sampler = Sgld::new(0.021, posterior).unwrap();
        let s = ChainSettings {
            chains: 8,
            ..settings(8, 3)
        };
        (p, sampler, s)
    }

    /// Watched at every step (cheap reads), a batch records every divergence at run_chains's step,
    /// for run_chains's reason, keeps the same draws, and the estimate excludes the same chains.
    /// Watched at the draws and every thin-th burn-in step only, the same chains diverge, each found
    /// fewer than `thin` steps later, before any further draw: the traces' draws are the same.
    #[test]
    fn a_diverging_chain_is_recorded_and_excluded_as_on_the_cpu() {
        let (p, sampler, s) = blowing_up();
        let center = [0.0, 0.0];
        let ((bt, bo), (ct, co)) = both(&p, &sampler, &center, &s, true);
        let diverged: Vec<usize> = ct
            .iter()
            .filter(|t| t.divergence.is_some())
            .map(|t| t.chain)
            .collect();
        let in_burnin = ct
            .iter()
            .filter_map(|t| t.divergence.as_ref())
            .filter(|d| d.step < s.burnin)
            .count();
        assert!(
            diverged.len() > 1
                && diverged.len() < s.chains
                && in_burnin > 0
                && in_burnin < diverged.len(),
            "{diverged:?} diverged, {in_burnin} in the burn-in: not the mix this test needs"
        );
        assert_eq!(bt, ct);
        assert_eq!(last_points(&bo), last_points(&co));
        let cpu = LlcEstimate::from_traces(&ct, 0.0, 100.0).unwrap();
        let batched = LlcEstimate::from_traces(&bt, 0.0, 100.0).unwrap();
        assert_eq!(cpu.diverged_chains, diverged.len());
        assert_eq!(batched, cpu);

        let ((sparse, _), _) = both(&p, &sampler, &center, &s, false);
        for (a, b) in sparse.iter().zip(&ct) {
            assert_eq!(a.losses, b.losses, "chain {}", a.chain);
            match (&a.divergence, &b.divergence) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!(
                    a.step >= b.step && a.step < b.step + s.thin,
                    "found at {} for {}",
                    a.step,
                    b.step
                ),
                (a, b) => panic!("watched sparsely {a:?}, on the cpu {b:?}"),
            }
        }
        assert_eq!(LlcEstimate::from_traces(&sparse, 0.0, 100.0).unwrap(), cpu);
    }

    /// With no radius, the chains that blow up are caught by their loss becoming infinite, at
    /// run_chains's step.
    #[test]
    fn a_loss_that_overflows_is_a_divergence_as_on_the_cpu() {
        let (p, sampler, s) = blowing_up();
        let s = ChainSettings {
            divergence_radius: f64::INFINITY,
            ..s
        };
        let ((bt, _), (ct, _)) = both(&p, &sampler, &[0.0, 0.0], &s, true);
        assert_eq!(bt, ct);
        let reasons: Vec<&str> = bt
            .iter()
            .filter_map(|t| t.divergence.as_ref())
            .map(|d| d.reason.as_str())
            .collect();
        assert!(
            !reasons.is_empty() && reasons.iter().all(|r| r.starts_with("loss became")),
            "{reasons:?}"
        );
    }

    /// Noiseless linear regression, loss ½ mean (x·w − y)² over n points: a landscape with data,
    /// minimal (zero) at `truth`.
    struct Regression {
        /// Row-major n × d.
        x: Vec<f64>,
        y: Vec<f64>,
        d: usize,
    }

    impl Regression {
        fn new(n: usize, truth: &[f64], seed: u64) -> Self {
            use rand_distr::{Distribution, StandardNormal};
            let mut rng = ChainRng::seed_from_u64(seed);
            let d = truth.len();
            let x: Vec<f64> = (0..n * d)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let y = x
                .chunks_exact(d)
                .map(|row| row.iter().zip(truth).map(|(a, b)| a * b).sum())
                .collect();
            Self { x, y, d }
        }

        fn point_loss(&self, i: usize, w: &[f64], grad: Option<&mut [f64]>, scale: f64) -> f64 {
            let row = &self.x[i * self.d..(i + 1) * self.d];
            let r = row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() - self.y[i];
            if let Some(g) = grad {
                for (g, a) in g.iter_mut().zip(row) {
                    *g += scale * r * a;
                }
            }
            0.5 * r * r
        }
    }

    impl Landscape for Regression {
        type Workspace = ();

        fn dim(&self) -> usize {
            self.d
        }

        fn data_size(&self) -> Option<usize> {
            Some(self.y.len())
        }

        fn workspace(&self) {}

        fn loss_and_grad(&self, w: &[f64], batch: Batch<'_>, grad: &mut [f64], _: &mut ()) -> f64 {
            grad.fill(0.0);
            let all: Vec<usize>;
            let ix = match batch {
                Batch::Full => {
                    all = (0..self.y.len()).collect();
                    &all[..]
                }
                Batch::Indices(ix) => ix,
            };
            let scale = 1.0 / ix.len() as f64;
            ix.iter()
                .map(|&i| self.point_loss(i, w, Some(grad), scale))
                .sum::<f64>()
                * scale
        }

        fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut ()) -> f64 {
            let mut grad = vec![0.0; self.d];
            self.loss_and_grad(w, batch, &mut grad, ws)
        }
    }

    /// With minibatches, a batch's chains share each step's minibatch while run_chains's chains
    /// draw their own, so only the statistics can agree: λ̂ of a 3-parameter regression (d/2 = 1.5
    /// at γ = 0; here γ shrinks it a little) from both, within 4 combined standard errors (a
    /// false alarm about 6·10⁻⁵ of the time). The twin: the CPU chains at 8 × γ, whose λ̂ is
    /// about 0.6 of it, are told apart.
    #[test]
    fn shared_minibatches_give_the_statistics_of_per_chain_ones() {
        let truth = [0.5, -1.0, 0.25];
        let r = Regression::new(200, &truth, 5);
        let nbeta = 200.0 / (200f64).ln();
        let posterior = TemperedPosterior {
            nbeta,
            localization: 5.0,
        };
        let s = ChainSettings {
            chains: 4,
            draws: 2000,
            burnin: 500,
            thin: 5,
            batch_size: 20,
            full_loss_every: 0,
            ..settings(4, 9)
        };
        let estimate =
            |traces: &[ChainTrace]| LlcEstimate::from_traces(traces, 0.0, nbeta).unwrap();
        let sampler = Sgld::new(2e-3, posterior).unwrap();
        let mut batch = HostBatch::new(&r, &sampler, &truth, s.chains, false);
        let batched = estimate(
            &run_chains_batched(&mut batch, &s, &|_| {}, |_| NoObserver)
                .unwrap()
                .0,
        );
        let cpu = estimate(&run_chains(&r, &sampler, &truth, &s, &|_| {}).unwrap());
        let z = |a: &LlcEstimate, b: &LlcEstimate| {
            (a.mean - b.mean) / (a.stderr.powi(2) + b.stderr.powi(2)).sqrt()
        };
        eprintln!(
            "λ̂ batched {:.3} ± {:.3}, cpu {:.3} ± {:.3}: z = {:.2}",
            batched.mean,
            batched.stderr,
            cpu.mean,
            cpu.stderr,
            z(&batched, &cpu)
        );
        assert!(z(&batched, &cpu).abs() < 4.0);
        let pinned = Sgld::new(
            2e-3,
            TemperedPosterior {
                localization: 40.0,
                ..posterior
            },
        )
        .unwrap();
        let twin = estimate(&run_chains(&r, &pinned, &truth, &s, &|_| {}).unwrap());
        eprintln!(
            "twin (γ × 8) {:.3} ± {:.3}: z = {:.2}",
            twin.mean,
            twin.stderr,
            z(&batched, &twin)
        );
        assert!(z(&batched, &twin).abs() > 4.0);
    }
}
