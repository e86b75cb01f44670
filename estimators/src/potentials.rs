//! Analytic landscapes K(w) = Σ_m c_m Π_j w_j^(e_mj): sums of monomials whose learning coefficients are known.

use crate::error::{Error, Result};
use crate::landscape::{Batch, Landscape};

/// A potential K(w) = Σ_m c_m Π_j w_j^(e_mj), minimised (K = 0) at the origin.
///
/// Each monomial has one exponent per coordinate; exponents must be even so that K ≥ 0. It is a
/// landscape without data: the "loss" is K itself and minibatches do not apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Potential {
    exponents: Vec<Vec<u32>>,
    coefficients: Vec<f64>,
    dim: usize,
}

impl Potential {
    /// A potential from its monomials (one exponent list per monomial), all with coefficient 1.
    pub fn new(monomials: &[Vec<u32>]) -> Result<Self> {
        Self::with_coefficients(monomials, &vec![1.0; monomials.len()])
    }

    /// A potential with a positive coefficient per monomial.
    pub fn with_coefficients(monomials: &[Vec<u32>], coefficients: &[f64]) -> Result<Self> {
        let what = || format!("monomials = {monomials:?}");
        let Some(first) = monomials.first() else {
            return Err(Error::InvalidShape {
                what: what(),
                why: "needs at least one monomial".into(),
            });
        };
        let dim = first.len();
        if dim == 0 {
            return Err(Error::InvalidShape {
                what: what(),
                why: "a monomial needs at least one exponent".into(),
            });
        }
        for m in monomials {
            if m.len() != dim {
                return Err(Error::InvalidShape {
                    what: what(),
                    why: format!("every monomial needs {dim} exponents (one per coordinate)"),
                });
            }
            if m.iter().any(|e| e % 2 == 1) {
                return Err(Error::InvalidShape {
                    what: what(),
                    why: "exponents must be even so that K ≥ 0".into(),
                });
            }
            if m.iter().all(|&e| e == 0) {
                return Err(Error::InvalidShape {
                    what: what(),
                    why: "a monomial with all exponents zero is a constant".into(),
                });
            }
        }
        if coefficients.len() != monomials.len()
            || coefficients.iter().any(|c| !(c.is_finite() && *c > 0.0))
        {
            return Err(Error::InvalidShape {
                what: format!("coefficients = {coefficients:?}"),
                why: "one positive finite coefficient per monomial".into(),
            });
        }
        Ok(Self {
            exponents: monomials.to_vec(),
            coefficients: coefficients.to_vec(),
            dim,
        })
    }

    /// The monomials' exponents.
    pub fn monomials(&self) -> &[Vec<u32>] {
        &self.exponents
    }

    /// K(w) and, when `grad` is given, its gradient.
    fn evaluate(&self, w: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        if let Some(g) = grad.as_deref_mut() {
            g.fill(0.0);
        }
        let mut total = 0.0;
        for (exps, &c) in self.exponents.iter().zip(&self.coefficients) {
            let value: f64 = exps
                .iter()
                .zip(w)
                .map(|(&e, &x)| x.powi(e as i32))
                .product::<f64>()
                * c;
            total += value;
            if let Some(g) = grad.as_deref_mut() {
                for (j, &e) in exps.iter().enumerate() {
                    if e == 0 {
                        continue;
                    }
                    // d/dw_j of c Π_i w_i^e_i = c e_j w_j^(e_j − 1) Π_{i≠j} w_i^e_i (no division by w_j).
                    let others: f64 = exps
                        .iter()
                        .zip(w)
                        .enumerate()
                        .filter(|(i, _)| *i != j)
                        .map(|(_, (&ei, &x))| x.powi(ei as i32))
                        .product();
                    g[j] += c * e as f64 * w[j].powi(e as i32 - 1) * others;
                }
            }
        }
        total
    }

    /// `out = ∇²K(w) v`, exactly: Σ over monomials of their second partial derivatives.
    fn hessian_times(&self, w: &[f64], v: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        // Π_i w_i^(e_i − drop_i), where `drop` lowers the exponents of the differentiated coordinates.
        let reduced = |exps: &[u32], drop: &[(usize, u32)]| -> f64 {
            exps.iter()
                .enumerate()
                .map(|(i, &e)| {
                    let less: u32 = drop.iter().filter(|(j, _)| *j == i).map(|(_, k)| k).sum();
                    w[i].powi(e as i32 - less as i32)
                })
                .product()
        };
        for (exps, &c) in self.exponents.iter().zip(&self.coefficients) {
            for (j, &ej) in exps.iter().enumerate() {
                if ej == 0 {
                    continue;
                }
                for (k, &ek) in exps.iter().enumerate() {
                    let h = if j == k {
                        if ej < 2 {
                            continue;
                        }
                        c * (ej * (ej - 1)) as f64 * reduced(exps, &[(j, 2)])
                    } else {
                        if ek == 0 {
                            continue;
                        }
                        c * (ej * ek) as f64 * reduced(exps, &[(j, 1), (k, 1)])
                    };
                    out[j] += h * v[k];
                }
            }
        }
    }
}

impl Landscape for Potential {
    type Workspace = ();

    fn dim(&self) -> usize {
        self.dim
    }

    fn data_size(&self) -> Option<usize> {
        None
    }

    fn workspace(&self) -> Self::Workspace {}

    fn loss_and_grad(&self, w: &[f64], _batch: Batch<'_>, grad: &mut [f64], _ws: &mut ()) -> f64 {
        self.evaluate(w, Some(grad))
    }

    fn loss(&self, w: &[f64], _batch: Batch<'_>, _ws: &mut ()) -> f64 {
        self.evaluate(w, None)
    }

    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        _batch: Batch<'_>,
        out: &mut [f64],
        _ws: &mut (),
    ) -> bool {
        self.hessian_times(w, v, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let p = Potential::with_coefficients(&[vec![2, 0, 2], vec![0, 4, 0]], &[1.5, 0.5]).unwrap();
        let w = [0.3, -0.7, 1.1];
        let mut g = [0.0; 3];
        let k = p.loss_and_grad(&w, Batch::Full, &mut g, &mut ());
        assert!((k - (1.5 * 0.09 * 1.21 + 0.5 * 0.7f64.powi(4))).abs() < 1e-12);
        for j in 0..3 {
            let h = 1e-6;
            let mut wp = w;
            wp[j] += h;
            let mut wm = w;
            wm[j] -= h;
            let fd =
                (p.loss(&wp, Batch::Full, &mut ()) - p.loss(&wm, Batch::Full, &mut ())) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-7, "coordinate {j}: {fd} vs {}", g[j]);
        }
    }

    /// The exact product against central differences of the exact gradient (error O(h²) ≈ 1e-10
    /// here, so 1e-6 cannot fail by chance); the twin: the product at another v is told apart.
    #[test]
    fn hessian_product_matches_gradient_differences() {
        let p = Potential::with_coefficients(
            &[vec![2, 0, 2], vec![0, 4, 0], vec![2, 2, 2]],
            &[1.5, 0.5, 0.7],
        )
        .unwrap();
        let w = [0.3, -0.7, 1.1];
        let v = [0.2, 0.9, -0.4];
        let mut hv = [0.0; 3];
        assert!(p.hessian_vector_product(&w, &v, Batch::Full, &mut hv, &mut ()));
        let h = 1e-5;
        let (mut gp, mut gm) = ([0.0; 3], [0.0; 3]);
        let wp: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let wm: Vec<f64> = w.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        p.loss_and_grad(&wp, Batch::Full, &mut gp, &mut ());
        p.loss_and_grad(&wm, Batch::Full, &mut gm, &mut ());
        for j in 0..3 {
            let fd = (gp[j] - gm[j]) / (2.0 * h);
            assert!(
                (fd - hv[j]).abs() < 1e-6,
                "coordinate {j}: {fd} vs {}",
                hv[j]
            );
        }
        let mut other = [0.0; 3];
        p.hessian_vector_product(&w, &[1.0, 0.0, 0.0], Batch::Full, &mut other, &mut ());
        assert!(other.iter().zip(&hv).any(|(a, b)| (a - b).abs() > 1e-3));
    }

    #[test]
    fn rejects_odd_and_ragged_monomials() {
        assert!(Potential::new(&[vec![3]]).is_err());
        assert!(Potential::new(&[vec![2, 0], vec![2]]).is_err());
        assert!(Potential::new(&[vec![0, 0]]).is_err());
        assert!(Potential::new(&[]).is_err());
    }
}
