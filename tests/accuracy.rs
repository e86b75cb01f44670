//! LLC accuracy against known answers, through the whole pipeline with "auto" settings (release mode).
//!
//! Deep linear networks at the teacher's minimal true point (n = 10000, noiseless, nβ = n / ln n):
//! |λ̂ − λ| ≤ 10% of Aoyagi's λ, the bar, on networks of multiplicity 1. (Where m > 1, λ̂ at
//! one temperature is biased low by a term of order (m − 1)/ln(nβ), DESIGN §3.1: by 0.26–0.35, or
//! 3–13%, on the m = 2 networks of the table below; the temperature ladder is for those.) λ̂ at one temperature carries a systematic bias of
//! a few percent (DESIGN §3.1); the sampling error is held below 2.5% of λ (asserted), so a case
//! whose bias is under 5% fails only when its sampling error passes 2σ in the wrong direction, and
//! the cases chosen sit at |bias| ≤ 6% in the calibration runs: the false-positive rate per case is
//! below 1e-3 (a 3σ excursion). Seeds are fixed, so each run is deterministic.
//!
//! Each twin must be able to fail once its test's main check passed, so it is a wrong answer within
//! twice the main bound (a wrong value farther away is rejected by the bound by arithmetic). For the
//! networks: every other teacher rank's λ within 20% of λ, which λ̂ must be nearer to λ than; where
//! there is none, no plausible wrong answer is in reach and there is no twin. For the potentials:
//! the nearest neighbouring potential's λ, rejected by the same bound. For the RLCT: the
//! one-temperature λ̂ where m > 1, and the other multiplicity's fit where m = 1.

use slt::commands::{run_llc, RunOptions};
use slt::config::ValidConfig;
use slt::report::Summary;
use slt_estimators::theory;

fn llc(config: &str) -> Summary {
    let config = ValidConfig::from_toml(config).expect("a valid test config");
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: dir.path().to_path_buf(),
        quiet: true,
    };
    run_llc(&config, &opts, None).expect("the run completes")
}

/// Numbers as one CSV field: "1.2345;2.3456".
fn joined(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.4}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A network's widths as one CSV field: "5-4-3-2".
fn widths_label(widths: &[usize]) -> String {
    widths
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// Runs a DLN at its minimal true point; checks λ̂ against Aoyagi's λ, and that it is nearer λ than
/// the λ of any other teacher rank within 20% (the twin). Measured at seed 11: [3, 3, 3] r1 −1.9%
/// (ranks 0 and 2 at ∓12.5%: the twin passes by 3.3 stderr), [6, 5, 4] r1 −3.3% (ranks 0 and 2 at
/// ∓10%: by 2.0 stderr, so with this bias about 2% of seeds would fail the twin: the one-temperature
/// λ̂ barely tells rank 1 from rank 0 there), [10, 8, 6, 4] r2 −0.2% (ranks 1 and 3 at ∓12.5%: by 13
/// stderr). [4, 3, 8] r0 (nearest other rank +42%) and [5, 4, 3, 2] r1 (±25%) and r2 (−20%) have no
/// other rank within 20%, so no twin.
fn dln_case(widths: &[usize], rank: usize) {
    let config = format!(
        "name = \"acc\"\nseed = 11\n[model]\nkind = \"dln\"\nwidths = {widths:?}\n[data]\nn = 10000\nteacher_rank = {rank}\n[llc]\nchains = 4\ndraws = 1000\n"
    );
    let s = llc(&config);
    let est = s.llc.as_ref().unwrap();
    let lambda = theory::deep_linear(widths, rank).unwrap().lambda.to_f64();
    assert_eq!(s.theory.as_ref().unwrap().lambda, lambda);
    assert_eq!(
        s.theory.as_ref().unwrap().multiplicity,
        1,
        "a single-temperature test needs m = 1"
    );
    assert_eq!(est.diverged_chains, 0);
    assert!(
        est.stderr < 0.025 * lambda,
        "{widths:?} r{rank}: stderr {} too wide for a 10% test",
        est.stderr
    );
    let rel = (est.mean - lambda) / lambda;
    println!(
        "{widths:?} r{rank}: λ̂ = {:.4} ± {:.4}, λ = {lambda}, rel {:+.1}%",
        est.mean,
        est.stderr,
        100.0 * rel
    );
    assert!(
        rel.abs() <= 0.10,
        "{widths:?} r{rank}: λ̂ = {} vs λ = {lambda} ({:+.1}%)",
        est.mean,
        100.0 * rel
    );
    // Twin: every other teacher rank's λ of the same widths within 20% of λ (twice the bound): λ̂
    // must be nearer its own λ. Can fail: it fails for an error beyond half the gap toward the other
    // λ, which the 10% bound allows as half the gap is under 10%. (A λ 20% or more away, like λ ± 25%,
    // the old twin, is rejected by the 10% bound by arithmetic: such a twin could never fail.)
    let smallest = *widths.iter().min().unwrap();
    for other in (0..=smallest).filter(|&r| r != rank) {
        let wrong = theory::deep_linear(widths, other).unwrap().lambda.to_f64();
        if (wrong - lambda).abs() < 0.2 * lambda {
            assert!(
                (est.mean - lambda).abs() < (est.mean - wrong).abs(),
                "{widths:?} r{rank}: λ̂ = {} is nearer rank {other}'s λ = {wrong} than λ = {lambda}",
                est.mean
            );
        }
    }
}

#[test]
fn dln_3_3_3_rank_1() {
    dln_case(&[3, 3, 3], 1);
}

#[test]
fn dln_4_3_8_rank_0() {
    dln_case(&[4, 3, 8], 0);
}

#[test]
fn dln_5_4_3_2_rank_1() {
    dln_case(&[5, 4, 3, 2], 1);
}

#[test]
fn dln_5_4_3_2_rank_2() {
    dln_case(&[5, 4, 3, 2], 2);
}

#[test]
fn dln_6_5_4_rank_1() {
    dln_case(&[6, 5, 4], 1);
}

#[test]
fn dln_10_8_6_4_rank_2() {
    dln_case(&[10, 8, 6, 4], 2);
}

/// Potentials are sums over disjoint variables: with a flat prior E[tK] = λ at every t (DESIGN §4), so
/// the run uses the flat prior (localization = 0) the known answer is stated for, the auto step size
/// and burn-in, and a long thinned chain. Bound: 4 stderr (false-positive rate 6e-5) plus 1% of λ for
/// SGLD's step bias (under 0.5% at the auto step, DESIGN §4's w⁴ figure). Twins: the λ of the nearest
/// neighbouring potential (one exponent raised by 2), rejected by the same bound. Each is within 20%
/// of λ, twice the largest bound allowed (10% of λ), so it fails when the bound is too wide to tell
/// the two potentials apart. 16000 draws per chain: with 4000 the bounds were 7.8% and 8.6% of λ and
/// x⁴+y⁶'s twin passed by 0.3 stderr. Measured: λ̂ = 0.7468 ± 0.0064 and 0.4123 ± 0.0038, the twins
/// passing by 7.3 and 4.7 stderr (false-positive rate below 1e-5).
fn potential_case(monomials: &str, lambda: f64, wrong: &[f64]) {
    let s = llc(&format!(
        "name = \"pot\"\nseed = 5\n[model]\nkind = \"potential\"\nmonomials = {monomials}\n[data]\nn = 10000\n[llc]\nchains = 4\ndraws = 16000\nthin = 50\nlocalization = 0.0\n"
    ));
    let est = s.llc.as_ref().unwrap();
    assert_eq!(s.theory.as_ref().unwrap().lambda, lambda);
    let bound = 4.0 * est.stderr + 0.01 * lambda;
    println!(
        "{monomials}: λ̂ = {:.4} ± {:.4}, λ = {lambda}",
        est.mean, est.stderr
    );
    assert!(
        bound < 0.10 * lambda,
        "the test must be tighter than 10%: bound {bound}"
    );
    assert!(
        (est.mean - lambda).abs() < bound,
        "λ̂ = {} vs {lambda} (bound {bound})",
        est.mean
    );
    for w in wrong {
        assert!(
            (est.mean - w).abs() > bound,
            "the wrong λ {w} is not rejected"
        );
    }
}

#[test]
fn normal_crossing_x2_plus_y4() {
    // Twin: x² + y⁶ (2/3), 0.083 below λ: it can fail once the main check passed, as a bound above
    // 0.042 (5.6% of λ; up to 10% is allowed) does not reject it. (The old twins, x² alone (1/2)
    // and x² + y² (1), are 33% away: the 10% limit on the bound made them impossible to fail.)
    potential_case("[[2, 0], [0, 4]]", 0.75, &[2.0 / 3.0]);
}

#[test]
fn normal_crossing_x4_plus_y6() {
    // λ = 1/4 + 1/6 = 5/12. Twin: x⁴ + y⁸ (3/8), 0.042 below λ: it can fail once the main check
    // passed, as a bound above 0.021 (5% of λ; up to 10% is allowed) does not reject it. (The old
    // twins, 1/2 (two quartics) and 1/3 (two sextics), are 20% away: at the 10% limit on the bound
    // they could never fail.)
    potential_case("[[4, 0], [0, 6]]", 5.0 / 12.0, &[3.0 / 8.0]);
}

/// The accuracy table of the foundation issue: twelve deep linear networks (3–300 parameters, depth
/// 2–4, ranks 0 to 4) at the minimal true point, auto settings, no per-case tuning. Writes
/// results/dln-accuracy/accuracy.csv and checks the bar on the networks of 4–300 parameters: mean
/// |relative error| ≤ 12%, worst ≤ 30%. ([1, 1, 1, 1] at rank 0, 3 parameters, is K = (abc)² with
/// multiplicity 3, where one temperature reads far low by design: it is listed, not judged.)
/// About 15 minutes on 2 cores: `cargo test --release --test accuracy -- --ignored`.
#[test]
#[ignore]
fn dln_accuracy_table() {
    let cases: [(&[usize], usize); 12] = [
        (&[3, 3, 3, 3], 1),
        (&[2, 2, 2, 2], 1),
        (&[1, 1, 1, 1], 0),
        (&[3, 3, 3], 0),
        (&[4, 3, 8], 0),
        (&[3, 3, 3], 1),
        (&[5, 4, 3, 2], 1),
        (&[5, 4, 3, 2], 2),
        (&[6, 5, 4], 2),
        (&[10, 8, 6, 4], 2),
        (&[8, 6, 8, 4], 0),
        (&[12, 10, 8, 6], 4),
    ];
    let mut csv = String::from("widths,rank,d,lambda,llc_mean,llc_stderr,rel_error,step_size,localization,steps_per_chain,wall_s\n");
    let (mut errors, mut all) = (Vec::new(), Vec::new());
    for (widths, rank) in cases {
        let config = format!(
            "name = \"acc\"\nseed = 0\n[model]\nkind = \"dln\"\nwidths = {widths:?}\n[data]\nn = 10000\nteacher_rank = {rank}\n[llc]\nchains = 4\ndraws = 1000\n"
        );
        let s = llc(&config);
        let est = s.llc.as_ref().unwrap();
        let lambda = s.theory.as_ref().unwrap().lambda;
        let rel = (est.mean - lambda) / lambda;
        all.push(rel.abs());
        if s.d >= 4 {
            errors.push(rel.abs());
        }
        let w = widths_label(widths);
        csv += &format!(
            "{w},{rank},{},{lambda},{:.4},{:.4},{:.4},{:.3e},{:.4},{},{:.1}\n",
            s.d,
            est.mean,
            est.stderr,
            rel,
            est.step_size,
            est.localization,
            est.burnin + est.draws * est.thin,
            s.timing_s.llc.unwrap_or(0.0)
        );
        println!(
            "{w} r{rank}: λ̂ = {:.3} ± {:.3}, λ = {lambda}, {:+.1}%",
            est.mean,
            est.stderr,
            100.0 * rel
        );
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let worst = errors.iter().cloned().fold(0.0, f64::max);
    let all_mean = all.iter().sum::<f64>() / all.len() as f64;
    let all_worst = all.iter().cloned().fold(0.0, f64::max);
    csv += &format!(
        "# networks of 4-300 parameters: mean |rel error| {mean:.4}, worst {worst:.4}; all {}: mean {all_mean:.4}, worst {all_worst:.4}\n",
        all.len()
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/dln-accuracy");
    std::fs::create_dir_all(&dir).unwrap();
    slt::report::write_atomic(&dir.join("accuracy.csv"), csv.as_bytes()).unwrap();
    println!("mean |rel error| {mean:.4}, worst {worst:.4}");
    assert!(mean <= 0.12 && worst <= 0.30, "mean {mean}, worst {worst}");
}

/// The sampler comparison of results/samplers/: SGLD, RMSProp-SGLD and SGNHT with auto settings on
/// deep linear networks of multiplicity 1 and one of multiplicity 2 (error against Aoyagi's λ, wall
/// time). About 8 minutes on 2 cores: `cargo test --release --test accuracy samplers -- --ignored`.
#[test]
#[ignore]
fn samplers_table() {
    let cases: [(&[usize], usize); 5] = [
        (&[3, 3, 3], 1),
        (&[4, 3, 8], 0),
        (&[5, 4, 3, 2], 2),
        (&[6, 5, 4], 1),
        (&[3, 3, 3, 3], 1),
    ];
    let mut csv = String::from("sampler,widths,rank,d,lambda,multiplicity,llc_mean,llc_stderr,rel_error,step_size,wall_s\n");
    for sampler in ["sgld", "rmsprop-sgld", "sgnht"] {
        let mut errs = Vec::new();
        for (widths, rank) in cases {
            let config = format!(
                "name = \"smp\"\nseed = 0\n[model]\nkind = \"dln\"\nwidths = {widths:?}\n[data]\nn = 10000\nteacher_rank = {rank}\n[llc]\nsampler = \"{sampler}\"\nchains = 4\ndraws = 1000\n"
            );
            let s = llc(&config);
            let est = s.llc.as_ref().unwrap();
            let th = s.theory.as_ref().unwrap();
            let rel = (est.mean - th.lambda) / th.lambda;
            errs.push(rel.abs());
            let w = widths_label(widths);
            csv += &format!(
                "{sampler},{w},{rank},{},{},{},{:.4},{:.4},{:.4},{:.3e},{:.1}\n",
                s.d,
                th.lambda,
                th.multiplicity,
                est.mean,
                est.stderr,
                rel,
                est.step_size,
                s.timing_s.llc.unwrap_or(0.0)
            );
            println!(
                "{sampler} {w} r{rank}: λ̂ = {:.3} ± {:.3}, λ = {}, {:+.1}%",
                est.mean,
                est.stderr,
                th.lambda,
                100.0 * rel
            );
        }
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        csv += &format!("# {sampler}: mean |rel error| {mean:.4}\n");
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/samplers");
    std::fs::create_dir_all(&dir).unwrap();
    slt::report::write_atomic(&dir.join("samplers.csv"), csv.as_bytes()).unwrap();
}

/// The ladder through the pipeline with every setting "auto" (`ladder = "auto"`, the full batch), on a
/// deep linear network at the teacher's minimal true point (n = 10000, noiseless, seed 0).
fn rlct_run(widths: &[usize], rank: usize) -> Summary {
    llc(&format!(
        "name = \"rlct\"\nseed = 0\n[model]\nkind = \"dln\"\nwidths = {widths:?}\n[data]\nn = 10000\nteacher_rank = {rank}\n[llc]\nchains = 4\ndraws = 1000\nbatch = 10000\nladder = \"auto\"\n"
    ))
}

/// Two rows of the RLCT table in CI (the rest: `dln_rlct_table` below, results/dln-rlct/): 2-1-2 at
/// rank 0 (λ = 1, m = 2) and at rank 1 (λ = 3/2, m = 1), about a minute together; rank 0 was the
/// table's worst case (+14.8%) before the precision extensions. Bound: the worst-case bar,
/// 12% of λ. The RLCT's sampling error is below 1% of λ on both (stderr 0.004–0.005 in the table's
/// run, which reads +4.3% and +1.3%), so the bound sits more than 10 standard errors from the
/// measured values: the false-positive rate is far below 1e-6; what could fail it is a change of
/// method, which is what it is for. Twins: at rank 0 (m = 2), the one-temperature λ̂ (−23%) is
/// rejected by the same bound (the ladder is needed there); it is the fit's input, so it can fail
/// once the fit passed. At rank 1 (m = 1), the λ the ladder's fit gives the same rungs under the
/// other multiplicity, m = 2 (1.635, +9.0%, against the reported 1.519), lies inside the 12% bound,
/// so the bound cannot reject it: the twin asserts the reported λ is nearer λ than that one by 2
/// standard errors, which fails if the fit chose m = 2 (or if that λ were the better one); it
/// is nearer by 23 stderr. (The twin was the other rank's λ, 1 against 3/2: 33% and 50% away, more
/// than twice the bound, it could never fail.)
#[test]
fn dln_rlct_ci_subset() {
    let widths = [2usize, 1, 2];
    for rank in [0usize, 1] {
        let s = rlct_run(&widths, rank);
        let r = s.rlct.as_ref().unwrap();
        let theory = s.theory.as_ref().unwrap();
        let (lam, m) = (theory.lambda, theory.multiplicity);
        println!(
            "{} r{rank}: RLCT {:.4} ± {:.4} (m {:.2} → {}), λ = {lam} (m {m}); one-temperature λ̂ {:.4}",
            widths_label(&widths),
            r.lambda,
            r.stderr,
            r.multiplicity,
            r.multiplicity_int,
            s.llc.as_ref().unwrap().mean
        );
        assert!((r.lambda - lam).abs() <= 0.12 * lam, "{r:?}");
        if m > 1 {
            assert!((s.llc.as_ref().unwrap().mean - lam).abs() > 0.12 * lam);
        } else {
            // Can fail: λ_2 − λ_1 ≈ 0.115 (7.7% of λ) for these rungs, so a λ_1 within the bound but
            // about 3.5% or more low has λ_2 as near λ; and a fit that chose m = 2 reports λ_2.
            let lambda_2 = lambda_at_multiplicity_2(&r.nbetas, &r.llc_at, &r.llc_err);
            println!("  the m = 2 fit of the same rungs: λ = {lambda_2:.4}");
            assert!(
                (lambda_2 - lam).abs() - (r.lambda - lam).abs() > 2.0 * r.stderr,
                "{r:?}: the m = 2 fit, λ = {lambda_2}, is as near λ = {lam}"
            );
        }
    }
}

/// λ under multiplicity 2 from the ladder's rungs: the fixed point of the fit's model λ̂_k = λ − 1/(ln
/// nβ_k − ψ(λ)) weighted by 1/stderr² (as `fit_rlct` computes it for each integer m).
fn lambda_at_multiplicity_2(nbetas: &[f64], llcs: &[f64], errs: &[f64]) -> f64 {
    let weights: Vec<f64> = errs.iter().map(|e| 1.0 / (e * e)).collect();
    let total: f64 = weights.iter().sum();
    let mut lambda = llcs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    for _ in 0..1000 {
        let psi = slt_estimators::ladder::digamma(lambda);
        let mean: f64 = (0..llcs.len())
            .map(|k| weights[k] * (llcs[k] + 1.0 / (nbetas[k].ln() - psi)))
            .sum::<f64>()
            / total;
        lambda = 0.5 * (lambda + mean);
    }
    lambda
}

/// The RLCT table of results/dln-rlct/: the temperature ladder (`ladder = "auto"`, factors 1, 4, 16,
/// 64) with auto settings on deep linear networks of depth 2–5 at every rank class, against Aoyagi's
/// λ. The ladder runs on the full batch (`batch = n`: a deep linear net's full-batch loss comes from
/// the data's second moments, so a step costs the same whatever n, and the fit sees no minibatch
/// noise). The bar: mean |relative error| ≤ 5%, worst ≤ 12%. Rows are written as each
/// network finishes, so an interrupted run keeps its rows.
/// `cargo test --release --test accuracy dln_rlct_table -- --ignored --nocapture`.
#[test]
#[ignore]
fn dln_rlct_table() {
    let cases: [(&[usize], usize); 21] = [
        (&[2, 1, 2], 0),
        (&[2, 1, 2], 1),
        (&[2, 2, 2, 2], 1),
        (&[3, 3, 3], 0),
        (&[3, 3, 3], 1),
        (&[3, 3, 3], 2),
        (&[3, 2, 3, 2], 1),
        (&[3, 3, 3, 3], 1),
        (&[4, 3, 8], 0),
        (&[5, 4, 3, 2], 1),
        (&[5, 4, 3, 2], 2),
        (&[2, 2, 2, 2, 2], 1),
        (&[2, 3, 2, 3, 2, 3], 1),
        (&[3, 3, 3, 3, 3, 3], 1),
        (&[6, 5, 4], 2),
        (&[4, 4, 4, 4, 4], 2),
        (&[8, 6, 8, 4], 0),
        (&[10, 8, 6, 4], 2),
        (&[12, 10, 8, 6], 4),
        (&[20, 16, 12, 8], 3),
        (&[30, 25, 20, 10], 5),
    ];
    // SLT_RLCT_ONLY="3-3-3-3-3-3:1,8-6-8-4:0" runs only those networks, into rlct-subset.csv.
    let only: Option<Vec<String>> = std::env::var("SLT_RLCT_ONLY")
        .ok()
        .map(|v| v.split(',').map(|c| c.trim().to_string()).collect());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/dln-rlct");
    std::fs::create_dir_all(&dir).unwrap();
    let file = if only.is_some() {
        "rlct-subset.csv"
    } else {
        "rlct.csv"
    };
    let mut csv = String::from("widths,rank,d,lambda,multiplicity,rlct,rlct_stderr,rlct_rel_error,m_fit,m_int,llc_mean,llc_rel_error,wall_s,rung_llc,rung_err\n");
    let mut errors = Vec::new();
    for (widths, rank) in cases {
        let key = format!("{}:{rank}", widths_label(widths));
        if only.as_ref().is_some_and(|o| !o.contains(&key)) {
            continue;
        }
        let start = std::time::Instant::now();
        let s = rlct_run(widths, rank);
        let est = s.llc.as_ref().unwrap();
        let r = s.rlct.as_ref().unwrap();
        let theory = s.theory.as_ref().unwrap();
        let rel = (r.lambda - theory.lambda) / theory.lambda;
        errors.push(rel.abs());
        let w = widths_label(widths);
        csv += &format!(
            "{w},{rank},{},{},{},{:.4},{:.4},{:.4},{:.2},{},{:.4},{:.4},{:.1},{},{}\n",
            s.d,
            theory.lambda,
            theory.multiplicity,
            r.lambda,
            r.stderr,
            rel,
            r.multiplicity,
            r.multiplicity_int,
            est.mean,
            (est.mean - theory.lambda) / theory.lambda,
            start.elapsed().as_secs_f64(),
            joined(&r.llc_at),
            joined(&r.llc_err)
        );
        slt::report::write_atomic(&dir.join(file), csv.as_bytes()).unwrap();
        println!(
            "{w} r{rank} (d {}): RLCT {:.3} ± {:.3} (m {:.2} → {}), λ = {} (m {}), {:+.1}%; one-temperature λ̂ {:.3}; {:.0} s",
            s.d,
            r.lambda,
            r.stderr,
            r.multiplicity,
            r.multiplicity_int,
            theory.lambda,
            theory.multiplicity,
            100.0 * rel,
            est.mean,
            start.elapsed().as_secs_f64()
        );
        println!(
            "    rungs: λ̂ {:?} ± {:?}, drift p {:?}, reruns {:?}, extensions {:?}; γ {:.4}, m uncertainty {:.3}",
            r.llc_at, r.llc_err, r.stationarity_p, r.reruns, r.extensions, r.localization, r.multiplicity_uncertainty
        );
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let worst = errors.iter().cloned().fold(0.0, f64::max);
    csv += &format!(
        "# {} networks: RLCT mean |rel error| {mean:.4}, worst {worst:.4}\n",
        errors.len()
    );
    slt::report::write_atomic(&dir.join(file), csv.as_bytes()).unwrap();
    println!("mean |rel error| {mean:.4}, worst {worst:.4}");
    if only.is_none() {
        assert!(mean <= 0.05 && worst <= 0.12, "mean {mean}, worst {worst}");
    }
}
