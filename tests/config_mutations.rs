//! Random mutations of every shipped config and sweep file through `slt check`: wrong types,
//! out-of-range and non-finite numbers, unknown and misplaced keys, truncated files. None may panic
//! (exit 0 or 2, never 101 or a signal); an exit 2 names a key; the file is left as it was. And a run
//! that fails on bad input found only once it started exits 2 without leaving temp files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Mutations of each kind per file (five kinds).
const PER_KIND: usize = 10;

/// The keys of the config schema and of a sweep file, by section ("" is the top level). A key moved
/// into a section whose list lacks it is certainly invalid there.
const SCHEMA: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "name", "seed", "model", "data", "train", "llc", "volume", "hessian",
        ],
    ),
    (
        "model",
        &[
            "kind",
            "widths",
            "features",
            "hidden",
            "modulus",
            "monomials",
        ],
    ),
    (
        "data",
        &[
            "n",
            "test_n",
            "teacher_rank",
            "singular_values",
            "noise",
            "feature_probability",
            "train_fraction",
        ],
    ),
    (
        "train",
        &[
            "steps",
            "optimizer",
            "lr",
            "batch",
            "init_scale",
            "checkpoints",
            "weight_decay",
        ],
    ),
    (
        "llc",
        &[
            "sampler",
            "step_size",
            "localization",
            "nbeta",
            "chains",
            "draws",
            "burnin",
            "thin",
            "batch",
            "full_loss_every",
            "threads",
            "ladder",
            "ladder_localization",
            "mala_every",
            "check_step",
            "precision",
            "device",
            "checkpoint",
            "from",
        ],
    ),
    (
        "volume",
        &[
            "eps",
            "methods",
            "prior",
            "live_points",
            "runs",
            "directions",
            "precondition",
            "loss",
            "layer",
        ],
    ),
    ("volume.eps", &["from", "to", "points"]),
    ("volume.prior", &["kind", "half_width", "std"]),
    ("hessian", &["method", "top_k", "rank_rtol"]),
];

/// The top-level keys of a sweep file.
const SWEEP_KEYS: &[&str] = &["base", "name", "set", "axes", "zip"];

/// Every shipped config and sweep file: configs/**/*.toml and results/**/config.toml.
fn shipped() -> Vec<PathBuf> {
    fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, keep, out);
            } else if keep(&p) {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(
        &root.join("configs"),
        &|p| p.extension().is_some_and(|e| e == "toml"),
        &mut files,
    );
    walk(
        &root.join("results"),
        &|p| p.file_name().is_some_and(|n| n == "config.toml"),
        &mut files,
    );
    files.sort();
    files
}

/// A path to a value in a TOML tree: table keys and array indices.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every value's path (tables included), depth first.
fn paths(table: &toml::Table) -> Vec<Vec<Step>> {
    fn walk(v: &toml::Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(at.clone());
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    at.push(Step::Key(k.clone()));
                    walk(v, at, out);
                    at.pop();
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    at.push(Step::Index(i));
                    walk(v, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(
        &toml::Value::Table(table.clone()),
        &mut Vec::new(),
        &mut out,
    );
    out.retain(|p| !p.is_empty());
    out
}

fn get_mut<'a>(v: &'a mut toml::Value, path: &[Step]) -> &'a mut toml::Value {
    path.iter().fold(v, |v, s| match (s, v) {
        (Step::Key(k), toml::Value::Table(t)) => t.get_mut(k).expect("a path of the tree"),
        (Step::Index(i), toml::Value::Array(a)) => &mut a[*i],
        _ => panic!("a path of the tree"),
    })
}

/// The last table key on the path (the key an error about this value names).
fn key_of(path: &[Step]) -> String {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Step::Key(k) => Some(k.clone()),
            Step::Index(_) => None,
        })
        .expect("a path starts at a key")
}

/// The dotted name of a table reached through keys ("" for the top level).
fn dotted(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => k.as_str(),
            Step::Index(_) => "[]",
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Every key in the tree, and each part of a dotted key (a sweep axis like "llc.step_size").
fn keys_in(table: &toml::Table) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for p in paths(table) {
        if let Some(Step::Key(k)) = p.last() {
            keys.insert(k.clone());
            keys.extend(k.split('.').map(str::to_string));
        }
    }
    keys
}

/// Whether `text` names `key` as a whole word (not inside a longer identifier).
fn names(text: &str, key: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(key).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + key.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    WrongType,
    OutOfRange,
    UnknownKey,
    MisplacedKey,
    Truncated,
}

/// One mutated file: its text, what was done, the key it is about, and whether it is certainly
/// invalid (then `slt check` must exit 2 naming `key`).
struct Mutation {
    kind: Kind,
    text: String,
    what: String,
    key: Option<String>,
    invalid: bool,
}

const ODD_WORD: &str = "not-a-value";

/// A value of another type than `original`, and whether it is certainly invalid: a number where a
/// string was may be valid ("auto" or a number).
fn wrong_type(original: &toml::Value, rng: &mut Xoshiro256PlusPlus) -> (toml::Value, bool) {
    let string = toml::Value::String(ODD_WORD.into());
    let array = toml::Value::Array(vec![toml::Value::String(ODD_WORD.into())]);
    let mut t = toml::Table::new();
    t.insert("unexpected".into(), toml::Value::Integer(1));
    let table = toml::Value::Table(t);
    let number = toml::Value::Integer(7);
    let choices: Vec<toml::Value> = match original {
        toml::Value::String(_) => vec![number, array, table, toml::Value::Boolean(true)],
        toml::Value::Integer(_) | toml::Value::Float(_) => {
            vec![string, array, table, toml::Value::Boolean(true)]
        }
        toml::Value::Boolean(_) => vec![string, number, array],
        toml::Value::Array(_) => vec![string, table, toml::Value::Boolean(true)],
        toml::Value::Table(_) => vec![string, array, number],
        toml::Value::Datetime(_) => vec![string, number],
    };
    let value = choices.choose(rng).expect("choices").clone();
    let invalid = !(original.is_str() && value.is_integer());
    (value, invalid)
}

/// Numbers outside every range, or maybe inside one: (value, certainly invalid for any field).
fn odd_number(rng: &mut Xoshiro256PlusPlus) -> (toml::Value, bool) {
    let choices = [
        (toml::Value::Integer(-1), true),
        (toml::Value::Float(-1.5), true),
        (toml::Value::Float(f64::NAN), true),
        (toml::Value::Float(f64::INFINITY), true),
        (toml::Value::Float(f64::NEG_INFINITY), true),
        (toml::Value::Integer(0), false),
        (toml::Value::Float(0.0), false),
        (toml::Value::Float(1e308), false),
        (toml::Value::Integer(i64::MAX), false),
    ];
    choices.choose(rng).expect("choices").clone()
}

fn mutate(original: &str, kind: Kind, sweep: bool, rng: &mut Xoshiro256PlusPlus) -> Mutation {
    let table: toml::Table = toml::from_str(original).expect("a shipped file parses");
    let all = paths(&table);
    let mut root = toml::Value::Table(table.clone());
    let render = |root: &toml::Value| toml::to_string(root).expect("a TOML tree renders");
    match kind {
        Kind::WrongType => {
            let path = all.choose(rng).expect("a value").clone();
            let slot = get_mut(&mut root, &path);
            let (value, invalid) = wrong_type(slot, rng);
            *slot = value;
            let key = key_of(&path);
            Mutation {
                kind,
                what: format!("{path:?} = {slot}"),
                text: render(&root),
                invalid,
                key: Some(key),
            }
        }
        Kind::OutOfRange => {
            let numbers: Vec<&Vec<Step>> = all
                .iter()
                .filter(|p| {
                    let mut r = root.clone();
                    matches!(
                        get_mut(&mut r, p),
                        toml::Value::Integer(_) | toml::Value::Float(_)
                    )
                })
                .collect();
            let Some(path) = numbers.choose(rng).map(|p| (*p).clone()) else {
                return mutate(original, Kind::UnknownKey, sweep, rng);
            };
            let (value, invalid) = odd_number(rng);
            *get_mut(&mut root, &path) = value.clone();
            Mutation {
                kind,
                what: format!("{path:?} = {value}"),
                text: render(&root),
                invalid,
                key: Some(key_of(&path)),
            }
        }
        Kind::UnknownKey => {
            let tables: Vec<Vec<Step>> = std::iter::once(Vec::new())
                .chain(all.iter().cloned())
                .filter(|p| {
                    let mut r = root.clone();
                    matches!(get_mut(&mut r, p), toml::Value::Table(_))
                })
                .collect();
            let at = tables.choose(rng).expect("the top level").clone();
            let key = ["chainz", "stepsize", "foo_bar", "lerning_rate"]
                .choose(rng)
                .expect("names")
                .to_string();
            // In a sweep's [axes] or [zip] an entry is a list of values.
            let value =
                if sweep && matches!(at.as_slice(), [Step::Key(k)] if k == "axes" || k == "zip") {
                    toml::Value::Array(vec![toml::Value::Integer(1)])
                } else {
                    toml::Value::Integer(1)
                };
            if let toml::Value::Table(t) = get_mut(&mut root, &at) {
                t.insert(key.clone(), value);
            }
            Mutation {
                kind,
                what: format!("{key} added in {at:?}"),
                text: render(&root),
                invalid: true,
                key: Some(key),
            }
        }
        Kind::MisplacedKey => {
            // A key of one table moved into another (the top level counts), maybe where it is unknown.
            let sections: Vec<Vec<Step>> = std::iter::once(Vec::new())
                .chain(all.iter().cloned())
                .filter(|p| {
                    let mut r = root.clone();
                    p.iter().all(|s| matches!(s, Step::Key(_)))
                        && matches!(get_mut(&mut r, p), toml::Value::Table(_))
                })
                .collect();
            let leaves: Vec<&Vec<Step>> = all
                .iter()
                .filter(|p| p.iter().all(|s| matches!(s, Step::Key(_))))
                .collect();
            let from = (*leaves.choose(rng).expect("a key")).clone();
            let key = key_of(&from);
            let parent = from[..from.len() - 1].to_vec();
            let targets: Vec<&Vec<Step>> = sections
                .iter()
                .filter(|s| **s != parent && !s.starts_with(&from))
                .collect();
            let Some(to) = targets.choose(rng).map(|t| (*t).clone()) else {
                return mutate(original, Kind::UnknownKey, sweep, rng);
            };
            let (from_section, to_section) = (dotted(&parent), dotted(&to));
            let value = match get_mut(&mut root, &parent) {
                toml::Value::Table(t) => t.remove(&key).expect("the key"),
                _ => unreachable!("a key's parent is a table"),
            };
            let exists_there = match get_mut(&mut root, &to) {
                toml::Value::Table(t) => t.insert(key.clone(), value).is_some(),
                _ => unreachable!("filtered to tables"),
            };
            // Certainly invalid where the target's schema lacks the key. A sweep file's tables
            // hold dotted config keys, where a moved key may be valid.
            let schema: Option<&[&str]> = if sweep {
                (to_section.is_empty()).then_some(SWEEP_KEYS)
            } else {
                SCHEMA
                    .iter()
                    .find(|(s, _)| *s == to_section)
                    .map(|(_, k)| *k)
            };
            let invalid = !exists_there && schema.is_some_and(|k| !k.contains(&key.as_str()));
            Mutation {
                kind,
                what: format!("{key} moved from [{from_section}] to [{to_section}]"),
                text: render(&root),
                invalid,
                key: Some(key),
            }
        }
        Kind::Truncated => {
            let mut cut = rng.random_range(0..original.len());
            while !original.is_char_boundary(cut) {
                cut -= 1;
            }
            Mutation {
                kind,
                what: format!("truncated to {cut} of {} bytes", original.len()),
                text: original[..cut].to_string(),
                invalid: false,
                key: None,
            }
        }
    }
}

fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
        .collect();
    out.sort();
    out
}

#[test]
fn mutated_configs_never_panic_and_exit_2_names_a_key() {
    let files = shipped();
    assert!(
        files.len() >= 17,
        "expected the shipped configs, found {files:?}"
    );
    let schema_keys: BTreeSet<String> = SCHEMA
        .iter()
        .flat_map(|(s, k)| {
            k.iter()
                .map(|k| k.to_string())
                .chain(s.split('.').map(str::to_string))
        })
        .chain(SWEEP_KEYS.iter().map(|k| k.to_string()))
        .filter(|k| k.len() > 1)
        .collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(20240611);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for file in &files {
        let original = std::fs::read_to_string(file).unwrap();
        let table: toml::Table = toml::from_str(&original).unwrap();
        let sweep = ["base", "axes", "zip", "set"]
            .iter()
            .any(|k| table.contains_key(*k));
        let file_keys = keys_in(&table);
        for kind in [
            Kind::WrongType,
            Kind::OutOfRange,
            Kind::UnknownKey,
            Kind::MisplacedKey,
            Kind::Truncated,
        ] {
            for _ in 0..PER_KIND {
                let m = mutate(&original, kind, sweep, &mut rng);
                // The file's folder (a sweep's base config lives beside it), the file mutated.
                let dir = tempfile::tempdir().unwrap();
                for e in std::fs::read_dir(file.parent().unwrap()).unwrap().flatten() {
                    if e.path().extension().is_some_and(|x| x == "toml") {
                        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
                    }
                }
                let path = dir.path().join(file.file_name().unwrap());
                std::fs::write(&path, &m.text).unwrap();
                let before = listing(dir.path());
                let o = Command::new(env!("CARGO_BIN_EXE_slt"))
                    .arg("check")
                    .arg(&path)
                    .current_dir(dir.path())
                    .output()
                    .expect("the binary runs");
                let err = String::from_utf8_lossy(&o.stderr);
                let code = o.status.code();
                let label = format!(
                    "{} ({:?}: {}) exit {code:?}: {err}",
                    file.display(),
                    m.kind,
                    m.what
                );
                *counts
                    .entry(format!("{:?} exit {code:?}", m.kind))
                    .or_default() += 1;
                if std::env::var_os("SLT_MUTATIONS_LOG").is_some() {
                    eprintln!("{label}");
                }
                if listing(dir.path()) != before {
                    failures.push(format!("{label}\n  the folder changed"));
                }
                match code {
                    Some(0) => {
                        if m.invalid {
                            failures.push(format!("{label}\n  a certainly invalid file passed"));
                        }
                    }
                    Some(2) => {
                        let mutated_key = m.key.as_deref();
                        let named_any = mutated_key
                            .into_iter()
                            .map(str::to_string)
                            .chain(file_keys.iter().cloned())
                            .chain(schema_keys.iter().cloned())
                            .filter(|k| k.len() > 1 || mutated_key == Some(k.as_str()))
                            .any(|k| names(&err, &k));
                        // A truncated file's syntax error cannot name a key cut in half; it
                        // points at the line and column.
                        let points_at_line =
                            m.kind == Kind::Truncated && err.contains("TOML parse error at line");
                        if !named_any && !points_at_line {
                            failures.push(format!("{label}\n  no key named"));
                        }
                        if let (true, Some(k)) = (m.invalid, mutated_key) {
                            let last = k.rsplit('.').next().unwrap_or(k);
                            // A table put where a word was (`[train.optimizer]` with `unexpected =
                            // 1`) is read as an enum variant: the error points at its inner key.
                            let inner = m.kind == Kind::WrongType && names(&err, "unexpected");
                            if !names(&err, k) && !names(&err, last) && !inner {
                                failures.push(format!("{label}\n  does not name {k}"));
                            }
                        }
                    }
                    _ => failures.push(format!("{label}\n  neither 0 nor 2")),
                }
                if err.contains("panicked") {
                    failures.push(format!("{label}\n  panicked"));
                }
            }
        }
    }
    eprintln!("{counts:#?}");
    assert!(
        failures.is_empty(),
        "{} of {} mutations failed:\n{}",
        failures.len(),
        files.len() * 5 * PER_KIND,
        failures.join("\n")
    );
}

/// The temp files an atomic write leaves if it is cut short (`.NAME.tmpPID`, `*.bpk.tmp`), anywhere
/// under `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(temp_files(&p));
        } else if p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
        {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_run_that_fails_on_bad_input_exits_2_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let train = "name = \"e2e\"\nseed = 1\n[model]\nkind = \"dln\"\nwidths = [2, 2, 2]\n[data]\nn = 100\n[train]\nsteps = 20\nbatch = 20\ncheckpoints = 2\n";
    let missing = dir.path().join("no-such-run");
    let cases = [
        // A checkpoint training does not save: found before anything runs.
        (
            "run",
            format!("{train}[llc]\ncheckpoint = 12345\nchains = 1\ndraws = 10\n"),
            "llc.checkpoint",
        ),
        // Checkpoints from a folder that does not exist: found once `slt llc` looks for them.
        (
            "llc",
            format!(
                "{train}[llc]\nfrom = \"{}\"\nchains = 1\ndraws = 10\n",
                missing.display()
            ),
            "llc.checkpoint",
        ),
        // A toy model of superposition has no reference point to measure without training: found
        // once `slt run` starts measuring.
        (
            "run",
            "name = \"e2e\"\n[model]\nkind = \"tms\"\nfeatures = 4\nhidden = 2\n[llc]\nchains = 1\ndraws = 10\n"
                .to_string(),
            "train",
        ),
    ];
    for (i, (command, text, key)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = dir.path().join(format!("out{i}"));
        let o = Command::new(env!("CARGO_BIN_EXE_slt"))
            .args([*command, cfg.to_str().unwrap(), "--out"])
            .arg(&out)
            .arg("--quiet")
            .output()
            .expect("the binary runs");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{command} {text}: {err}");
        assert!(
            names(&err, key),
            "{command} {text}: {err} should name {key}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
        assert!(!out.join("summary.json").exists());
        // `slt check` finds the same problem without running anything.
        let c = Command::new(env!("CARGO_BIN_EXE_slt"))
            .arg("check")
            .arg(&cfg)
            .output()
            .expect("the binary runs");
        let check_err = String::from_utf8_lossy(&c.stderr);
        if *command == "llc" {
            // Whether llc.from holds checkpoints is known only when they are read.
            assert_eq!(c.status.code(), Some(0), "{check_err}");
        } else {
            assert_eq!(c.status.code(), Some(2), "{check_err}");
            assert!(names(&check_err, key), "{check_err}");
        }
    }
    assert!(temp_files(dir.path()).is_empty());
}
