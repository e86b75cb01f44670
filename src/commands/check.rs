//! `slt check FILE`: validates a run config or a sweep file (every point of its grid) without
//! running or writing anything.

use std::path::Path;

use super::no_reference_point;
use crate::config::{ConfigError, ValidConfig};
use crate::error::{Context, Result};

/// The top-level keys that make a TOML file a sweep file (a run config has none of them).
pub const SWEEP_KEYS: [&str; 4] = ["base", "axes", "zip", "set"];

/// Whether the text is a sweep file: TOML with one of [`SWEEP_KEYS`] at the top level. Text that is
/// not TOML is not a sweep file (it is then reported as a run config that does not parse).
pub fn is_sweep_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .map(|t| SWEEP_KEYS.iter().any(|k| t.contains_key(*k)))
        .unwrap_or(false)
}

/// Checks `path` as a sweep file or a run config; returns what it is, in words, for
/// `ok: <path> (<what>)`.
pub fn check_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if is_sweep_file(&text) {
        check_sweep(path)
    } else {
        check_config(path)
    }
}

fn check_sweep(path: &Path) -> Result<String> {
    let spec = crate::sweep::read_spec(path)?;
    let out = crate::sweep::out_dir(&spec, None);
    let plan =
        crate::sweep::plan(spec, out).with_context(|| format!("sweep file {}", path.display()))?;
    let keys = plan.axis_keys();
    Ok(format!(
        "sweep file {}: {} point{}{}, base {}",
        plan.spec.name,
        plan.points.len(),
        if plan.points.len() == 1 { "" } else { "s" },
        if keys.is_empty() {
            String::new()
        } else {
            format!(" over {}", keys.join(", "))
        },
        plan.spec.base_path.display()
    ))
}

fn check_config(path: &Path) -> Result<String> {
    let config = ValidConfig::from_file(path)?;
    let sections: Vec<&str> = [
        ("train", config.train.is_some()),
        ("llc", config.llc.is_some()),
        ("volume", config.volume.is_some()),
        ("hessian", config.hessian.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    // What `slt run` would find only once it started: a model with no reference point to measure
    // (a kind that must be trained, without [train]).
    let measures = config.llc.is_some() || config.volume.is_some() || config.hessian.is_some();
    if measures && config.train.is_none() && config.model.family().reference().is_none() {
        return Err(no_reference_point(&config).into());
    }
    Ok(format!(
        "run config {}: model.kind = \"{}\", {}",
        config.name,
        config.model.kind(),
        if sections.is_empty() {
            "no [train], [llc], [volume] or [hessian]: `slt run` has nothing to do".to_string()
        } else {
            sections
                .iter()
                .map(|s| format!("[{s}]"))
                .collect::<Vec<_>>()
                .join(" ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_files_are_told_apart_from_run_configs() {
        assert!(is_sweep_file("base = \"a.toml\"\n"));
        assert!(is_sweep_file("[axes]\n\"llc.step_size\" = [1e-4]\n"));
        assert!(!is_sweep_file(
            "name = \"x\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n"
        ));
        assert!(!is_sweep_file("name = \"x\"\n[model\n"));
    }
}
