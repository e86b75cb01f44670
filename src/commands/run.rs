//! `slt run`: train when the config asks for it, then every analysis it asks for, on one run context.

use super::{llc, run_train, volume, RunContext, RunOptions};
use crate::config::{ConfigError, ValidConfig};
use crate::error::Result;
use crate::report::Summary;

/// `slt run`: train when the config asks for it, then every analysis it asks for.
pub fn run_all(config: &ValidConfig, opts: &RunOptions) -> Result<Option<Summary>> {
    let trained = if config.train.is_some() {
        Some(run_train(config, opts)?)
    } else {
        None
    };
    if config.llc.is_none() && config.volume.is_none() && config.hessian.is_none() {
        if trained.is_none() {
            return Err(ConfigError::Invalid {
                key: "llc".into(),
                value: "absent".into(),
                rule: "nothing to do: the config has no [train], [llc], [volume] or [hessian]"
                    .into(),
            }
            .into());
        }
        return Ok(None);
    }
    // One context for every phase: the problem, its landscape and the measured point (in memory
    // after training) are built once, and summary.json gathers every phase's block.
    let mut ctx = RunContext::new(config, opts, trained)?;
    if config.llc.is_some() {
        llc::llc_phase(&mut ctx)?;
    }
    if config.volume.is_some() {
        volume::volume_phase(&mut ctx)?;
    } else if config.hessian.is_some() {
        volume::hessian_phase(&mut ctx)?;
    }
    Ok(Some(ctx.summary))
}
