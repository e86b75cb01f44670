//! The LLC estimator λ̂ = nβ (E_p[L_n] − L_n(w*)), computed from the chains' loss traces.

use crate::chains::ChainTrace;
use crate::diagnostics::{effective_sample_size, mean_and_variance, split_rhat};
use crate::error::{Error, Result};

/// The default inverse temperature times n: nβ = n / ln n (β = 1 / ln n, Watanabe's WBIC choice).
pub fn default_nbeta(n: usize) -> f64 {
    let n = n.max(3) as f64;
    n / n.ln()
}

/// A local learning coefficient estimate with its diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct LlcEstimate {
    /// Mean of the per-chain estimates over the chains that did not diverge.
    pub mean: f64,
    /// Standard deviation of the per-chain estimates (0 with one chain).
    pub std: f64,
    /// Standard error of `mean`: nβ · sd(loss) / sqrt(ESS), from the pooled loss trace's effective sample size.
    pub stderr: f64,
    /// λ̂_c per chain that did not diverge, in chain order.
    pub per_chain: Vec<f64>,
    /// The nβ used.
    pub nbeta: f64,
    /// The full-batch loss at w*, L_n(w*).
    pub init_loss: f64,
    /// Split R-hat of the loss traces.
    pub rhat: f64,
    /// Effective sample size of the pooled loss traces.
    pub ess: f64,
    /// Number of chains run.
    pub chains: usize,
    /// Draws per chain.
    pub draws: usize,
    /// Number of chains that diverged and were excluded.
    pub diverged_chains: usize,
    /// The same estimate from the full-batch losses, where they were recorded.
    pub full_batch_mean: Option<f64>,
}

impl LlcEstimate {
    /// Estimates λ̂ from the chains' loss traces; diverged chains are excluded and counted.
    ///
    /// Fails with [`Error::AllChainsDiverged`] when no chain is left.
    pub fn from_traces(traces: &[ChainTrace], init_loss: f64, nbeta: f64) -> Result<Self> {
        let kept: Vec<&ChainTrace> = traces
            .iter()
            .filter(|t| t.divergence.is_none() && !t.losses.is_empty())
            .collect();
        if kept.is_empty() {
            let reason = traces
                .iter()
                .find_map(|t| {
                    t.divergence
                        .as_ref()
                        .map(|d| format!("chain {}: {} at step {}", t.chain, d.reason, d.step))
                })
                .unwrap_or_else(|| "no draws".into());
            return Err(Error::AllChainsDiverged {
                chains: traces.len(),
                reason,
            });
        }
        if !init_loss.is_finite() {
            return Err(Error::Numerical {
                what: "LLC estimate",
                why: format!("the loss at w* is {init_loss}"),
            });
        }
        let per_chain: Vec<f64> = kept
            .iter()
            .map(|t| nbeta * (mean_and_variance(&t.losses).0 - init_loss))
            .collect();
        let (mean, var_chains) = mean_and_variance(&per_chain);
        let slices: Vec<&[f64]> = kept.iter().map(|t| t.losses.as_slice()).collect();
        let pooled: Vec<f64> = slices.iter().flat_map(|s| s.iter().copied()).collect();
        let (_, var_loss) = mean_and_variance(&pooled);
        let ess = effective_sample_size(&slices);
        let rhat = split_rhat(&slices);
        let stderr = if ess > 0.0 {
            nbeta * (var_loss / ess).sqrt()
        } else {
            f64::NAN
        };
        let full: Vec<f64> = kept
            .iter()
            .flat_map(|t| t.full_losses.iter().map(|(_, l)| *l))
            .collect();
        let full_batch_mean =
            (!full.is_empty()).then(|| nbeta * (mean_and_variance(&full).0 - init_loss));
        Ok(Self {
            mean,
            std: if per_chain.len() > 1 {
                var_chains.sqrt()
            } else {
                0.0
            },
            stderr,
            per_chain,
            nbeta,
            init_loss,
            rhat,
            ess,
            chains: traces.len(),
            draws: traces.iter().map(|t| t.losses.len()).max().unwrap_or(0),
            diverged_chains: traces.len() - kept.len(),
            full_batch_mean,
        })
    }
}

/// Each chain's running λ̂ after every draw, nβ (mean of the first k losses − L_n(w*)), for trace plots.
pub fn running_llc(trace: &ChainTrace, init_loss: f64, nbeta: f64) -> Vec<f64> {
    let mut sum = 0.0;
    trace
        .losses
        .iter()
        .enumerate()
        .map(|(k, l)| {
            sum += l;
            nbeta * (sum / (k + 1) as f64 - init_loss)
        })
        .collect()
}
