//! Helpers shared by the landscape tests: a problem from a config's `[model]` lines, and seeded Gaussian points.

#![allow(dead_code)] // each test binary uses its own subset

pub mod stacked;

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use slt::config::ValidConfig;
use slt::models::Problem;

/// The problem of a config's `[model]` lines with `n` training points and `extra` `[data]` lines
/// (seed 3; a deep linear net gets a rank-1 teacher).
pub fn problem_with(model: &str, n: usize, extra: &str) -> Problem {
    let rank = if model.contains("dln") {
        "teacher_rank = 1\n"
    } else {
        ""
    };
    let text =
        format!("name = \"agree\"\nseed = 3\n[model]\n{model}\n[data]\nn = {n}\n{rank}{extra}");
    ValidConfig::from_toml(&text).unwrap().problem()
}

/// A Gaussian point of `d` coordinates with standard deviation `scale`.
pub fn random_point(d: usize, scale: f64, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..d)
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            scale * z
        })
        .collect()
}
