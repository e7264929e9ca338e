//! Customer lifetime value: the BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005,
//! "Counting Your Customers the Easy Way") and the Gamma-Gamma model of spend per transaction
//! (Fader, Hardie & Lee 2005, "RFM and CLV"), fitted by maximum likelihood as the `lifetimes`
//! package does: Nelder-Mead over the logarithms of the parameters, so they stay positive.
//!
//! Inputs are the usual summary per customer: `frequency` (repeat purchases), `recency` (age at the
//! last purchase) and `T` (age now), in any one time unit, and for spend the mean value of the
//! repeat purchases.

use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use libm::lgamma;

/// One customer's purchase summary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Repeat purchases (purchases after the first), ≥ 0.
    pub frequency: f64,
    /// Time from the first to the last purchase (0 without repeats), ≤ `t`.
    pub recency: f64,
    /// Time from the first purchase to the end of the observation, > 0.
    pub t: f64,
    /// Mean value of the repeat purchases (used by Gamma-Gamma when `frequency` > 0).
    pub monetary: Option<f64>,
}

/// What a fit could not use: the first bad row (0-based) and why.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// A row breaks the model's assumptions.
    #[error("row {row}: {reason}")]
    BadRow {
        /// 0-based row.
        row: usize,
        /// Why.
        reason: String,
    },
    /// Too little data to fit.
    #[error("{0}")]
    TooLittle(String),
    /// The optimiser did not reach finite parameters.
    #[error("the fit did not converge: {0}")]
    NoConvergence(String),
}

/// BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma.
    pub alpha: f64,
    /// Dropout beta, a.
    pub a: f64,
    /// Dropout beta, b.
    pub b: f64,
    /// Log-likelihood of the data at these parameters.
    pub log_likelihood: f64,
}

/// Gamma-Gamma parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGamma {
    /// Shape of the spend gamma.
    pub p: f64,
    /// Shape of the gamma of the spend scale.
    pub q: f64,
    /// Scale of the gamma of the spend scale (the papers' γ).
    pub v: f64,
    /// Log-likelihood of the data at these parameters.
    pub log_likelihood: f64,
}

fn check(rows: &[Summary]) -> Result<(), FitError> {
    for (row, s) in rows.iter().enumerate() {
        let bad = |reason: &str| Err(FitError::BadRow { row, reason: reason.into() });
        if !(s.frequency.is_finite() && s.recency.is_finite() && s.t.is_finite()) {
            return bad("frequency, recency and T must be numbers");
        }
        if s.frequency < 0.0 || s.frequency.fract() != 0.0 {
            return bad("frequency must be a whole number ≥ 0");
        }
        if s.t <= 0.0 {
            return bad("T must be > 0");
        }
        if s.recency < 0.0 || s.recency > s.t {
            return bad("recency must be between 0 and T");
        }
        if s.frequency == 0.0 && s.recency != 0.0 {
            return bad("recency must be 0 without repeat purchases");
        }
        if let Some(m) = s.monetary
            && s.frequency > 0.0
            && !(m.is_finite() && m > 0.0)
        {
            return bad("monetary_value must be > 0 for customers with repeat purchases");
        }
    }
    Ok(())
}

/// The BG/NBD log-likelihood of one customer.
fn bgnbd_ll(r: f64, alpha: f64, a: f64, b: f64, s: &Summary) -> f64 {
    let x = s.frequency;
    let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
    let a2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
    let a3 = -(r + x) * (alpha + s.t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + s.recency).ln();
        let high = a3.max(a4);
        a1 + a2 + high + ((a3 - high).exp() + (a4 - high).exp()).ln()
    } else {
        a1 + a2 + a3
    }
}

/// The Gamma-Gamma log-likelihood of one customer with repeat purchases (mean spend `m`).
fn gamma_gamma_ll(p: f64, q: f64, v: f64, x: f64, m: f64) -> f64 {
    lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * v.ln() + (p * x - 1.0) * m.ln() + (p * x) * x.ln()
        - (p * x + q) * (x * m + v).ln()
}

/// A negative log-likelihood over log-parameters, for the optimiser.
struct Problem<'a, F: Fn(&[f64]) -> f64> {
    nll: &'a F,
}

impl<F: Fn(&[f64]) -> f64> CostFunction for Problem<'_, F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, log_params: &Self::Param) -> Result<f64, argmin::core::Error> {
        let params: Vec<f64> = log_params.iter().map(|p| p.exp()).collect();
        let value = (self.nll)(&params);
        // Outside the model's domain the likelihood is zero: a large cost keeps the simplex away.
        Ok(if value.is_finite() { value } else { f64::MAX / 4.0 })
    }
}

/// Minimises `nll` over positive parameters from `start`; returns the parameters and the minimum.
fn minimise(nll: impl Fn(&[f64]) -> f64, start: &[f64]) -> Result<(Vec<f64>, f64), FitError> {
    let n = start.len();
    let origin: Vec<f64> = start.iter().map(|s| s.ln()).collect();
    let mut simplex = vec![origin.clone()];
    for i in 0..n {
        let mut vertex = origin.clone();
        vertex[i] += 0.5;
        simplex.push(vertex);
    }
    let solver =
        NelderMead::new(simplex).with_sd_tolerance(1e-10).map_err(|e| FitError::NoConvergence(e.to_string()))?;
    let result = Executor::new(Problem { nll: &nll }, solver)
        .configure(|state| state.max_iters(20_000))
        .run()
        .map_err(|e| FitError::NoConvergence(e.to_string()))?;
    let best = result.state.best_param.ok_or_else(|| FitError::NoConvergence("no parameters".into()))?;
    let params: Vec<f64> = best.iter().map(|p| p.exp()).collect();
    let value = nll(&params);
    if !value.is_finite() || params.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return Err(FitError::NoConvergence(format!("parameters {params:?}, likelihood {value}")));
    }
    Ok((params, value))
}

/// Each row's position in a list of the distinct frequencies (the terms that depend only on the
/// frequency and the parameters are then computed once per distinct value, not per customer).
fn by_frequency(frequencies: impl Iterator<Item = f64>) -> (Vec<f64>, Vec<u32>) {
    let mut distinct: Vec<f64> = Vec::new();
    let mut at: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let index = frequencies
        .map(|x| {
            *at.entry(x.to_bits()).or_insert_with(|| {
                distinct.push(x);
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    (distinct, index)
}

/// Sums `term(i)` over `0..n` on every core.
fn parallel_sum(n: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    crate::parallel::over_slots(n, |range| range.map(&term).sum::<f64>()).into_iter().sum()
}

/// Fits BG/NBD by maximum likelihood.
pub fn fit_bgnbd(rows: &[Summary]) -> Result<BgNbd, FitError> {
    check(rows)?;
    if rows.iter().filter(|s| s.frequency > 0.0).count() < 2 {
        return Err(FitError::TooLittle("BG/NBD needs customers with repeat purchases".into()));
    }
    let (distinct, index) = by_frequency(rows.iter().map(|s| s.frequency));
    let n = rows.len() as f64;
    // The mean negative log-likelihood (as `lifetimes` minimises it), with the frequency-only terms
    // per distinct frequency.
    let nll = |p: &[f64]| {
        let (r, alpha, a, b) = (p[0], p[1], p[2], p[3]);
        let shared: Vec<(f64, f64)> = distinct
            .iter()
            .map(|&x| {
                let a12 = lgamma(r + x) - lgamma(r) + r * alpha.ln() + lgamma(a + b) + lgamma(b + x)
                    - lgamma(b)
                    - lgamma(a + b + x);
                let dropout = if x > 0.0 { a.ln() - (b + x - 1.0).ln() } else { f64::NEG_INFINITY };
                (a12, dropout)
            })
            .collect();
        let total = parallel_sum(rows.len(), |i| {
            let s = &rows[i];
            let (a12, dropout) = shared[index[i] as usize];
            let x = s.frequency;
            let a3 = -(r + x) * (alpha + s.t).ln();
            if x > 0.0 {
                let a4 = dropout - (r + x) * (alpha + s.recency).ln();
                let high = a3.max(a4);
                a12 + high + ((a3 - high).exp() + (a4 - high).exp()).ln()
            } else {
                a12 + a3
            }
        });
        -total / n
    };
    let (p, mean_nll) = minimise(nll, &[1.0, 1.0, 1.0, 1.0])?;
    // Summed row by row at the optimum (the optimiser's value agrees up to rounding; with extreme
    // parameters the lgamma terms cancel and the two drift apart in the last digits).
    let log_likelihood = rows.iter().map(|s| bgnbd_ll(p[0], p[1], p[2], p[3], s)).sum::<f64>();
    debug_assert!(
        (log_likelihood + mean_nll * n).abs() <= 1e-6 * log_likelihood.abs().max(n),
        "{log_likelihood} vs {}",
        -mean_nll * n
    );
    Ok(BgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3], log_likelihood })
}

/// Fits Gamma-Gamma by maximum likelihood on the customers with repeat purchases and a spend.
pub fn fit_gamma_gamma(rows: &[Summary]) -> Result<GammaGamma, FitError> {
    check(rows)?;
    let spenders: Vec<(f64, f64)> =
        rows.iter().filter(|s| s.frequency > 0.0).filter_map(|s| s.monetary.map(|m| (s.frequency, m))).collect();
    if spenders.len() < 2 {
        return Err(FitError::TooLittle("Gamma-Gamma needs customers with repeat purchases and a spend".into()));
    }
    let (distinct, index) = by_frequency(spenders.iter().map(|(x, _)| *x));
    let ln_m: Vec<f64> = spenders.iter().map(|(_, m)| m.ln()).collect();
    let n = spenders.len() as f64;
    let nll = |params: &[f64]| {
        let (p, q, v) = (params[0], params[1], params[2]);
        let shared: Vec<f64> = distinct
            .iter()
            .map(|&x| lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * v.ln() + (p * x) * x.ln())
            .collect();
        let total = parallel_sum(spenders.len(), |i| {
            let (x, m) = spenders[i];
            shared[index[i] as usize] + (p * x - 1.0) * ln_m[i] - (p * x + q) * (x * m + v).ln()
        });
        -total / n
    };
    let (p, _) = minimise(nll, &[1.0, 1.0, 1.0])?;
    let log_likelihood = spenders.iter().map(|(x, m)| gamma_gamma_ll(p[0], p[1], p[2], *x, *m)).sum::<f64>();
    Ok(GammaGamma { p: p[0], q: p[1], v: p[2], log_likelihood })
}

impl BgNbd {
    /// The probability that a customer with this history is still alive.
    pub fn p_alive(&self, s: &Summary) -> f64 {
        if s.frequency == 0.0 {
            return 1.0;
        }
        let x = s.frequency;
        let ratio = ((self.alpha + s.t) / (self.alpha + s.recency)).powf(self.r + x);
        1.0 / (1.0 + self.a / (self.b + x - 1.0) * ratio)
    }

    /// Expected purchases in the next `horizon` time units (Fader, Hardie & Lee 2005, eq. 10).
    pub fn expected_purchases(&self, s: &Summary, horizon: f64) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = s.frequency;
        let z = horizon / (alpha + s.t + horizon);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second =
            1.0 - ((alpha + s.t) / (alpha + s.t + horizon)).powf(r + x) * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let alive =
            if x > 0.0 { 1.0 + a / (b + x - 1.0) * ((alpha + s.t) / (alpha + s.recency)).powf(r + x) } else { 1.0 };
        first * second / alive
    }
}

impl GammaGamma {
    /// The expected mean spend of a customer's future transactions.
    pub fn expected_spend(&self, s: &Summary) -> f64 {
        let population = self.p * self.v / (self.q - 1.0);
        match s.monetary {
            Some(m) if s.frequency > 0.0 => {
                let x = s.frequency;
                let weight = (self.q - 1.0) / (self.p * x + self.q - 1.0);
                weight * population + (1.0 - weight) * m
            }
            _ => population,
        }
    }
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, by its power series (the
/// argument here is `horizon / (α + T + horizon)`, well inside the unit disc).
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for n in 0..100_000 {
        let n = f64::from(n);
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z.
        let z: f64 = 0.4;
        assert!((hyp2f1(1.0, 1.0, 2.0, z) - (-(1.0 - z).ln() / z)).abs() < 1e-12);
    }

    #[test]
    fn bad_rows_are_named() {
        let row = |frequency, recency, t| Summary { frequency, recency, t, monetary: None };
        let bad = fit_bgnbd(&[row(1.0, 5.0, 10.0), row(2.0, 11.0, 10.0)]);
        assert!(matches!(bad, Err(FitError::BadRow { row: 1, .. })));
        assert!(matches!(fit_bgnbd(&[row(0.0, 0.0, 10.0)]), Err(FitError::TooLittle(_))));
    }
}
