//! Synthetic data sets: Gaussian inputs, low-rank linear teachers and their minimal true points, sparse features.

use rand::Rng;
use rand_distr::StandardNormal;

/// A matrix with orthonormal columns, `rows × cols` row-major, from a Gaussian matrix by Gram–Schmidt.
pub fn orthonormal_columns<R: Rng>(rows: usize, cols: usize, rng: &mut R) -> Vec<f64> {
    assert!(
        cols <= rows,
        "cannot have {cols} orthonormal columns in R^{rows}"
    );
    let mut q = vec![0.0; rows * cols];
    for j in 0..cols {
        loop {
            let mut v: Vec<f64> = (0..rows).map(|_| rng.sample(StandardNormal)).collect();
            for _ in 0..2 {
                // Two passes of classical Gram–Schmidt are as stable as modified Gram–Schmidt.
                for k in 0..j {
                    let proj: f64 = (0..rows).map(|i| q[i * cols + k] * v[i]).sum();
                    for i in 0..rows {
                        v[i] -= proj * q[i * cols + k];
                    }
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-8 {
                for i in 0..rows {
                    q[i * cols + j] = v[i] / norm;
                }
                break;
            }
        }
    }
    q
}

/// `n × dim` standard Gaussian inputs, row-major.
pub fn gaussian_inputs<R: Rng>(n: usize, dim: usize, rng: &mut R) -> Vec<f64> {
    (0..n * dim).map(|_| rng.sample(StandardNormal)).collect()
}

/// A deep linear teacher of rank r, given as its minimal true point: W_l = P_{l+1} D_l P_lᵀ.
///
/// P_1 (H_1 × r) and P_{L+1} (H_{L+1} × r) hold the product's right and left singular vectors, the
/// inner P_l are random orthonormal H_l × r frames, and D_l = diag(s^(1/L)) splits the singular values
/// s evenly over the layers, so every layer has rank exactly r (Aoyagi's λ holds there).
#[derive(Debug, Clone, PartialEq)]
pub struct DlnTeacher {
    /// Widths H_1 (input) … H_{L+1} (output).
    pub widths: Vec<usize>,
    /// The rank r of the product.
    pub rank: usize,
    /// The product's nonzero singular values, largest first.
    pub singular_values: Vec<f64>,
    /// The layers at the minimal true point, flat in the order of the fast landscape (W_1 row-major, …).
    pub minimal_point: Vec<f64>,
}

impl DlnTeacher {
    /// A random teacher with the given singular values (length r).
    pub fn new<R: Rng>(widths: &[usize], singular_values: &[f64], rng: &mut R) -> Self {
        let r = singular_values.len();
        let layers = widths.len() - 1;
        let frames: Vec<Vec<f64>> = widths
            .iter()
            .map(|&h| orthonormal_columns(h, r, rng))
            .collect();
        let mut flat = Vec::new();
        for l in 0..layers {
            let (hin, hout) = (widths[l], widths[l + 1]);
            let (p_in, p_out) = (&frames[l], &frames[l + 1]);
            for i in 0..hout {
                for j in 0..hin {
                    let v: f64 = (0..r)
                        .map(|k| {
                            p_out[i * r + k]
                                * singular_values[k].powf(1.0 / layers as f64)
                                * p_in[j * r + k]
                        })
                        .sum();
                    flat.push(v);
                }
            }
        }
        Self {
            widths: widths.to_vec(),
            rank: r,
            singular_values: singular_values.to_vec(),
            minimal_point: flat,
        }
    }

    /// The default singular values for rank r: evenly spaced from 2 down to 1 (r = 1: just 1.5).
    pub fn default_singular_values(rank: usize) -> Vec<f64> {
        match rank {
            0 => vec![],
            1 => vec![1.5],
            _ => (0..rank)
                .map(|k| 2.0 - k as f64 / (rank - 1) as f64)
                .collect(),
        }
    }

    /// The product matrix W_L ⋯ W_1, H_{L+1} × H_1 row-major.
    pub fn product(&self) -> Vec<f64> {
        product_of_layers(&self.widths, &self.minimal_point)
    }
}

/// The product W_L ⋯ W_1 of flat layers (W_1 first, each row-major), H_{L+1} × H_1 row-major.
pub fn product_of_layers(widths: &[usize], flat: &[f64]) -> Vec<f64> {
    let h1 = widths[0];
    // acc: current product, rows × h1, starting from the identity.
    let mut acc: Vec<f64> = (0..h1 * h1)
        .map(|k| if k / h1 == k % h1 { 1.0 } else { 0.0 })
        .collect();
    let mut rows = h1;
    let mut offset = 0;
    for l in 0..widths.len() - 1 {
        let (hin, hout) = (widths[l], widths[l + 1]);
        debug_assert_eq!(hin, rows);
        let wl = &flat[offset..offset + hin * hout];
        offset += hin * hout;
        let mut next = vec![0.0; hout * h1];
        for i in 0..hout {
            for k in 0..hin {
                let a = wl[i * hin + k];
                for j in 0..h1 {
                    next[i * h1 + j] += a * acc[k * h1 + j];
                }
            }
        }
        acc = next;
        rows = hout;
    }
    acc
}

/// Targets y = T x + noise for row-major inputs (n × cols of T) and a row-major matrix T.
pub fn linear_targets<R: Rng>(
    t: &[f64],
    rows: usize,
    cols: usize,
    inputs: &[f64],
    noise: f64,
    rng: &mut R,
) -> Vec<f64> {
    let n = inputs.len() / cols;
    let mut y = Vec::with_capacity(n * rows);
    for i in 0..n {
        let x = &inputs[i * cols..(i + 1) * cols];
        for r in 0..rows {
            let mut v: f64 = (0..cols).map(|c| t[r * cols + c] * x[c]).sum();
            if noise > 0.0 {
                v += noise * rng.sample::<f64, _>(StandardNormal);
            }
            y.push(v);
        }
    }
    y
}

/// The number of training pairs of modular addition mod `p` at `fraction`: round(fraction · p²), at
/// most p².
pub fn modadd_train_size(p: usize, fraction: f64) -> usize {
    ((fraction * (p * p) as f64).round() as usize).min(p * p)
}

/// Modular addition mod p: every pair (a, b) in 0..p × 0..p, shuffled by `rng` (Fisher–Yates) and
/// split into `modadd_train_size(p, fraction)` training pairs and the rest for testing. Each pair's
/// input is one-hot(a) ++ one-hot(b) (2p numbers), its target one-hot((a + b) mod p) (p numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct ModaddSplit {
    /// The modulus p.
    pub modulus: usize,
    /// The training pairs (a, b).
    pub train: Vec<(usize, usize)>,
    /// The test pairs (a, b): the rest.
    pub test: Vec<(usize, usize)>,
}

impl ModaddSplit {
    /// A seeded split of the p² pairs.
    pub fn new<R: Rng>(p: usize, fraction: f64, rng: &mut R) -> Self {
        let mut pairs: Vec<(usize, usize)> =
            (0..p).flat_map(|a| (0..p).map(move |b| (a, b))).collect();
        for i in (1..pairs.len()).rev() {
            let j = rng.random_range(0..=i);
            pairs.swap(i, j);
        }
        let test = pairs.split_off(modadd_train_size(p, fraction));
        Self {
            modulus: p,
            train: pairs,
            test,
        }
    }

    /// Row-major one-hot inputs (pairs × 2p) and targets (pairs × p) of `pairs`.
    pub fn encode(&self, pairs: &[(usize, usize)]) -> (Vec<f64>, Vec<f64>) {
        let p = self.modulus;
        let mut x = vec![0.0; pairs.len() * 2 * p];
        let mut y = vec![0.0; pairs.len() * p];
        for (i, &(a, b)) in pairs.iter().enumerate() {
            x[i * 2 * p + a] = 1.0;
            x[i * 2 * p + p + b] = 1.0;
            y[i * p + (a + b) % p] = 1.0;
        }
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn modadd_split_covers_every_pair_once_and_is_seeded() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let s = ModaddSplit::new(5, 0.4, &mut rng);
        assert_eq!(s.train.len(), 10);
        assert_eq!(s.test.len(), 15);
        let mut all: Vec<_> = s.train.iter().chain(&s.test).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 25);
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        assert_eq!(ModaddSplit::new(5, 0.4, &mut rng), s);
        let (x, y) = s.encode(&[(3, 4)]);
        assert_eq!(x.iter().sum::<f64>(), 2.0);
        assert_eq!((x[3], x[5 + 4]), (1.0, 1.0));
        assert_eq!(y[(3 + 4) % 5], 1.0);
    }
}
