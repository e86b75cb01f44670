//! `slt sweep`: grids over dotted config keys, one run folder per point, resume, shards and sweep.csv.
//!
//! A sweep file (TOML) names a base config and the keys to vary:
//!
//! ```toml
//! base = "../quickstart.toml"          # relative to the sweep file
//! name = "lr-grid"                     # optional: results/<name>/ (default: the file's stem)
//! [set]                                # optional: fixed overrides applied to every point
//! "llc.draws" = 200
//! [axes]                               # a grid: every combination (keys in alphabetical order)
//! "llc.step_size" = [1e-5, 1e-4]
//! "llc.checkpoint" = "all"             # every checkpoint step the base's [train] saves
//! [zip]                                # paired values: one extra grid dimension, lists of equal length
//! "data.teacher_rank" = [1, 2]
//! "data.singular_values" = [[2.0], [2.0, 1.0]]
//! ```
//!
//! Every point is validated (deny_unknown_fields + the config rules) before anything runs.

pub mod plot;
pub mod table;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::{run_all, run_llc, run_train, RunOptions};
use crate::config::{ConfigError, RunConfig, ValidConfig};
use crate::error::{Context, Error, IoContext, Result};
use crate::report::write_atomic;

/// The marker of a finished point (written last and atomically by the pipeline).
pub const SUMMARY: &str = "summary.json";
/// A failed point's error message.
pub const ERROR_FILE: &str = "error.txt";
/// The config a point was generated with (before "auto" is resolved), to detect a changed sweep.
pub const POINT_CONFIG: &str = "sweep_point.toml";

/// One varied key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The dotted config key, for example `llc.step_size`.
    pub key: String,
    /// Its values, in the order given.
    pub values: Vec<toml::Value>,
}

/// A parsed sweep file.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The sweep's name (results/<name>/ by default).
    pub name: String,
    /// The base config file.
    pub base_path: PathBuf,
    /// The base config as a TOML tree, with `[set]` applied.
    pub base: toml::Table,
    /// Grid axes, in alphabetical order of their keys (the first varies slowest).
    pub axes: Vec<Axis>,
    /// Zipped axes: one more grid dimension (the last) whose lists are taken together.
    pub zip: Vec<Axis>,
}

/// One point of the grid, validated.
#[derive(Debug, Clone)]
pub struct Point {
    /// Position in the grid (row order of sweep.csv).
    pub index: usize,
    /// Stable folder name made from the axis values, for example `llc.step_size=0.0001`.
    pub id: String,
    /// (dotted key, value) of every axis, grid axes then zipped ones.
    pub values: Vec<(String, toml::Value)>,
    /// The point's config.
    pub config: ValidConfig,
    /// The shared training folder whose checkpoints it measures (an `llc.checkpoint` axis), if any.
    pub train_dir: Option<PathBuf>,
}

/// A shared training run (trained once, measured at each checkpoint by many points).
#[derive(Debug, Clone)]
pub struct Training {
    /// Its folder.
    pub dir: PathBuf,
    /// The config it trains (the first of its points, without `llc.from`).
    pub config: ValidConfig,
}

/// Every point of a sweep, and the trainings they share.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The sweep file as parsed.
    pub spec: SweepSpec,
    /// The results folder.
    pub out: PathBuf,
    /// All points, in grid order.
    pub points: Vec<Point>,
    /// Shared trainings (empty unless there is an `llc.checkpoint` axis).
    pub trainings: Vec<Training>,
}

impl Plan {
    /// The column names of the axes, in order.
    pub fn axis_keys(&self) -> Vec<String> {
        self.spec
            .axes
            .iter()
            .chain(&self.spec.zip)
            .map(|a| a.key.clone())
            .collect()
    }

    /// A point's run folder.
    pub fn point_dir(&self, p: &Point) -> PathBuf {
        self.out.join("points").join(&p.id)
    }
}

/// Which points this process runs: every `count`-th point starting at `index` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ index < count (Slurm's `$SLURM_ARRAY_TASK_ID` with `--array=0-(N-1)`).
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s:?}: expected I/N with 0 ≤ I < N, for example 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Points run at once (threads).
    pub jobs: usize,
    /// Run only this shard's points.
    pub shard: Option<Shard>,
    /// Hide the progress bar and notes.
    pub quiet: bool,
}

/// What a sweep run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Points in this run's share (all, or the shard's).
    pub points: usize,
    /// Points skipped because they had finished before.
    pub skipped: usize,
    /// Points run now that finished.
    pub finished: usize,
    /// Points run now that failed (their error is in sweep.csv's `error` column).
    pub failed: usize,
    /// The CSV written.
    pub csv: PathBuf,
}

fn invalid(key: &str, value: impl std::fmt::Display, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

/// A value as one short token (for folder names): numbers as written, lists joined by `+`.
pub fn value_token(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format_float(*f),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(a) => a.iter().map(value_token).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    }
}

/// A float in its shortest round-trip form, in exponent notation when that is shorter.
pub fn format_float(f: f64) -> String {
    let plain = format!("{f}");
    let exp = format!("{f:e}");
    if exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

/// A value as a CSV cell: strings bare, numbers as written, lists as TOML.
pub fn value_cell(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format_float(*f),
        other => other.to_string(),
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The stable id of a point: `key=value` pairs joined by `,`, other characters replaced by `_`.
pub fn point_id(values: &[(String, toml::Value)]) -> String {
    if values.is_empty() {
        return "base".into();
    }
    let raw = values
        .iter()
        .map(|(k, v)| format!("{k}={}", value_token(v)))
        .collect::<Vec<_>>()
        .join(",");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-=,".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() > 120 {
        format!("{}-{:016x}", &clean[..100], fnv(&raw))
    } else {
        clean
    }
}

/// Sets a dotted key in a TOML tree, creating tables on the way.
pub fn set_key(tree: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(
            key,
            &value,
            "not a dotted config key like llc.step_size",
        ));
    }
    let mut table = tree;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(invalid(
                    key,
                    &value,
                    format!(
                        "{} is not a table in the base config",
                        parts[..=i].join(".")
                    ),
                ))
            }
        };
    }
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn parse_config(tree: toml::Table) -> Result<RunConfig, String> {
    toml::Value::Table(tree)
        .try_into::<RunConfig>()
        .map_err(|e| e.to_string().trim().to_string())
}

/// Reads and checks a sweep file (not yet its points).
pub fn read_spec(path: &Path) -> Result<SweepSpec, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let mut file: toml::Table = toml::from_str(&text).map_err(|e| parse_err(e.to_string()))?;
    for key in file.keys() {
        if !["base", "name", "set", "axes", "zip"].contains(&key.as_str()) {
            return Err(invalid(
                key,
                &file[key],
                "unknown sweep-file key; expected base, name, [set], [axes], [zip]",
            ));
        }
    }
    let base_rel = match file.remove("base") {
        Some(toml::Value::String(s)) => PathBuf::from(s),
        Some(other) => return Err(invalid("base", other, "must be a path (a string)")),
        None => {
            return Err(invalid(
                "base",
                "absent",
                "a sweep file names its base config: base = \"config.toml\"",
            ))
        }
    };
    let base_path = path.parent().unwrap_or(Path::new("")).join(&base_rel);
    let base_text = std::fs::read_to_string(&base_path).map_err(|source| ConfigError::Read {
        path: base_path.clone(),
        source,
    })?;
    let mut base: toml::Table = toml::from_str(&base_text).map_err(|e| ConfigError::Parse {
        path: base_path.clone(),
        message: e.to_string(),
    })?;
    let name = match file.remove("name") {
        Some(toml::Value::String(s)) => s,
        Some(other) => return Err(invalid("name", other, "must be a string")),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into()),
    };
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(invalid(
            "name",
            &name,
            "must be a folder name without slashes",
        ));
    }
    let table = |file: &mut toml::Table, which: &str| -> Result<toml::Table, ConfigError> {
        match file.remove(which) {
            Some(toml::Value::Table(t)) => Ok(t),
            Some(other) => Err(invalid(which, other, "must be a table")),
            None => Ok(toml::Table::new()),
        }
    };
    for (key, value) in table(&mut file, "set")? {
        set_key(&mut base, &key, value)?;
    }
    let axis_list = |section: &str, t: toml::Table| -> Result<Vec<Axis>, ConfigError> {
        let mut out = Vec::new();
        for (key, value) in t {
            let full = format!("{section}.\"{key}\"");
            let values = match value {
                toml::Value::Array(a) => a,
                toml::Value::String(s)
                    if s == "all" && key == "llc.checkpoint" && section == "axes" =>
                {
                    all_checkpoints(&base)?
                }
                other => {
                    return Err(invalid(
                        &full,
                        other,
                        "an axis is a list of values (or \"all\" for axes.\"llc.checkpoint\")",
                    ))
                }
            };
            if values.is_empty() {
                return Err(invalid(&full, "[]", "an axis needs at least one value"));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    return Err(invalid(&full, v, "lists this value twice"));
                }
            }
            out.push(Axis { key, values });
        }
        Ok(out)
    };
    let axes = axis_list("axes", table(&mut file, "axes")?)?;
    let zip = axis_list("zip", table(&mut file, "zip")?)?;
    if let Some(first) = zip.first() {
        if let Some(other) = zip.iter().find(|a| a.values.len() != first.values.len()) {
            return Err(invalid(
                &format!("zip.\"{}\"", other.key),
                format!("{} values", other.values.len()),
                format!(
                    "zipped lists must have equal lengths; zip.\"{}\" has {}",
                    first.key,
                    first.values.len()
                ),
            ));
        }
    }
    if let Some(k) = axes
        .iter()
        .map(|a| &a.key)
        .find(|k| zip.iter().any(|z| &z.key == *k))
    {
        return Err(invalid(
            k,
            "in [axes] and [zip]",
            "a key can vary in one place only",
        ));
    }
    Ok(SweepSpec {
        name,
        base_path,
        base,
        axes,
        zip,
    })
}

/// The checkpoint steps the base config's training saves.
fn all_checkpoints(base: &toml::Table) -> Result<Vec<toml::Value>, ConfigError> {
    let config = parse_config(base.clone()).map_err(|m| {
        invalid(
            "axes.\"llc.checkpoint\"",
            "\"all\"",
            format!("the base config does not parse: {m}"),
        )
    })?;
    let Some(t) = &config.train else {
        return Err(invalid(
            "axes.\"llc.checkpoint\"",
            "\"all\"",
            "needs a [train] section in the base config",
        ));
    };
    if let crate::sections::train::Checkpoints::Count(k) = t.checkpoints {
        let max = crate::sections::train::MAX_CHECKPOINTS;
        if k > max {
            return Err(invalid(
                "train.checkpoints",
                k,
                format!("must be at most {max}"),
            ));
        }
    }
    Ok(
        crate::sections::train::checkpoint_steps(&t.checkpoints, t.steps)
            .into_iter()
            .map(|s| toml::Value::Integer(s as i64))
            .collect(),
    )
}

/// Expands and validates every point; nothing is written.
pub fn plan(spec: SweepSpec, out: PathBuf) -> Result<Plan, ConfigError> {
    let dims: Vec<usize> = spec
        .axes
        .iter()
        .map(|a| a.values.len())
        .chain(spec.zip.first().map(|z| z.values.len()))
        .collect();
    let total: usize = dims.iter().product();
    let shares_training = spec.axes.iter().any(|a| a.key == "llc.checkpoint")
        && spec.base.get("llc").and_then(|l| l.get("from")).is_none();
    let mut points = Vec::with_capacity(total);
    let mut trainings: Vec<Training> = Vec::new();
    let mut ids = BTreeMap::new();
    for index in 0..total {
        // Mixed radix, the first axis slowest.
        let mut rest = index;
        let mut pos = vec![0; dims.len()];
        for (d, &len) in dims.iter().enumerate().rev() {
            pos[d] = rest % len;
            rest /= len;
        }
        let mut values: Vec<(String, toml::Value)> = spec
            .axes
            .iter()
            .zip(&pos)
            .map(|(a, &i)| (a.key.clone(), a.values[i].clone()))
            .collect();
        if !spec.zip.is_empty() {
            let i = pos[dims.len() - 1];
            values.extend(
                spec.zip
                    .iter()
                    .map(|a| (a.key.clone(), a.values[i].clone())),
            );
        }
        let id = point_id(&values);
        let mut tree = spec.base.clone();
        for (k, v) in &values {
            set_key(&mut tree, k, v.clone())?;
        }
        let train_dir = shares_training.then(|| {
            let outer: Vec<(String, toml::Value)> = values
                .iter()
                .filter(|(k, _)| !k.starts_with("llc."))
                .cloned()
                .collect();
            if outer.is_empty() {
                out.join("train")
            } else {
                out.join("train").join(point_id(&outer))
            }
        });
        if let Some(dir) = &train_dir {
            set_key(
                &mut tree,
                "llc.from",
                toml::Value::String(dir.to_string_lossy().into_owned()),
            )?;
        }
        let config = match parse_config(tree) {
            Ok(raw) => ValidConfig::try_from(raw),
            Err(message) => Err(blame_axis(&spec, &values).unwrap_or(ConfigError::Parse {
                path: spec.base_path.clone(),
                message: format!("sweep point {id}: {message}"),
            })),
        }?;
        if config.llc.is_none() {
            return Err(invalid(
                "llc",
                "absent",
                format!("sweep point {id} has no [llc] section: every point estimates the LLC (its summary.json marks it finished)"),
            ));
        }
        if let Some(prev) = ids.insert(id.clone(), index) {
            return Err(invalid(
                "axes",
                &id,
                format!("points {prev} and {index} have the same id"),
            ));
        }
        if let Some(dir) = &train_dir {
            if !trainings.iter().any(|t| &t.dir == dir) {
                let mut raw = (*config).clone();
                if let Some(l) = raw.llc.as_mut() {
                    l.from = None;
                    l.checkpoint = None;
                }
                trainings.push(Training {
                    dir: dir.clone(),
                    config: ValidConfig::try_from(raw)?,
                });
            }
        }
        points.push(Point {
            index,
            id,
            values,
            config,
            train_dir,
        });
    }
    Ok(Plan {
        spec,
        out,
        points,
        trainings,
    })
}

/// After a point failed to parse: the axis whose value alone makes the base fail, named by its key.
fn blame_axis(spec: &SweepSpec, values: &[(String, toml::Value)]) -> Option<ConfigError> {
    values.iter().find_map(|(k, v)| {
        let mut tree = spec.base.clone();
        set_key(&mut tree, k, v.clone()).ok()?;
        parse_config(tree)
            .err()
            .map(|m| invalid(k, v, format!("not a valid config key or value: {m}")))
    })
}

/// The resolved results folder of a sweep.
pub fn out_dir(spec: &SweepSpec, out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| Path::new("results").join(&spec.name))
}

/// A config as compared on resume (without `llc.from`, which depends on how --out was spelled).
fn comparable(config: &RunConfig) -> String {
    let mut c = config.clone();
    if let Some(l) = c.llc.as_mut() {
        l.from = None;
    }
    toml::to_string(&c).unwrap_or_default()
}

/// Refuses to resume into a folder whose finished points were run with a different config.
fn check_resume(plan: &Plan) -> Result<(), ConfigError> {
    for p in &plan.points {
        let path = plan.point_dir(p).join(POINT_CONFIG);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let same = ValidConfig::from_toml(&text)
            .map(|old| comparable(&old) == comparable(&p.config))
            .unwrap_or(false);
        if !same && plan.point_dir(p).join(SUMMARY).exists() {
            return Err(invalid(
                "--out",
                plan.out.display(),
                format!(
                    "point {} there was run with a different config ({}); use another --out or remove that folder",
                    p.id,
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Reads, plans and validates a sweep file: the work `slt sweep` does before running anything.
pub fn load(file: &Path, out: Option<PathBuf>) -> Result<Plan> {
    let spec = read_spec(file)?;
    let out = out_dir(&spec, out);
    let plan = plan(spec, out).with_context(|| format!("sweep file {}", file.display()))?;
    check_resume(&plan)?;
    Ok(plan)
}

fn progress(quiet: bool, total: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} points, {elapsed} eta {eta}")
            .expect("a fixed template")
            .progress_chars("=> "),
    );
    pb.set_message("sweep");
    pb
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Trains a shared training run into a temporary sibling folder, then renames it into place, so that
/// a killed process or two shards training at once never leave a half-written `train/`.
fn ensure_training(t: &Training, quiet: bool) -> Result<()> {
    if t.dir.join("train_log.csv").exists() {
        return Ok(());
    }
    let parent = t.dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).output_context(|| format!("creating {}", parent.display()))?;
    let name = t
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "train".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).ok();
    }
    let opts = RunOptions {
        out: tmp.clone(),
        quiet,
    };
    run_train(&t.config, &opts).with_context(|| format!("training {}", t.dir.display()))?;
    if std::fs::rename(&tmp, &t.dir).is_err() {
        // Another shard finished first (same seed, same training): use its folder.
        std::fs::remove_dir_all(&tmp).ok();
        if !t.dir.join("train_log.csv").exists() {
            return Err(Error::Write(format!(
                "could not move {} to {}",
                tmp.display(),
                t.dir.display()
            )));
        }
    }
    Ok(())
}

/// Runs one point into its folder; returns the error message of a failed point.
fn run_point(plan: &Plan, p: &Point) -> Result<(), String> {
    let dir = plan.point_dir(p);
    let attempt = || -> Result<()> {
        std::fs::create_dir_all(&dir).output_context(|| format!("creating {}", dir.display()))?;
        let err_file = dir.join(ERROR_FILE);
        if err_file.exists() {
            std::fs::remove_file(&err_file).ok();
        }
        write_atomic(
            &dir.join(POINT_CONFIG),
            toml::to_string(&*p.config)
                .context("formatting config")?
                .as_bytes(),
        )?;
        let opts = RunOptions {
            out: dir.clone(),
            quiet: true,
        };
        if p.train_dir.is_some() {
            run_llc(&p.config, &opts, None)?;
        } else {
            run_all(&p.config, &opts)?;
        }
        Ok(())
    };
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => format!("{e:#}"),
        Err(panic) => format!("panicked: {}", panic_message(&*panic)),
    };
    let message = result.replace(['\n', '\r'], " ");
    write_atomic(&dir.join(ERROR_FILE), message.as_bytes()).ok();
    Err(message)
}

/// `slt sweep`: runs the points not yet finished (of this shard), `jobs` at a time, and keeps
/// sweep.csv (or the shard's CSV) current after every point.
pub fn run_sweep(plan: &Plan, opts: &SweepOptions) -> Result<SweepOutcome> {
    let mine: Vec<&Point> = plan
        .points
        .iter()
        .filter(|p| opts.shard.is_none_or(|s| p.index % s.count == s.index))
        .collect();
    let csv = match opts.shard {
        Some(s) => plan
            .out
            .join(format!("sweep-shard-{}-of-{}.csv", s.index, s.count)),
        None => plan.out.join("sweep.csv"),
    };
    let todo: Vec<&Point> = mine
        .iter()
        .copied()
        .filter(|p| !plan.point_dir(p).join(SUMMARY).exists())
        .collect();
    let mut outcome = SweepOutcome {
        points: mine.len(),
        skipped: mine.len() - todo.len(),
        csv: csv.clone(),
        ..Default::default()
    };
    std::fs::create_dir_all(&plan.out)
        .output_context(|| format!("creating {}", plan.out.display()))?;
    plot::write_meta(plan)?;
    if !opts.quiet {
        eprintln!(
            "sweep {}: {} points{}, {} finished before, {} to run, {} at a time; results in {}",
            plan.spec.name,
            mine.len(),
            opts.shard
                .map(|s| format!(" in shard {}/{} of {}", s.index, s.count, plan.points.len()))
                .unwrap_or_default(),
            outcome.skipped,
            todo.len(),
            opts.jobs.max(1),
            plan.out.display()
        );
    }
    // Shared trainings first (only those a remaining point needs).
    let mut failed_training: BTreeMap<PathBuf, String> = BTreeMap::new();
    for t in &plan.trainings {
        if todo.iter().any(|p| p.train_dir.as_ref() == Some(&t.dir)) {
            if let Err(e) = ensure_training(t, opts.quiet) {
                failed_training.insert(t.dir.clone(), format!("training failed: {e:#}"));
            }
        }
    }
    let pb = progress(opts.quiet, todo.len() as u64);
    let next = AtomicUsize::new(0);
    let counts = Mutex::new((0usize, 0usize));
    let write_lock = Mutex::new(());
    let mine_ref = &mine;
    let refresh = || -> Result<()> {
        let _guard = write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let rows = table::rows_for(plan, mine_ref.iter().copied());
        table::write_table(&csv, &plan.axis_keys(), &rows)
    };
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1).min(todo.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(p) = todo.get(k) else { break };
                let result = match p.train_dir.as_ref().and_then(|d| failed_training.get(d)) {
                    Some(msg) => {
                        let dir = plan.point_dir(p);
                        std::fs::create_dir_all(&dir).ok();
                        write_atomic(&dir.join(ERROR_FILE), msg.as_bytes()).ok();
                        Err(msg.clone())
                    }
                    None => run_point(plan, p),
                };
                {
                    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
                    match &result {
                        Ok(()) => c.0 += 1,
                        Err(_) => c.1 += 1,
                    }
                }
                if let Err(e) = refresh() {
                    pb.println(format!(
                        "warning: could not update {}: {e:#}",
                        csv.display()
                    ));
                }
                if !opts.quiet {
                    let line = match &result {
                        Ok(()) => table::short_result(&plan.point_dir(p)),
                        Err(e) => format!("failed: {e}"),
                    };
                    if pb.is_hidden() {
                        eprintln!("point {}: {line}", p.id);
                    } else {
                        pb.println(format!("point {}: {line}", p.id));
                    }
                }
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    refresh()?;
    let (finished, failed) = *counts.lock().unwrap_or_else(|e| e.into_inner());
    outcome.finished = finished;
    outcome.failed = failed;
    if !opts.quiet {
        eprintln!(
            "sweep {}: {} finished now, {} before, {} failed; {}",
            plan.spec.name,
            finished,
            outcome.skipped,
            failed,
            csv.display()
        );
    }
    Ok(outcome)
}

/// `slt sweep FILE --merge`: gathers the shards' CSVs and every finished point folder into sweep.csv.
pub fn merge(plan: &Plan, quiet: bool) -> Result<(PathBuf, usize)> {
    let rows = table::merged_rows(plan)?;
    plot::write_meta(plan)?;
    let csv = plan.out.join("sweep.csv");
    table::write_table(&csv, &plan.axis_keys(), &rows)?;
    let missing = plan.points.len() - rows.len();
    if !quiet {
        eprintln!(
            "merged {} of {} points into {}{}",
            rows.len(),
            plan.points.len(),
            csv.display(),
            if missing > 0 {
                format!(" ({missing} have no result yet)")
            } else {
                String::new()
            }
        );
    }
    Ok((csv, rows.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_clean() {
        let v = vec![
            ("llc.step_size".to_string(), toml::Value::Float(1e-5)),
            (
                "data.singular_values".to_string(),
                toml::Value::Array(vec![toml::Value::Float(2.0), toml::Value::Float(1.0)]),
            ),
        ];
        assert_eq!(point_id(&v), "llc.step_size=1e-5,data.singular_values=2+1");
        assert_eq!(point_id(&[]), "base");
    }

    #[test]
    fn set_key_creates_tables_and_rejects_scalars_on_the_way() {
        let mut t: toml::Table = toml::from_str("name = \"x\"\n").unwrap();
        set_key(&mut t, "llc.draws", toml::Value::Integer(5)).unwrap();
        assert_eq!(t["llc"]["draws"].as_integer(), Some(5));
        let e = set_key(&mut t, "name.x", toml::Value::Integer(1)).unwrap_err();
        assert!(e.to_string().contains("name.x"), "{e}");
    }

    #[test]
    fn shard_parses() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
