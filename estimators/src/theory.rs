//! Known answers: exact learning coefficients (λ) and multiplicities of models whose values are proven.
//!
//! One file over 700 lines: the formulas share the exact `Rational` and each other (Aoyagi's λ and its
//! multiplicity, reduced-rank regression, normal crossings), and a reader checks them side by side.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Div, Mul, Sub};

use crate::error::{Error, Result};

/// An exact fraction `num/den`, always reduced to lowest terms with `den > 0`.
///
/// The operators `+ - * /` panic when the exact result does not fit in `i64` (or on division by
/// zero), like integer overflow; the `checked_*` methods return `None` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i64,
    den: i64,
}

/// The greatest common divisor of two magnitudes (`gcd(0, b) = b`).
fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    /// Zero, `0/1`.
    pub const ZERO: Rational = Rational { num: 0, den: 1 };
    /// One, `1/1`.
    pub const ONE: Rational = Rational { num: 1, den: 1 };

    /// The fraction `num/den`, reduced; an error when `den` is zero.
    pub fn new(num: i64, den: i64) -> Result<Self> {
        Self::from_wide(i128::from(num), i128::from(den)).ok_or_else(|| Error::InvalidShape {
            what: format!("rational {num}/{den}"),
            why: if den == 0 {
                "the denominator must not be zero".to_string()
            } else {
                "the reduced fraction must fit in 64-bit integers".to_string()
            },
        })
    }

    /// The integer `value` as the fraction `value/1`.
    pub fn from_int(value: i64) -> Self {
        Rational { num: value, den: 1 }
    }

    /// The numerator of the reduced fraction (carries the sign).
    pub fn num(self) -> i64 {
        self.num
    }

    /// The denominator of the reduced fraction (always positive).
    pub fn den(self) -> i64 {
        self.den
    }

    /// The nearest `f64` (up to the rounding of the two integers and of the division).
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Reduces the wide fraction `num/den`; `None` when `den` is zero or the result does not fit in `i64`.
    fn from_wide(num: i128, den: i128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let negative = (num < 0) != (den < 0);
        let (num_abs, den_abs) = (num.unsigned_abs(), den.unsigned_abs());
        let divisor = gcd(num_abs, den_abs);
        let num_reduced = i128::try_from(num_abs / divisor).ok()?;
        let den_reduced = i64::try_from(den_abs / divisor).ok()?;
        let num_signed = if negative { -num_reduced } else { num_reduced };
        Some(Rational {
            num: i64::try_from(num_signed).ok()?,
            den: den_reduced,
        })
    }

    /// `self + rhs`, or `None` when the exact sum does not fit in `i64`.
    pub fn checked_add(self, rhs: Rational) -> Option<Rational> {
        let num =
            i128::from(self.num) * i128::from(rhs.den) + i128::from(rhs.num) * i128::from(self.den);
        Self::from_wide(num, i128::from(self.den) * i128::from(rhs.den))
    }

    /// `self - rhs`, or `None` when the exact difference does not fit in `i64`.
    pub fn checked_sub(self, rhs: Rational) -> Option<Rational> {
        let num =
            i128::from(self.num) * i128::from(rhs.den) - i128::from(rhs.num) * i128::from(self.den);
        Self::from_wide(num, i128::from(self.den) * i128::from(rhs.den))
    }

    /// `self * rhs`, or `None` when the exact product does not fit in `i64`.
    pub fn checked_mul(self, rhs: Rational) -> Option<Rational> {
        Self::from_wide(
            i128::from(self.num) * i128::from(rhs.num),
            i128::from(self.den) * i128::from(rhs.den),
        )
    }

    /// `self / rhs`, or `None` when `rhs` is zero or the exact quotient does not fit in `i64`.
    pub fn checked_div(self, rhs: Rational) -> Option<Rational> {
        Self::from_wide(
            i128::from(self.num) * i128::from(rhs.den),
            i128::from(self.den) * i128::from(rhs.num),
        )
    }
}

impl fmt::Display for Rational {
    /// `7/2`, or `4` when the fraction is an integer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl Add for Rational {
    type Output = Rational;
    /// Exact sum; panics if it does not fit in `i64` (see [`Rational::checked_add`]).
    fn add(self, rhs: Rational) -> Rational {
        self.checked_add(rhs)
            .expect("Rational addition overflowed i64")
    }
}

impl Sub for Rational {
    type Output = Rational;
    /// Exact difference; panics if it does not fit in `i64` (see [`Rational::checked_sub`]).
    fn sub(self, rhs: Rational) -> Rational {
        self.checked_sub(rhs)
            .expect("Rational subtraction overflowed i64")
    }
}

impl Mul for Rational {
    type Output = Rational;
    /// Exact product; panics if it does not fit in `i64` (see [`Rational::checked_mul`]).
    fn mul(self, rhs: Rational) -> Rational {
        self.checked_mul(rhs)
            .expect("Rational multiplication overflowed i64")
    }
}

impl Div for Rational {
    type Output = Rational;
    /// Exact quotient; panics on division by zero or overflow (see [`Rational::checked_div`]).
    fn div(self, rhs: Rational) -> Rational {
        self.checked_div(rhs)
            .expect("Rational division by zero or overflow of i64")
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        // Denominators are positive, so cross-multiplying keeps the order; i128 cannot overflow.
        (i128::from(self.num) * i128::from(other.den))
            .cmp(&(i128::from(other.num) * i128::from(self.den)))
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A proven learning coefficient λ with its multiplicity m (the power of `log n` in the free energy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownLambda {
    /// The learning coefficient λ (real log canonical threshold).
    pub lambda: Rational,
    /// The multiplicity m ≥ 1.
    pub multiplicity: u32,
}

/// An `Error::InvalidShape` for the input `what` breaking the rule `why`.
fn invalid_shape(what: impl Into<String>, why: impl Into<String>) -> Error {
    Error::InvalidShape {
        what: what.into(),
        why: why.into(),
    }
}

/// The rule broken when an answer's exact value does not fit in 64-bit integers.
const TOO_LARGE: &str = "too large for exact 64-bit rational arithmetic";

/// λ of reduced rank regression `y = B A x` (Aoyagi & Watanabe 2005).
///
/// `A` is `h × m` (input width `m`, hidden width `h`), `B` is `n × h` (output width `n`), and the
/// true product `B₀A₀` has rank `r`. All widths must be at least 1 and `r ≤ min(m, h, n)`.
pub fn reduced_rank_regression(m: usize, h: usize, n: usize, r: usize) -> Result<KnownLambda> {
    let what = || format!("reduced rank regression (M, H, N, r) = ({m}, {h}, {n}, {r})");
    if m == 0 || h == 0 || n == 0 {
        return Err(invalid_shape(
            what(),
            "the widths M, H and N must all be at least 1",
        ));
    }
    if r > h || r > m || r > n {
        return Err(invalid_shape(
            what(),
            "the true rank r must not exceed M, H or N",
        ));
    }
    let wide = |x: usize| i128::try_from(x).map_err(|_| invalid_shape(what(), TOO_LARGE));
    let (m, h, n, r) = (wide(m)?, wide(h)?, wide(n)?, wide(r)?);
    // Widths are bounded by usize, so these i128 expressions cannot overflow.
    let (numerator, denominator, multiplicity) =
        if n + r <= m + h && m + r <= n + h && h + r <= m + n {
            let odd = (m + h + n + r) % 2 == 1;
            let numerator =
                2 * (h + r) * (m + n) - (m - n) * (m - n) - (h + r) * (h + r) + i128::from(odd);
            (numerator, 8, if odd { 2 } else { 1 })
        } else if m + h < n + r {
            (h * m - h * r + n * r, 2, 1)
        } else if n + h < m + r {
            (h * n - h * r + m * r, 2, 1)
        } else {
            (m * n, 2, 1)
        };
    let lambda = Rational::from_wide(numerator, denominator)
        .ok_or_else(|| invalid_shape(what(), TOO_LARGE))?;
    Ok(KnownLambda {
        lambda,
        multiplicity,
    })
}

/// λ of a deep linear network `y = W_L ⋯ W_1 x` (Aoyagi 2024) whose true product has rank `rank`.
///
/// `widths` are `H_1` (input) … `H_{L+1}` (output): at least two (one layer, which is regular:
/// λ = H_1 H_2 / 2), all at least 1, and `rank` at most the smallest width. With `M_j = H_j − r`,
/// the formula takes the smallest set Σ of the sorted `M_j` (|Σ| = ℓ + 1 ≥ 2) with
/// `max_Σ M < min_{not Σ} M`, `Σ_Σ M ≥ ℓ max_Σ M` and `Σ_Σ M < ℓ min_{not Σ} M`, and with
/// `S = Σ_Σ M`, `a = S − (⌈S/ℓ⌉ − 1) ℓ`:
///
/// λ = (−r² + r(H_1 + H_{L+1}))/2 + a(ℓ − a)/(4ℓ) − ℓ(ℓ − 1)/4 · (S/ℓ)² + ½ Σ_{i<j ∈ Σ} M_i M_j.
///
/// The multiplicity (the order of the largest pole) is Aoyagi's θ = a(ℓ − a) + 1: 1 when `a = ℓ`.
/// For one hidden layer (ℓ ≤ 2) it is the reduced-rank-regression multiplicity, 2 exactly when
/// M + H + N + r is odd (checked in the tests for every small shape); for widths `[1; k]` at rank 0,
/// where K = (w_1 ⋯ w_{k−1})² is a normal crossing, it is k − 1, as it must be.
pub fn deep_linear(widths: &[usize], rank: usize) -> Result<KnownLambda> {
    let what = || format!("deep linear network widths {widths:?} with rank {rank}");
    if widths.len() < 2 {
        return Err(invalid_shape(
            what(),
            "needs at least two widths (input and output)",
        ));
    }
    if widths.contains(&0) {
        return Err(invalid_shape(what(), "every width must be at least 1"));
    }
    let smallest_width = widths.iter().copied().min().unwrap_or(0);
    if rank > smallest_width {
        return Err(invalid_shape(
            what(),
            format!("the rank must not exceed the smallest width {smallest_width}"),
        ));
    }
    let too_large = || invalid_shape(what(), TOO_LARGE);
    let to_i64 = |x: usize| i64::try_from(x).map_err(|_| too_large());
    let mut deficits = widths
        .iter()
        .map(|&width| to_i64(width - rank))
        .collect::<Result<Vec<i64>>>()?;
    deficits.sort_unstable();
    let chosen_len = (2..=deficits.len())
        .find(|&k| satisfies_aoyagi_conditions(&deficits[..k], &deficits[k..]))
        .ok_or_else(|| Error::Numerical {
            what: "deep_linear",
            why: format!("no subset satisfies Aoyagi's conditions for {widths:?} with rank {rank}"),
        })?;
    let input = to_i64(widths[0])?;
    let output = to_i64(widths[widths.len() - 1])?;
    deep_linear_formula(to_i64(rank)?, input, output, &deficits[..chosen_len]).ok_or_else(too_large)
}

/// Aoyagi's conditions on the chosen set Σ (`chosen`, sorted) and the rest (`rest`, sorted).
fn satisfies_aoyagi_conditions(chosen: &[i64], rest: &[i64]) -> bool {
    let ell = chosen.len() as i128 - 1;
    let largest_chosen = i128::from(chosen[chosen.len() - 1]);
    let sum: i128 = chosen.iter().map(|&m| i128::from(m)).sum();
    let below_rest = rest
        .first()
        .is_none_or(|&smallest| largest_chosen < i128::from(smallest));
    let balanced = sum >= ell * largest_chosen;
    let short_of_rest = rest
        .first()
        .is_none_or(|&smallest| sum < ell * i128::from(smallest));
    below_rest && balanced && short_of_rest
}

/// Aoyagi's λ and multiplicity for the chosen set Σ of deficits `M_j`, in exact rationals;
/// `None` when a value does not fit in 64-bit integers.
fn deep_linear_formula(rank: i64, input: i64, output: i64, chosen: &[i64]) -> Option<KnownLambda> {
    let int = Rational::from_int;
    let ell_int = i64::try_from(chosen.len() - 1).ok()?;
    let sum_int = chosen.iter().try_fold(0i64, |acc, &m| acc.checked_add(m))?;
    // Deficits are non-negative, so S ≥ 0 and ⌈S/ℓ⌉ is the integer division rounded up; when
    // S = 0 this gives ⌈S/ℓ⌉ = 0 and a = ℓ, so no term divides by zero.
    let ceil_int = sum_int.checked_add(ell_int - 1)? / ell_int;
    let a_int = sum_int.checked_sub(ceil_int.checked_sub(1)?.checked_mul(ell_int)?)?;
    let (r, ell, sum, a) = (int(rank), int(ell_int), int(sum_int), int(a_int));
    let (two, four) = (int(2), int(4));

    let rank_term = r
        .checked_mul(int(input.checked_add(output)?))?
        .checked_sub(r.checked_mul(r)?)?
        .checked_div(two)?;
    let remainder_term = a
        .checked_mul(ell.checked_sub(a)?)?
        .checked_div(four.checked_mul(ell)?)?;
    let mean = sum.checked_div(ell)?;
    let spread_term = ell
        .checked_mul(ell.checked_sub(Rational::ONE)?)?
        .checked_div(four)?
        .checked_mul(mean.checked_mul(mean)?)?;
    let mut pair_sum = Rational::ZERO;
    for (i, &m_i) in chosen.iter().enumerate() {
        for &m_j in &chosen[i + 1..] {
            pair_sum = pair_sum.checked_add(int(m_i.checked_mul(m_j)?))?;
        }
    }
    let pair_term = pair_sum.checked_div(two)?;
    let lambda = rank_term
        .checked_add(remainder_term)?
        .checked_sub(spread_term)?
        .checked_add(pair_term)?;
    // θ = a(ℓ − a) + 1 (1 ≤ a ≤ ℓ, so θ ≥ 1; θ = 1 exactly when a = ℓ).
    let multiplicity = u32::try_from(
        a_int
            .checked_mul(ell_int.checked_sub(a_int)?)?
            .checked_add(1)?,
    )
    .ok()?;
    Some(KnownLambda {
        lambda,
        multiplicity,
    })
}

/// λ of the normal-crossing potential `K(w) = Π_j w_j^{e_j}` under a prior positive at 0.
///
/// Every exponent must be even (0 means the variable is absent) and at least one positive:
/// λ = min over `e_j > 0` of `1/e_j`, and m is the number of `j` attaining that minimum.
pub fn normal_crossing(exponents: &[u32]) -> Result<KnownLambda> {
    let what = || format!("normal crossing exponents {exponents:?}");
    if exponents.iter().any(|e| e % 2 == 1) {
        return Err(invalid_shape(
            what(),
            "every exponent must be even (K must be non-negative)",
        ));
    }
    let largest = exponents.iter().copied().max().unwrap_or(0);
    if largest == 0 {
        return Err(invalid_shape(
            what(),
            "at least one exponent must be positive",
        ));
    }
    let attaining = exponents.iter().filter(|&&e| e == largest).count();
    Ok(KnownLambda {
        lambda: Rational::from_wide(1, i128::from(largest))
            .ok_or_else(|| invalid_shape(what(), TOO_LARGE))?,
        multiplicity: u32::try_from(attaining).map_err(|_| invalid_shape(what(), TOO_LARGE))?,
    })
}

/// λ and m of a sum of potentials in disjoint sets of variables: λ adds, m = 1 + Σ(m_i − 1).
///
/// An empty list gives λ = 0, m = 1. Panics only if λ overflows `i64` or m overflows `u32`.
pub fn sum_over_disjoint(parts: &[KnownLambda]) -> KnownLambda {
    parts.iter().fold(
        KnownLambda {
            lambda: Rational::ZERO,
            multiplicity: 1,
        },
        |total, part| KnownLambda {
            lambda: total.lambda + part.lambda,
            multiplicity: total.multiplicity + part.multiplicity.saturating_sub(1),
        },
    )
}

/// λ of the potential `K = Σ_k Π_j w_j^{e_kj}`, when known.
///
/// Each monomial lists one exponent per coordinate; all lists must have the same length (at least
/// 1), every exponent must be even, and no monomial may be all zero. When the monomials' supports
/// (coordinates with a positive exponent) are pairwise disjoint the answer is
/// [`sum_over_disjoint`] of their [`normal_crossing`] answers; otherwise it is unknown (`None`).
pub fn potential(monomials: &[Vec<u32>]) -> Result<Option<KnownLambda>> {
    let what = || format!("potential monomials {monomials:?}");
    let Some(first) = monomials.first() else {
        return Err(invalid_shape(what(), "needs at least one monomial"));
    };
    let coordinates = first.len();
    if coordinates == 0 {
        return Err(invalid_shape(
            what(),
            "every monomial needs at least one coordinate",
        ));
    }
    if monomials
        .iter()
        .any(|monomial| monomial.len() != coordinates)
    {
        return Err(invalid_shape(
            what(),
            "every monomial must list one exponent per coordinate (same length)",
        ));
    }
    let parts = monomials
        .iter()
        .map(|monomial| {
            normal_crossing(monomial).map_err(|_| {
                invalid_shape(
                    what(),
                    "every exponent must be even and no monomial may be all zero",
                )
            })
        })
        .collect::<Result<Vec<KnownLambda>>>()?;
    let supports_disjoint =
        (0..coordinates).all(|j| monomials.iter().filter(|monomial| monomial[j] > 0).count() <= 1);
    Ok(supports_disjoint.then(|| sum_over_disjoint(&parts)))
}

/// λ of a regular model with `d` parameters: d/2, m = 1 (`d` beyond `i64::MAX` saturates).
pub fn quadratic_lambda(d: usize) -> KnownLambda {
    let d = i128::try_from(d)
        .unwrap_or(i128::MAX)
        .min(i128::from(i64::MAX));
    KnownLambda {
        lambda: Rational::from_wide(d, 2).unwrap_or(Rational::from_int(i64::MAX)),
        multiplicity: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rational(num: i64, den: i64) -> Rational {
        Rational::new(num, den).unwrap()
    }

    fn known(num: i64, den: i64, multiplicity: u32) -> KnownLambda {
        KnownLambda {
            lambda: rational(num, den),
            multiplicity,
        }
    }

    #[test]
    fn rational_reduces_normalizes_sign_and_displays() {
        let half = rational(-3, -6);
        assert_eq!((half.num(), half.den()), (1, 2));
        assert_eq!(rational(4, -8), rational(-1, 2));
        assert_eq!(rational(0, -5), Rational::ZERO);
        assert_eq!(rational(0, -5).den(), 1);
        assert_eq!(rational(7, 2).to_string(), "7/2");
        assert_eq!(rational(8, 2).to_string(), "4");
        assert_eq!(rational(-7, 2).to_string(), "-7/2");
        assert_eq!(Rational::from_int(3).to_f64(), 3.0);
        assert_eq!(rational(7, 2).to_f64(), 3.5);
    }

    #[test]
    fn rational_arithmetic_and_order_are_exact() {
        let (a, b) = (rational(1, 3), rational(1, 6));
        assert_eq!(a + b, rational(1, 2));
        assert_eq!(a - b, rational(1, 6));
        assert_eq!(a * b, rational(1, 18));
        assert_eq!(a / b, Rational::from_int(2));
        assert!(b < a && rational(-1, 2) < b);
        assert_eq!(rational(2, 4).cmp(&rational(1, 2)), Ordering::Equal);
        assert_eq!(a.checked_div(Rational::ZERO), None);
        assert_eq!(
            Rational::from_int(i64::MAX).checked_add(Rational::ONE),
            None
        );
        assert_eq!(
            Rational::from_int(i64::MIN).checked_mul(Rational::from_int(-1)),
            None
        );
    }

    #[test]
    fn rational_with_zero_denominator_is_an_error() {
        assert!(matches!(
            Rational::new(1, 0),
            Err(Error::InvalidShape { .. })
        ));
    }

    #[test]
    fn reduced_rank_regression_worked_values() {
        assert_eq!(reduced_rank_regression(3, 3, 3, 1).unwrap(), known(4, 1, 1));
        assert_eq!(reduced_rank_regression(3, 3, 3, 0).unwrap(), known(7, 2, 2));
        assert_eq!(reduced_rank_regression(4, 3, 8, 0).unwrap(), known(6, 1, 1));
        // M + H < N + r mirrored: N + H < M + r.
        assert_eq!(reduced_rank_regression(8, 3, 4, 0).unwrap(), known(6, 1, 1));
        // H ≥ M + N: the regular count M N / 2.
        assert_eq!(reduced_rank_regression(2, 5, 2, 0).unwrap(), known(2, 1, 1));
    }

    #[test]
    fn reduced_rank_regression_full_rank_is_regular() {
        // With r = H = min width the map is locally a regular parametrization of rank-H matrices:
        // dimension H (M + N − H), λ = half of it.
        for (m, h, n) in [(3, 2, 4), (5, 1, 5), (2, 2, 2)] {
            let expected = (h * (m + n - h)) as i64;
            assert_eq!(
                reduced_rank_regression(m, h, n, h).unwrap(),
                known(expected, 2, 1)
            );
        }
    }

    #[test]
    fn reduced_rank_regression_rejects_bad_shapes() {
        for (m, h, n, r) in [
            (0, 1, 1, 0),
            (1, 0, 1, 0),
            (1, 1, 0, 0),
            (3, 2, 3, 3),
            (1, 3, 3, 2),
            (3, 3, 1, 2),
        ] {
            assert!(
                matches!(
                    reduced_rank_regression(m, h, n, r),
                    Err(Error::InvalidShape { .. })
                ),
                "({m}, {h}, {n}, {r}) should be rejected"
            );
        }
    }

    #[test]
    fn deep_linear_worked_values() {
        assert_eq!(
            deep_linear(&[3, 3, 3, 3], 1).unwrap().lambda,
            rational(4, 1)
        );
        assert_eq!(
            deep_linear(&[2, 2, 2, 2], 1).unwrap().lambda,
            rational(2, 1)
        );
        assert_eq!(
            deep_linear(&[10, 20, 20, 10], 5).unwrap().lambda,
            rational(50, 1)
        );
        assert_eq!(
            deep_linear(&[1, 1, 1, 1], 0).unwrap().lambda,
            rational(1, 2)
        );
    }

    #[test]
    fn deep_linear_multiplicity_is_aoyagis_order() {
        // Widths [1; k] at rank 0: K = (w_1 ⋯ w_{k−1})², the normal crossing with k − 1 factors.
        for k in 3..=8 {
            let widths = vec![1; k];
            let exponents = vec![2; k - 1];
            assert_eq!(
                deep_linear(&widths, 0).unwrap(),
                normal_crossing(&exponents).unwrap(),
                "widths {widths:?}"
            );
        }
        // θ = a(ℓ − a) + 1 beyond normal crossings: M = [2; 5], ℓ = 4, S = 10, a = 2 → 5;
        // M = [2; 6], ℓ = 5, S = 12, a = 2 → 7; M = [4, 6, 8, 8], ℓ = 3, S = 26, a = 2 → 3;
        // M = [2; 4], ℓ = 3, S = 8, a = 2 → 3; M = [1, 1, 2, 2, 2] (Σ = first three), ℓ = 2, a = 1 → 2.
        assert_eq!(deep_linear(&[4, 4, 4, 4, 4], 2).unwrap(), known(15, 2, 5));
        assert_eq!(deep_linear(&[3; 6], 1).unwrap().multiplicity, 7);
        assert_eq!(deep_linear(&[8, 6, 8, 4], 0).unwrap(), known(23, 2, 3));
        assert_eq!(deep_linear(&[2, 2, 2, 2], 0).unwrap().multiplicity, 3);
        assert_eq!(deep_linear(&[2, 3, 2, 3, 2, 3], 1).unwrap(), known(5, 2, 2));
        // a = ℓ: multiplicity 1 (M = [1, 1, 2, 2]: Σ = all four, ℓ = 3, S = 6, a = 3).
        assert_eq!(deep_linear(&[3, 2, 3, 2], 1).unwrap().multiplicity, 1);
    }

    #[test]
    fn deep_linear_with_two_widths_is_regular() {
        for (input, output) in [(1, 1), (3, 5), (4, 2)] {
            for rank in 0..=input.min(output) {
                let expected = (input * output) as i64;
                assert_eq!(
                    deep_linear(&[input, output], rank).unwrap(),
                    known(expected, 2, 1)
                );
            }
        }
    }

    #[test]
    fn deep_linear_at_full_rank_with_zero_deficits_is_the_rank_term() {
        // All M_j = 0, so S = 0: λ = (−r² + r(H_1 + H_{L+1}))/2 with m = 1, no division by zero.
        assert_eq!(deep_linear(&[2, 2, 2, 2], 2).unwrap(), known(4, 2, 1));
        assert_eq!(deep_linear(&[1, 1, 1], 1).unwrap(), known(1, 2, 1));
        assert_eq!(reduced_rank_regression(1, 1, 1, 1).unwrap(), known(1, 2, 1));
        assert_eq!(
            deep_linear(&[3, 3, 3], 3).unwrap(),
            reduced_rank_regression(3, 3, 3, 3).unwrap()
        );
    }

    #[test]
    fn deep_linear_with_one_hidden_layer_matches_reduced_rank_regression() {
        for m in 1..=7 {
            for h in 1..=7 {
                for n in 1..=7 {
                    for r in 0..=m.min(h).min(n) {
                        assert_eq!(
                            deep_linear(&[m, h, n], r).unwrap(),
                            reduced_rank_regression(m, h, n, r).unwrap(),
                            "(M, H, N, r) = ({m}, {h}, {n}, {r})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn deep_linear_rejects_bad_shapes() {
        for (widths, rank) in [
            (&[3][..], 0),
            (&[][..], 0),
            (&[3, 0, 3][..], 0),
            (&[3, 2, 3][..], 3),
        ] {
            assert!(
                matches!(deep_linear(widths, rank), Err(Error::InvalidShape { .. })),
                "{widths:?} with rank {rank} should be rejected"
            );
        }
    }

    #[test]
    fn normal_crossing_worked_values() {
        assert_eq!(normal_crossing(&[2]).unwrap(), known(1, 2, 1));
        assert_eq!(normal_crossing(&[4]).unwrap(), known(1, 4, 1));
        assert_eq!(normal_crossing(&[2, 2]).unwrap(), known(1, 2, 2));
        assert_eq!(normal_crossing(&[2, 4]).unwrap(), known(1, 4, 1));
        assert_eq!(normal_crossing(&[4, 4]).unwrap(), known(1, 4, 2));
        assert_eq!(normal_crossing(&[2, 2, 2]).unwrap(), known(1, 2, 3));
        assert_eq!(normal_crossing(&[0, 2, 0]).unwrap(), known(1, 2, 1));
    }

    #[test]
    fn normal_crossing_rejects_odd_or_all_zero_exponents() {
        for exponents in [&[3][..], &[2, 1][..], &[0, 0][..], &[][..]] {
            assert!(
                matches!(normal_crossing(exponents), Err(Error::InvalidShape { .. })),
                "{exponents:?} should be rejected"
            );
        }
    }

    #[test]
    fn sum_over_disjoint_adds_lambdas_and_extra_multiplicities() {
        let parts = [known(1, 2, 2), known(1, 4, 1), known(1, 2, 3)];
        assert_eq!(sum_over_disjoint(&parts), known(5, 4, 4));
        assert_eq!(sum_over_disjoint(&[]), known(0, 1, 1));
    }

    #[test]
    fn potential_worked_values() {
        assert_eq!(
            potential(&[vec![2, 0], vec![0, 4]]).unwrap(),
            Some(known(3, 4, 1))
        );
        assert_eq!(potential(&[vec![2, 2]]).unwrap(), Some(known(1, 2, 2)));
        assert_eq!(
            potential(&[vec![2, 0, 0], vec![0, 2, 0], vec![0, 0, 2]]).unwrap(),
            Some(known(3, 2, 1))
        );
        assert_eq!(
            potential(&[vec![2, 2, 0], vec![0, 0, 2]]).unwrap(),
            Some(known(1, 1, 2))
        );
    }

    #[test]
    fn potential_with_overlapping_supports_is_unknown() {
        assert_eq!(potential(&[vec![2, 2], vec![2, 0]]).unwrap(), None);
        assert_eq!(potential(&[vec![4, 0], vec![2, 2]]).unwrap(), None);
    }

    #[test]
    fn potential_rejects_bad_monomials() {
        let bad: [&[Vec<u32>]; 5] = [
            &[],
            &[vec![]],
            &[vec![2], vec![2, 0]],
            &[vec![3, 0]],
            &[vec![2, 0], vec![0, 0]],
        ];
        for monomials in bad {
            assert!(
                matches!(potential(monomials), Err(Error::InvalidShape { .. })),
                "{monomials:?} should be rejected"
            );
        }
    }

    #[test]
    fn quadratic_lambda_is_half_the_dimension() {
        assert_eq!(quadratic_lambda(3), known(3, 2, 1));
        assert_eq!(quadratic_lambda(0), known(0, 1, 1));
        assert_eq!(quadratic_lambda(10), known(5, 1, 1));
    }
}
