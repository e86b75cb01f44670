//! `slt sweep` end to end: resume after SIGKILL, shards merged equal one run, bad axes rejected before anything runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn slt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slt"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A tiny deep linear net measured at its minimal true point, explicit LLC settings (no probe).
fn base(thin: usize) -> String {
    format!(
        r#"
name = "tiny"
seed = 0
[model]
kind = "dln"
widths = [3, 3, 2]
[data]
n = 500
teacher_rank = 1
[llc]
chains = 2
draws = 50
thin = {thin}
burnin = 10
step_size = 1e-4
localization = 10.0
batch = 64
threads = 1
mala_every = 0
"#
    )
}

fn write_sweep(dir: &Path, base_text: &str, sweep_text: &str) -> PathBuf {
    std::fs::write(dir.join("base.toml"), base_text).unwrap();
    let path = dir.join("sweep.toml");
    std::fs::write(&path, format!("base = \"base.toml\"\n{sweep_text}")).unwrap();
    path
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn finished(out: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(out.join("points"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("summary.json"))
        .filter(|p| p.exists())
        .collect()
}

const GRID: &str = r#"
[axes]
"llc.step_size" = [1e-4, 2e-4, 3e-4]
"seed" = [0, 1, 2, 3]
"#;

#[test]
fn a_sweep_killed_mid_run_resumes_with_every_point_once() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(dir.path(), &base(400), GRID);
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_slt"))
        .args([
            "sweep",
            sweep.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while finished(&out).len() < 3 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let before: BTreeMap<PathBuf, std::time::SystemTime> = finished(&out)
        .into_iter()
        .map(|p| {
            let t = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, t)
        })
        .collect();
    assert!(
        before.len() >= 3,
        "{} points finished before the kill",
        before.len()
    );
    assert!(
        before.len() < 12,
        "the sweep finished before it could be killed; slow the points down"
    );

    let o = slt(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = read_csv(&out.join("sweep.csv"));
    let ids: BTreeSet<&String> = rows.iter().map(|r| &r["point"]).collect();
    assert_eq!(rows.len(), 12, "one row per point");
    assert_eq!(ids.len(), 12, "every point exactly once");
    assert!(rows
        .iter()
        .all(|r| r["error"].is_empty() && !r["llc.mean"].is_empty()));
    for r in &rows {
        assert!(r.contains_key("llc.step_size") && r.contains_key("seed"));
    }
    // Points finished before the kill were skipped, not run again.
    for (p, t) in before {
        assert_eq!(
            std::fs::metadata(&p).unwrap().modified().unwrap(),
            t,
            "{} was re-run",
            p.display()
        );
    }
}

fn without_timing(rows: Vec<BTreeMap<String, String>>) -> Vec<BTreeMap<String, String>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .filter(|(k, _)| !k.starts_with("timing_s."))
                .collect()
        })
        .collect()
}

#[test]
fn shards_merged_equal_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(dir.path(), &base(1), GRID);
    let s = sweep.to_str().unwrap();
    let whole = dir.path().join("whole");
    let o = slt(&[
        "sweep",
        s,
        "--out",
        whole.to_str().unwrap(),
        "--jobs",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sharded = dir.path().join("sharded");
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = slt(&[
            "sweep",
            s,
            "--out",
            sharded.to_str().unwrap(),
            "--shard",
            &shard,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let part = read_csv(&sharded.join(format!("sweep-shard-{i}-of-3.csv")));
        assert_eq!(part.len(), 4, "shard {i} runs every third point");
    }
    // Merge from the shards' CSVs alone (as when shards ran on other machines).
    std::fs::remove_dir_all(sharded.join("points")).unwrap();
    let o = slt(&[
        "sweep",
        s,
        "--out",
        sharded.to_str().unwrap(),
        "--merge",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = without_timing(read_csv(&whole.join("sweep.csv")));
    let b = without_timing(read_csv(&sharded.join("sweep.csv")));
    assert_eq!(a.len(), 12);
    assert_eq!(a, b, "same rows, same numbers, same order");

    let o = slt(&["plot", whole.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        whole.join("heatmap_llc.mean.png").is_file()
            && whole.join("heatmap_llc.mean.svg").is_file()
    );
    let o = slt(&[
        "plot",
        whole.to_str().unwrap(),
        "--x",
        "llc.step_size",
        "--y",
        "llc.rhat",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(whole.join("llc.rhat_vs_llc.step_size.png").is_file());
}

#[test]
fn every_checkpoint_of_one_training_run() {
    let dir = tempfile::tempdir().unwrap();
    let text = base(1).replace(
        "[llc]",
        "[train]\nsteps = 200\nlr = 1e-2\nbatch = 64\ninit_scale = 0.5\ncheckpoints = 4\n[llc]",
    );
    let sweep = write_sweep(dir.path(), &text, "[axes]\n\"llc.checkpoint\" = \"all\"\n");
    let out = dir.path().join("out");
    let o = slt(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.join("train").join("train_log.csv").is_file(),
        "trained once into train/"
    );
    let rows = read_csv(&out.join("sweep.csv"));
    let steps: Vec<&str> = rows.iter().map(|r| r["llc.checkpoint"].as_str()).collect();
    assert_eq!(steps, ["1", "6", "34", "200"]);
    assert!(rows.iter().all(|r| !r["checkpoint.train_loss"].is_empty()));
    let o = slt(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("llc_over_training.png").is_file());
}

#[test]
fn bad_axes_are_clear_errors_before_anything_runs() {
    let cases = [
        ("[axes]\n\"llc.stepsize\" = [1e-4]\n", "llc.stepsize"),
        ("[axes]\n\"llc.chains\" = [2, 0]\n", "llc.chains"),
        ("[axes]\n\"llc.step_size\" = [\"fast\"]\n", "llc.step_size"),
        ("[axes]\n\"model.widths\" = 3\n", "model.widths"),
        (
            "[zip]\n\"seed\" = [1, 2]\n\"llc.draws\" = [5]\n",
            "llc.draws",
        ),
        ("[axes]\n\"llc.checkpoint\" = \"all\"\n", "llc.checkpoint"),
        ("[axis]\n\"seed\" = [1]\n", "axis"),
    ];
    for (text, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let sweep = write_sweep(dir.path(), &base(1), text);
        let out = dir.path().join("out");
        let o = slt(&[
            "sweep",
            sweep.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {err}");
        assert!(err.contains(key), "{text:?} should name {key}: {err}");
        assert!(!out.exists(), "{text:?}: nothing may be written");
    }
}

#[test]
fn a_failed_point_is_recorded_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = write_sweep(
        dir.path(),
        &base(1),
        "[axes]\n\"llc.step_size\" = [1e-4, 10.0]\n",
    );
    let out = dir.path().join("out");
    let o = slt(&[
        "sweep",
        sweep.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["error"].is_empty() && !rows[0]["llc.mean"].is_empty());
    assert!(!rows[1]["error"].is_empty(), "{:?}", rows[1]);
}
