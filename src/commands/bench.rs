//! `slt bench`: SGLD throughput on the peer's standard workloads, and the ratio to devinterp's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use serde::Serialize;

use super::{run_all, RunOptions};
use crate::config::{ModelConfig, ValidConfig};
use crate::error::{Context, Error, IoContext, Result};
use crate::report::write_csv;

/// The standard workloads (configs/bench/, read by the peer too: scripts/peer/README.md): (name, config). The names match the peer's
/// result files (`<name>.json` from its run.sh).
const WORKLOADS: [(&str, &str); 3] = [
    ("tms", include_str!("../../configs/bench/tms.toml")),
    (
        "mlp-small",
        include_str!("../../configs/bench/mlp-small.toml"),
    ),
    (
        "mlp-wide",
        include_str!("../../configs/bench/mlp-wide.toml"),
    ),
];

/// One workload at one thread count.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Workload name (as the peer's files name it).
    pub workload: String,
    /// Parameters d.
    pub params: usize,
    /// Worker threads for the chains.
    pub threads: usize,
    /// Chains × (burn-in + draws × thin): SGLD steps timed.
    pub steps: usize,
    /// Wall seconds of the sampling phase.
    pub wall_s: f64,
    /// Steps per second over all chains.
    pub steps_per_s: f64,
    /// Floating-point operations of one step's loss and gradient (MLPs; none for the toy model).
    pub flop_per_step: Option<f64>,
    /// Achieved GFLOP/s (MLPs).
    pub gflop_per_s: Option<f64>,
    /// The peer's steps/s on the same workload, when its results were given.
    pub peer_steps_per_s: Option<f64>,
    /// steps_per_s / peer_steps_per_s.
    pub ratio: Option<f64>,
}

/// FLOPs of one MLP loss-and-gradient on a batch: the forward product, the weight gradient, and the
/// error passed back through every layer but the first (2 FLOPs per multiply-add).
pub fn mlp_flop_per_step(widths: &[usize], batch: usize) -> f64 {
    let per_layer: Vec<f64> = widths.windows(2).map(|p| (p[0] * p[1]) as f64).collect();
    let all: f64 = per_layer.iter().sum();
    let back_input: f64 = per_layer.iter().skip(1).sum();
    2.0 * batch as f64 * (2.0 * all + back_input)
}

/// One core's practical peak in `T` (f32 or f64): GFLOP/s of a 768³ matrix product with faer on
/// one thread (best of 3).
pub fn gemm_peak_gflops<T: crate::models::mlp::Real>() -> f64 {
    let n = 768;
    let a = Mat::<T>::from_fn(n, n, |i, j| T::of(((i * 7 + j * 3) % 11) as f64 * 0.1));
    let b = Mat::<T>::from_fn(n, n, |i, j| T::of(((i * 5 + j) % 13) as f64 * 0.1));
    let mut c = Mat::<T>::from_fn(n, n, |_, _| T::ZERO);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            T::ONE,
            Par::Seq,
        );
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// Reads the peer's steps/s for `workload` from `<dir>/<workload>.json` (written by its run.sh).
fn peer_rate(dir: &Path, workload: &str) -> Result<f64> {
    let path = dir.join(format!("{workload}.json"));
    let text = std::fs::read_to_string(&path)
        .input_context(|| format!("reading the peer's result {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).input_context(|| format!("parsing {}", path.display()))?;
    v["steps_per_s"]
        .as_f64()
        .ok_or_else(|| Error::Input(format!("{}: no number steps_per_s", path.display())))
}

/// Runs every workload at each thread count; writes `<out>/bench.csv` and one run folder per row.
pub fn run_bench(
    out: &Path,
    peer: Option<&Path>,
    threads: &[usize],
    quiet: bool,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    for (name, text) in WORKLOADS {
        let peer_steps = peer.map(|dir| peer_rate(dir, name)).transpose()?;
        for &t in threads {
            let mut config = ValidConfig::from_toml(text)?.into_inner();
            if let Some(llc) = config.llc.as_mut() {
                llc.threads = t;
            }
            let config = ValidConfig::try_from(config)?;
            let run_dir: PathBuf = out.join(format!("{name}-t{t}"));
            let summary = run_all(
                &config,
                &RunOptions {
                    out: run_dir,
                    quiet: true,
                },
            )?
            .context("a bench config has [llc]")?;
            let llc = summary
                .llc
                .as_ref()
                .context("the bench run estimated an LLC")?;
            let wall = summary.timing_s.llc.unwrap_or(f64::NAN);
            let steps = llc.chains * (llc.burnin + llc.draws * llc.thin);
            let rate = steps as f64 / wall;
            let flop = match &config.model {
                ModelConfig::Mlp(mlp) => Some(mlp_flop_per_step(&mlp.widths, llc.batch)),
                _ => None,
            };
            let row = BenchRow {
                workload: name.to_string(),
                params: summary.d,
                threads: t,
                steps,
                wall_s: wall,
                steps_per_s: rate,
                flop_per_step: flop,
                gflop_per_s: flop.map(|f| f * rate / 1e9),
                peer_steps_per_s: peer_steps,
                ratio: peer_steps.map(|p| rate / p),
            };
            if !quiet {
                eprintln!(
                    "{:<10} d = {:>6}  threads {}  {:>10.0} steps/s{}{}",
                    row.workload,
                    row.params,
                    t,
                    rate,
                    row.gflop_per_s
                        .map(|g| format!("  {g:.1} GFLOP/s"))
                        .unwrap_or_default(),
                    row.ratio
                        .map(|r| format!("  {r:.1}× the peer"))
                        .unwrap_or_default()
                );
            }
            rows.push(row);
        }
    }
    write_csv(&out.join("bench.csv"), &rows)?;
    Ok(rows)
}
