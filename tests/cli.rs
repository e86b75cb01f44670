//! The command line end to end: a small run writes the contract's files; bad input exits 2 naming the key or file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn slt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slt"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `text` as `<dir>/<sub>.toml` and runs `slt <command>` on it into `<dir>/<sub>/` (quiet):
/// the exit code, stderr and the run folder.
fn run_any(dir: &Path, command: &str, text: &str, sub: &str) -> (Option<i32>, String, PathBuf) {
    let cfg = dir.join(format!("{sub}.toml"));
    std::fs::write(&cfg, text).unwrap();
    let out = dir.join(sub);
    let o = slt(&[
        command,
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    )
}

/// [`run_any`], expecting success: the run folder with its parsed summary.json.
fn run_ok(dir: &Path, command: &str, text: &str, sub: &str) -> (PathBuf, serde_json::Value) {
    let (code, err, out) = run_any(dir, command, text, sub);
    assert_eq!(code, Some(0), "{err}");
    let summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    (out, summary)
}

const GOOD: &str = r#"
name = "cli"
seed = 1
[model]
kind = "dln"
widths = [3, 3, 2]
[data]
n = 2000
teacher_rank = 1
test_n = 200
[train]
steps = 300
optimizer = "adam"
lr = 1e-2
batch = 64
init_scale = 0.5
checkpoints = 4
[llc]
chains = 2
draws = 200
"#;

#[test]
fn run_writes_every_file_of_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), GOOD);
    let out = dir.path().join("out");
    let o = slt(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "config.toml",
        "summary.json",
        "llc_trace.csv",
        "llc_trace.png",
        "train_log.csv",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "mean",
        "std",
        "stderr",
        "per_chain",
        "nbeta",
        "step_size",
        "localization",
        "chains",
        "draws",
        "diverged_chains",
        "init_loss",
        "rhat",
        "ess",
    ] {
        assert!(!summary["llc"][key].is_null(), "llc.{key} missing");
    }
    assert_eq!(summary["name"], "cli");
    assert_eq!(summary["n"], 2000);
    assert!(summary["timing_s"]["train"].as_f64().unwrap() > 0.0);
    // The resolved config has no "auto" left and runs again as it is.
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(!resolved.contains("auto"), "{resolved}");
    let again = dir.path().join("again");
    let o = slt(&[
        "run",
        out.join("config.toml").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let repeat: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(repeat["llc"]["step_size"], summary["llc"]["step_size"]);
    assert_eq!(
        repeat["llc"]["localization"],
        summary["llc"]["localization"]
    );
    let log = std::fs::read_to_string(out.join("train_log.csv")).unwrap();
    assert!(log.lines().next().unwrap().contains("test_loss"));
}

#[test]
fn same_seed_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"s\"\nseed = 4\n[model]\nkind = \"potential\"\nmonomials = [[2, 2]]\n[data]\nn = 1000\n[llc]\nchains = 3\ndraws = 300\n";
    let read = |sub: &str| run_ok(dir.path(), "llc", text, sub).1["llc"]["per_chain"].clone();
    assert_eq!(read("a"), read("b"));
}

#[test]
fn theory_prints_lambda_and_multiplicity() {
    // Reduced-rank regression (M, H, N, r) = (3, 3, 3, 1): λ = 4, m = 1 (DESIGN §4).
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "name = \"t\"\n[model]\nkind = \"dln\"\nwidths = [3, 3, 3]\n[data]\nteacher_rank = 1\n",
    );
    let o = slt(&["theory", cfg.to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("lambda = 4") && text.contains("multiplicity = 1"),
        "{text}"
    );
}

/// Runs `slt run` on a bad config; expects exit code 2, a message containing every `needles`, and no summary.json.
fn rejects(config: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), config);
    let out = dir.path().join("out");
    let o = slt(&[
        "run",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "exit code for {config}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "message lacks {n:?}: {err}");
    }
    assert!(!out.join("summary.json").exists());
}

#[test]
fn unknown_key_is_named() {
    rejects(
        &GOOD.replace("chains = 2", "chains = 2\nchainz = 3"),
        &["chainz"],
    );
}

#[test]
fn wrong_type_is_named() {
    rejects(
        &GOOD.replace("draws = 200", "draws = \"many\""),
        &["draws", "many"],
    );
}

#[test]
fn non_positive_step_size_is_named() {
    rejects(
        &format!("{GOOD}step_size = -1e-4\n"),
        &["step_size", "-0.0001"],
    );
    rejects(&format!("{GOOD}step_size = 0.0\n"), &["step_size", "0"]);
}

#[test]
fn negative_ladder_localization_is_named() {
    rejects(
        &format!("{GOOD}ladder = \"auto\"\nladder_localization = -0.5\n"),
        &["llc.ladder_localization", "-0.5"],
    );
}

#[test]
fn ladder_rung_at_or_below_unit_nbeta_is_named() {
    rejects(
        &format!("{GOOD}ladder = [1, 4]\nnbeta = 0.5\n"),
        &["llc.nbeta", "0.5"],
    );
}

#[test]
fn zero_chains_is_named() {
    rejects(&GOOD.replace("chains = 2", "chains = 0"), &["chains", "0"]);
}

#[test]
fn too_few_widths_is_named() {
    rejects(
        &GOOD.replace("widths = [3, 3, 2]", "widths = [3]"),
        &["widths", "[3]"],
    );
}

#[test]
fn zero_width_is_named() {
    rejects(
        &GOOD.replace("widths = [3, 3, 2]", "widths = [3, 0, 2]"),
        &["widths", "0"],
    );
}

#[test]
fn teacher_rank_above_narrowest_width_is_named() {
    rejects(
        &GOOD.replace("teacher_rank = 1", "teacher_rank = 3"),
        &["teacher_rank", "3"],
    );
}

#[test]
fn unknown_model_kind_is_named() {
    rejects(
        &GOOD.replace("kind = \"dln\"", "kind = \"transformer\""),
        &["transformer"],
    );
}

#[test]
fn nan_is_named() {
    rejects(&GOOD.replace("lr = 1e-2", "lr = nan"), &["lr", "NaN"]);
}

#[test]
fn broken_toml_names_the_file() {
    rejects("name = \"x\"\n[model\nkind = \"dln\"", &["config.toml"]);
}

#[test]
fn missing_file_is_named() {
    let o = slt(&["run", "/nonexistent/slt-config.toml", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/slt-config.toml"), "{err}");
    // The reason once, not repeated as its own cause.
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn a_config_with_nothing_to_do_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, out) = run_any(
        dir.path(),
        "run",
        "name = \"idle\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 3]\n",
        "idle",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("nothing to do") && err.contains("[llc]"),
        "{err}"
    );
    assert!(!out.join("summary.json").exists());
}

#[test]
fn bench_device_bad_arguments_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, needle) in [
        (vec!["--widths", "4,0,2"], "--widths"),
        (vec!["--chains", "0"], "--chains"),
        (vec!["--devices", "tpu"], "--devices"),
    ] {
        let mut all = vec!["bench-device", "--quiet", "--out", out];
        all.extend(args.iter().copied());
        let o = slt(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// `slt check FILE`: exit code, stdout, stderr.
fn check(path: &Path) -> (Option<i32>, String, String) {
    let o = slt(&["check", path.to_str().unwrap()]);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_a_good_config_without_running_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), GOOD);
    let (code, out, err) = check(&cfg);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(&format!("ok: {} (run config cli", cfg.display())),
        "{out}"
    );
    assert!(out.contains("[train] [llc]"), "{out}");
    // Nothing was run or written.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn check_rejects_a_bad_config_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        (GOOD.replace("chains = 2", "chains = 0"), "llc.chains"),
        (GOOD.replace("draws = 200", "draws = \"many\""), "draws"),
        (GOOD.replace("chains = 2", "chainz = 2"), "chainz"),
        (
            GOOD.replace("widths = [3, 3, 2]", "widths = [3, nan, 2]"),
            "model.widths",
        ),
        // Found by `slt run` only once it measures: a toy model without training has no point.
        (
            "name = \"t\"\n[model]\nkind = \"tms\"\nfeatures = 4\nhidden = 2\n[llc]\n".to_string(),
            "[train]",
        ),
    ] {
        let cfg = write_config(dir.path(), &text);
        let (code, out, err) = check(&cfg);
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains(needle), "{text}: {err} should name {needle}");
    }
    let (code, _, err) = check(&dir.path().join("absent.toml"));
    assert_eq!(code, Some(2));
    assert!(err.contains("absent.toml"), "{err}");
}

#[test]
fn check_accepts_a_sweep_file_and_rejects_a_bad_axis() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), GOOD);
    let sweep = dir.path().join("sweep.toml");
    std::fs::write(
        &sweep,
        "base = \"config.toml\"\n[axes]\n\"llc.draws\" = [100, 200]\n\"llc.checkpoint\" = \"all\"\n",
    )
    .unwrap();
    let (code, out, err) = check(&sweep);
    assert_eq!(code, Some(0), "{err}");
    // 4 checkpoints saved by the base's training (train.checkpoints = 4), times 2 draws.
    assert!(out.contains("sweep file sweep: 8 points"), "{out}");
    assert!(!dir.path().join("results").exists());
    std::fs::write(
        &sweep,
        "base = \"config.toml\"\n[axes]\n\"llc.draws\" = [100, 0]\n",
    )
    .unwrap();
    let (code, _, err) = check(&sweep);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("llc.draws"), "{err}");
}

#[test]
fn failed_ladder_keeps_the_one_temperature_summary() {
    let dir = tempfile::tempdir().unwrap();
    // ε · nβ = 2.002 on x²: w ← −1.002 w + noise grows by 0.2% a step. The 100 steps of the
    // one-temperature run stay bounded (× 1.2); the ladder's 10⁶ steps per chain explode on every rung
    // (ε·nβ is the same on each), and a given step size is not retried.
    let (code, err, out) = run_any(
        dir.path(),
        "llc",
        "name = \"lad\"\n[model]\nkind = \"potential\"\nmonomials = [[2]]\n[data]\nn = 1000\n[llc]\nnbeta = 1000.0\nstep_size = 0.002002\nlocalization = 0.0\nchains = 2\ndraws = 100\nburnin = 0\nthin = 1\nmala_every = 0\nladder = [1, 4]\n",
        "lad",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ladder"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["llc"]["mean"].as_f64().unwrap().is_finite());
    assert!(summary["rlct"].is_null(), "{summary}");
    let warnings = summary["llc"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("temperature ladder failed")),
        "{warnings:?}"
    );
}

#[test]
fn all_chains_diverging_ends_non_zero_and_keeps_the_traces() {
    let dir = tempfile::tempdir().unwrap();
    // ε · nβ = 50 on x²: every chain overshoots and explodes.
    let (code, err, out) = run_any(
        dir.path(),
        "llc",
        "name = \"div\"\n[model]\nkind = \"potential\"\nmonomials = [[2]]\n[data]\nn = 1000\n[llc]\nnbeta = 1000.0\nstep_size = 0.05\nlocalization = 0.0\nchains = 2\ndraws = 100\nburnin = 0\n",
        "div",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("all 2 chains diverged"), "{err}");
    assert!(out.join("llc_trace.csv").is_file());
    assert!(!out.join("summary.json").exists());
}

#[test]
fn some_chains_diverging_completes_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    // w⁴ with ε·nβ = 8: the drift overshoots once a chain wanders to w² > 1/(ε nβ), which
    // some chains do within the run and others do not (fixed seed: the split is deterministic).
    let cfg = write_config(dir.path(), "name = \"some\"\nseed = 0\n[model]\nkind = \"potential\"\nmonomials = [[4]]\n[data]\nn = 1000\n[llc]\nnbeta = 1000.0\nstep_size = 0.008\nlocalization = 0.0\nchains = 8\ndraws = 500\nthin = 1\nburnin = 0\n");
    let out = dir.path().join("out");
    let o = slt(&[
        "llc",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let diverged = v["llc"]["diverged_chains"].as_u64().unwrap();
    assert!(diverged > 0 && diverged < 8, "diverged {diverged}");
    assert_eq!(
        v["llc"]["per_chain"].as_array().unwrap().len() as u64,
        8 - diverged
    );
    assert!(err.contains("chains diverged and were excluded"), "{err}");
}

const VOLUME: &str = "name = \"vol\"\n[model]\nkind = \"potential\"\nmonomials = [[2, 0], [0, 4]]\n[data]\nn = 10000\n[volume]\neps = { from = 1e-4, to = 1e-1, points = 8 }\nmethods = [\"nested\", \"radial\", \"hessian\"]\nprior = { kind = \"box\", half_width = 1.0 }\nlive_points = 200\n";

#[test]
fn volume_flags_the_hessian_where_the_model_is_singular() {
    let dir = tempfile::tempdir().unwrap();
    let read = |text: &str, sub: &str| {
        let (out, v) = run_ok(dir.path(), "volume", text, sub);
        assert!(
            out.join("volume.csv").is_file()
                && out.join("volume_slope.png").is_file()
                && out.join("hessian.csv").is_file()
        );
        v
    };
    // x² + y⁴ (λ = 3/4): the Hessian has rank 1 and overstates V(ε): flagged (3σ rule per pair).
    let singular = read(VOLUME, "singular");
    assert_eq!(singular["hessian"]["rank_estimate"], 1);
    assert!(!singular["volume"]["divergence"]
        .as_array()
        .unwrap()
        .is_empty());
    // Twin: x² + y² is a quadratic, where the Hessian is exact: nothing flagged (16 comparisons at
    // 3σ: a false flag has probability about 4% per seed; the seed is fixed).
    let regular = read(&VOLUME.replace("[0, 4]", "[0, 2]"), "regular");
    assert_eq!(regular["hessian"]["rank_estimate"], 2);
    assert!(
        regular["volume"]["divergence"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        regular["volume"]["divergence"]
    );
}

/// A volume measured at a point training has not finished is warned about (the loss still falls
/// along the gradient by more than the smallest threshold); the twin, the teacher's minimal true
/// point, is not.
#[test]
fn volume_warns_when_w_star_is_not_a_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"vw\"\n[model]\nkind = \"dln\"\nwidths = [3, 2, 2]\n[data]\nn = 500\nteacher_rank = 1\n[volume]\neps = { from = 1e-4, to = 1e-1, points = 4 }\nmethods = [\"hessian\"]\n";
    let trained = format!("{base}[train]\nsteps = 5\nlr = 1e-3\nbatch = 100\ncheckpoints = 1\n");
    let (_, early) = run_ok(dir.path(), "run", &trained, "early");
    let warnings = early["volume"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("not a minimum")),
        "{warnings:?}"
    );
    let (_, minimal) = run_ok(dir.path(), "volume", base, "minimal");
    assert!(minimal["volume"]["warnings"].as_array().unwrap().is_empty());
    assert_eq!(minimal["hessian"]["products"], "exact");
}

#[test]
fn volume_bad_input_is_named() {
    rejects(
        &VOLUME.replace("from = 1e-4", "from = -1e-4"),
        &["volume.eps.from", "-0.0001"],
    );
    rejects(
        &VOLUME.replace("to = 1e-1", "to = 1e-5"),
        &["volume.eps", "empty"],
    );
    rejects(
        &VOLUME.replace("half_width = 1.0", "half_width = 0.0"),
        &["volume.prior.half_width", "0"],
    );
    rejects(
        &VOLUME.replace("live_points = 200", "live_point = 200"),
        &["live_point"],
    );
}

const DLN_VOLUME: &str = "name = \"dv\"\n[model]\nkind = \"dln\"\nwidths = [2, 2, 2, 2]\n[data]\nn = 2000\nteacher_rank = 1\n[volume]\nmethods = [\"nested\", \"hessian\"]\nlive_points = 300\n";

#[test]
fn behavioural_basin_at_a_hidden_layer() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &str, sub: &str| {
        let (_, v) = run_ok(dir.path(), "volume", &format!("{DLN_VOLUME}{extra}"), sub);
        v
    };
    // At the output the 2-2-2-2 net is singular (λ = 2 with Hessian rank 3): the Hessian is flagged.
    let output = run("loss = \"behavioural\"\n", "output");
    assert_eq!(output["hessian"]["rank_estimate"], 3);
    assert!(!output["volume"]["divergence"]
        .as_array()
        .unwrap()
        .is_empty());
    // After the first layer, f_1 = W_1 x is linear in W_1's 4 parameters: a regular quadratic basin
    // (the other 8 parameters are flat), slope 2, where the Hessian is exact and nothing is flagged.
    let hidden = run("loss = \"behavioural\"\nlayer = 1\n", "hidden");
    assert_eq!(hidden["hessian"]["rank_estimate"], 4);
    assert!(
        hidden["volume"]["divergence"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        hidden["volume"]["divergence"]
    );
    let slope = hidden["volume"]["slope"]["nested"][3].as_f64().unwrap();
    assert!((slope - 2.0).abs() < 0.3, "slope {slope}");
}

#[test]
fn behavioural_basin_bad_input_is_named() {
    rejects(
        &format!("{DLN_VOLUME}loss = \"behavioural\"\nlayer = 4\n"),
        &["volume.layer", "4"],
    );
    rejects(
        &format!("{DLN_VOLUME}layer = 1\n"),
        &["volume.layer", "behavioural"],
    );
    rejects(
        &VOLUME.replace(
            "live_points = 200",
            "live_points = 200\nloss = \"behavioural\"",
        ),
        &["volume.loss", "potential"],
    );
}

#[test]
fn halving_the_step_exposes_a_biased_step() {
    // K = w², nβ = 1000: SGLD's stationary E[tK] is (1/2)/(1 − εt/2): 0.91 at ε = 9e-4 against 0.65
    // at ε/2, far beyond the estimates' errors; at ε = 1e-5 both read 0.50 (a 3σ rule: a false
    // warning has probability 0.3%, the seed is fixed).
    let dir = tempfile::tempdir().unwrap();
    let run = |step: &str, sub: &str| {
        let (_, v) = run_ok(dir.path(), "llc", &format!("name = \"h\"\nseed = 3\n[model]\nkind = \"potential\"\nmonomials = [[2]]\n[data]\nn = 1000\n[llc]\nnbeta = 1000.0\nlocalization = 0.0\nstep_size = {step}\nburnin = 2000\nthin = 20\ndraws = 2000\ncheck_step = true\n"), sub);
        v
    };
    let biased = run("9e-4", "biased");
    assert!(
        biased["llc"]["halved_step_mean"].as_f64().unwrap()
            < biased["llc"]["mean"].as_f64().unwrap() - 0.1
    );
    assert!(
        biased["llc"]["warnings"]
            .to_string()
            .contains("step size is halved"),
        "{}",
        biased["llc"]["warnings"]
    );
    let fine = run("1e-5", "fine");
    assert!(
        !fine["llc"]["warnings"]
            .to_string()
            .contains("step size is halved"),
        "{}",
        fine["llc"]["warnings"]
    );
}

#[test]
fn a_point_that_is_not_critical_is_flagged() {
    // After 5 training steps the net is far from a minimum: the chains see a slope. Twin: the
    // converged run of GOOD (300 steps to zero loss) is not flagged.
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str, sub: &str| {
        let (_, v) = run_ok(dir.path(), "run", text, sub);
        v["llc"]["warnings"].to_string()
    };
    let early = run(&GOOD.replace("steps = 300", "steps = 5"), "early");
    assert!(early.contains("not a critical point"), "{early}");
    let done = run(GOOD, "done");
    assert!(!done.contains("not a critical point"), "{done}");
}

const MODADD: &str = r#"
name = "ma"
seed = 2
[model]
kind = "modadd"
modulus = 7
hidden = [8]
[data]
train_fraction = 0.6
[train]
steps = 300
optimizer = "adamw"
lr = 1e-2
weight_decay = 1.0
batch = 100
checkpoints = 3
[llc]
chains = 2
draws = 100
thin = 10
burnin = 500
step_size = 1e-3
localization = 100.0
"#;

#[test]
fn modadd_bad_input_is_named() {
    rejects(
        &MODADD.replace("modulus = 7", "modulus = 1"),
        &["model.modulus", "1"],
    );
    rejects(
        &MODADD.replace("modulus = 7", "modulus = 1000"),
        &["model.modulus", "1000"],
    );
    rejects(
        &MODADD.replace("hidden = [8]", "hidden = []"),
        &["model.hidden", "[]"],
    );
    rejects(
        &MODADD.replace("hidden = [8]", "hidden = [8, 0]"),
        &["model.hidden[1]", "0"],
    );
    for bad in ["0.0", "1.5", "-0.2"] {
        rejects(
            &MODADD.replace("train_fraction = 0.6", &format!("train_fraction = {bad}")),
            &["data.train_fraction", bad.trim_end_matches(".0")],
        );
    }
    // 0.01 of 49 pairs rounds to none.
    rejects(
        &MODADD.replace("train_fraction = 0.6", "train_fraction = 0.01"),
        &["data.train_fraction", "fewer than 2"],
    );
    rejects(
        &MODADD.replace("train_fraction = 0.6", "train_fraction = 0.6\nn = 100"),
        &["data.n", "modadd"],
    );
    rejects(
        &MODADD.replace("weight_decay = 1.0", "weight_decay = -1.0"),
        &["train.weight_decay", "-1"],
    );
    rejects(
        &MODADD.replace("weight_decay = 1.0", "weight_decay = 200.0"),
        &["train.weight_decay", "200"],
    );
    rejects(
        &MODADD.replace("optimizer = \"adamw\"", "optimizer = \"lion\""),
        &["optimizer", "lion"],
    );
    // train_fraction belongs to modadd only.
    rejects(
        &GOOD.replace("test_n = 200", "test_n = 200\ntrain_fraction = 0.5"),
        &["data.train_fraction", "dln"],
    );
}

#[test]
fn modadd_runs_end_to_end_with_a_finite_llc() {
    let dir = tempfile::tempdir().unwrap();
    let (out, s) = run_ok(dir.path(), "run", MODADD, "ma");
    assert_eq!(s["model"], "modadd");
    // round(0.6 · 49) = 29 training pairs; d = 14·8 + 8 + 8·7 + 7.
    assert_eq!(s["n"], 29);
    assert_eq!(s["d"], 183);
    let llc = s["llc"]["mean"].as_f64().unwrap();
    assert!(llc.is_finite(), "λ̂ = {llc}");
    assert_eq!(s["llc"]["diverged_chains"], 0);
    // nβ = n / ln n with n the number of training pairs.
    let nbeta = s["llc"]["nbeta"].as_f64().unwrap();
    assert!((nbeta - 29.0 / 29f64.ln()).abs() < 1e-9, "nβ = {nbeta}");
    let log = std::fs::read_to_string(out.join("train_log.csv")).unwrap();
    assert!(
        log.starts_with("step,train_loss,test_loss,train_acc,test_acc\n"),
        "{log}"
    );
    let last: Vec<f64> = log
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(last[0], 300.0);
    assert!(last[1] < 0.5 && last[3] == 1.0, "memorized: {last:?}");
    assert!(out.join("checkpoints/step-00000300.bpk").exists());
    // The behavioural (KL) basin of the same checkpoint: the Hessian's rank and a radial curve.
    let vol = format!(
        "{MODADD}[volume]\nloss = \"behavioural\"\nmethods = [\"radial\", \"hessian\"]\ndirections = 50\n"
    );
    let (_, v) = run_ok(dir.path(), "volume", &vol, "ma");
    let rank = v["hessian"]["rank_estimate"].as_u64().unwrap();
    assert!(rank > 0 && rank < 183, "rank {rank}");
}
