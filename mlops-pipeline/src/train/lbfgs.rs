//! A limited-memory BFGS minimiser that follows scipy's `L-BFGS-B` (v3.0 of Zhu, Byrd, Lu and
//! Nocedal, as shipped in scipy 1.15) for problems without bounds.
//!
//! Without bounds, L-BFGS-B reduces to classic L-BFGS: the search direction is `-H·g` with the
//! compact limited-memory inverse Hessian (initial scaling `H₀ = (sᵀy / yᵀy)·I` from the newest
//! pair, identity while the memory is empty), and the step comes from the Moré–Thuente line search
//! (MINPACK-2 `dcsrch`/`dcstep`) with `ftol = 1e-3`, `gtol = 0.9`, `xtol = 0.1`. The first
//! iteration tries the step `1/‖d‖₂`, later ones the unit step. What scipy does, this does:
//!
//! * stop when `max_i |g_i| <= gtol` (the projected gradient's max-norm; with no bounds it is the
//!   gradient's), checked at the start and after every iteration;
//! * stop when `(f_old - f) <= ftol · max(|f_old|, |f|, 1)` (scipy's `factr · eps`);
//! * skip a correction pair when `sᵀy <= eps · (-gᵀs)` (not enough curvature);
//! * when a line search fails (an uphill direction or more than `max_linesearch` evaluations) go
//!   back to the previous iterate, forget the memory and retry with `-g`; when the memory was
//!   already empty, stop with [`Termination::LineSearchFailed`].
//!
//! One difference from scipy is deliberate: when the iterate that reaches `max_iter` also
//! satisfies a convergence test, it is reported as converged (scipy reports the iteration limit;
//! the returned point is the same).

use crate::error::{Error, Result};

/// Sufficient-decrease constant of the line search (`ftol` of `dcsrch` in L-BFGS-B).
const LS_FTOL: f64 = 1e-3;
/// Curvature constant of the line search (`gtol` of `dcsrch` in L-BFGS-B).
const LS_GTOL: f64 = 0.9;
/// Relative width at which the line search gives up refining (`xtol` of `dcsrch`).
const LS_XTOL: f64 = 0.1;
/// Largest step the line search may take without bounds (`stpmx` of `lnsrlb`).
const LS_STPMAX: f64 = 1e10;

/// Options of [`minimize`]; the defaults are scipy's for `method="L-BFGS-B"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsOptions {
    /// Number of correction pairs kept (`maxcor`, default 10).
    pub memory: usize,
    /// Most iterations (`maxiter`, default 15000).
    pub max_iter: usize,
    /// Most objective evaluations before stopping at the end of an iteration (`maxfun`,
    /// default 15000).
    pub max_fun: usize,
    /// Stop when the gradient's max-norm is at most this (`gtol`, default 1e-5).
    pub gtol: f64,
    /// Stop when the relative reduction of the objective is at most this (`ftol`, default
    /// `1e7 · f64::EPSILON`, scipy's `factr = 1e7`).
    pub ftol: f64,
    /// Most evaluations in one line search (`maxls`, default 20).
    pub max_linesearch: usize,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        Self {
            memory: 10,
            max_iter: 15000,
            max_fun: 15000,
            gtol: 1e-5,
            ftol: 1e7 * f64::EPSILON,
            max_linesearch: 20,
        }
    }
}

/// Why [`minimize`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Termination {
    /// The gradient's max-norm fell to `gtol` or below (converged).
    GradientTolerance,
    /// The relative reduction of the objective fell to `ftol` or below (converged).
    FunctionTolerance,
    /// `max_iter` iterations were done.
    MaxIter,
    /// More than `max_fun` evaluations were done.
    MaxFun,
    /// A line search failed with an empty memory (scipy's `ABNORMAL_TERMINATION_IN_LNSRCH`);
    /// the result is the last accepted iterate.
    LineSearchFailed,
}

/// The outcome of [`minimize`].
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsResult {
    /// The last accepted iterate.
    pub x: Vec<f64>,
    /// The objective at `x`.
    pub f: f64,
    /// The gradient at `x`.
    pub grad: Vec<f64>,
    /// Iterations done (scipy's `nit`).
    pub n_iter: usize,
    /// Objective evaluations done (scipy's `nfev`).
    pub n_fev: usize,
    /// Why it stopped.
    pub termination: Termination,
}

impl LbfgsResult {
    /// Whether a convergence test (gradient or function tolerance) stopped the run.
    pub fn is_converged(&self) -> bool {
        matches!(
            self.termination,
            Termination::GradientTolerance | Termination::FunctionTolerance
        )
    }
}

/// Minimises `fg` from `x0`.
///
/// `fg(x, grad)` returns the objective at `x` and writes its gradient into `grad` (same length as
/// `x`).
///
/// # Errors
/// [`Error::InvalidInput`] when `x0` is empty or not finite, or an option is out of range
/// (`memory` or `max_linesearch` zero, `gtol`/`ftol` negative or NaN); [`Error::Train`] when the
/// objective or its gradient is not finite at a point the minimiser evaluates.
pub fn minimize<F>(mut fg: F, x0: &[f64], opts: &LbfgsOptions) -> Result<LbfgsResult>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    validate(x0, opts)?;
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut f = eval(&mut fg, &x, &mut g)?;
    let mut n_fev = 1usize;
    let finish = |x, f, grad, n_iter, n_fev, termination| LbfgsResult {
        x,
        f,
        grad,
        n_iter,
        n_fev,
        termination,
    };
    if max_abs(&g) <= opts.gtol {
        return Ok(finish(x, f, g, 0, n_fev, Termination::GradientTolerance));
    }

    let mut memory = Memory::new(opts.memory, n);
    let mut iter = 0usize;
    let mut d = vec![0.0; n];
    let mut x_prev = vec![0.0; n];
    let mut g_prev = vec![0.0; n];
    loop {
        memory.direction(&g, &mut d);
        x_prev.copy_from_slice(&x);
        g_prev.copy_from_slice(&g);
        let f_prev = f;
        let gd0 = dot(&g, &d);
        let outcome = if gd0 < 0.0 {
            let dnorm = dot(&d, &d).sqrt();
            let stp0 = if iter == 0 {
                (1.0 / dnorm).min(LS_STPMAX)
            } else {
                1.0
            };
            line_search(
                &mut fg,
                &x_prev,
                &d,
                f_prev,
                gd0,
                stp0,
                opts.max_linesearch,
                &mut x,
                &mut g,
                &mut n_fev,
            )?
        } else {
            None
        };
        let Some((f_new, stp, gd)) = outcome else {
            // Back to the last accepted iterate (lnsrlb's restore), then restart or give up.
            x.copy_from_slice(&x_prev);
            g.copy_from_slice(&g_prev);
            f = f_prev;
            if memory.is_empty() {
                return Ok(finish(x, f, g, iter, n_fev, Termination::LineSearchFailed));
            }
            memory.clear();
            continue;
        };
        f = f_new;
        iter += 1;

        if max_abs(&g) <= opts.gtol {
            return Ok(finish(x, f, g, iter, n_fev, Termination::GradientTolerance));
        }
        let scale = f_prev.abs().max(f.abs()).max(1.0);
        if f_prev - f <= opts.ftol * scale {
            return Ok(finish(x, f, g, iter, n_fev, Termination::FunctionTolerance));
        }
        if iter >= opts.max_iter {
            return Ok(finish(x, f, g, iter, n_fev, Termination::MaxIter));
        }
        if n_fev > opts.max_fun {
            return Ok(finish(x, f, g, iter, n_fev, Termination::MaxFun));
        }

        // Correction pair s = stp·d, y = g - g_prev, as mainlb computes it.
        let (sy, threshold) = if stp == 1.0 {
            (gd - gd0, -gd0)
        } else {
            ((gd - gd0) * stp, -gd0 * stp)
        };
        if sy <= f64::EPSILON * threshold {
            continue;
        }
        memory.push(&d, stp, &g, &g_prev, sy);
    }
}

fn validate(x0: &[f64], opts: &LbfgsOptions) -> Result<()> {
    if x0.is_empty() {
        return Err(Error::invalid("x0", "the starting point is empty"));
    }
    if let Some(i) = x0.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            "x0",
            format!("element {i} is not finite ({})", x0[i]),
        ));
    }
    if opts.memory == 0 {
        return Err(Error::invalid("memory", "must be at least 1"));
    }
    if opts.max_linesearch == 0 {
        return Err(Error::invalid("max_linesearch", "must be at least 1"));
    }
    if opts.gtol.is_nan() || opts.gtol < 0.0 {
        return Err(Error::invalid(
            "gtol",
            format!("must be >= 0, got {}", opts.gtol),
        ));
    }
    if opts.ftol.is_nan() || opts.ftol < 0.0 {
        return Err(Error::invalid(
            "ftol",
            format!("must be >= 0, got {}", opts.ftol),
        ));
    }
    Ok(())
}

fn eval<F>(fg: &mut F, x: &[f64], g: &mut [f64]) -> Result<f64>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let f = fg(x, g);
    if !f.is_finite() {
        return Err(Error::Train {
            reason: format!("the objective is not finite ({f})"),
        });
    }
    if let Some(i) = g.iter().position(|v| !v.is_finite()) {
        return Err(Error::Train {
            reason: format!("gradient element {i} is not finite ({})", g[i]),
        });
    }
    Ok(f)
}

/// Runs the Moré–Thuente search along `d` from `x0`; on success leaves the accepted point in
/// `x`/`g` and returns `(f, stp, gᵀd)`; `None` when it failed (too many evaluations or an
/// argument error in the search).
#[allow(clippy::too_many_arguments)]
fn line_search<F>(
    fg: &mut F,
    x0: &[f64],
    d: &[f64],
    f0: f64,
    gd0: f64,
    stp0: f64,
    max_ls: usize,
    x: &mut [f64],
    g: &mut [f64],
    n_fev: &mut usize,
) -> Result<Option<(f64, f64, f64)>>
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let mut search = Dcsrch::new(LS_FTOL, LS_GTOL, LS_XTOL, 0.0, LS_STPMAX);
    let mut stp = stp0;
    let mut task = search.start(f0, gd0, &mut stp);
    let mut n_eval = 0usize;
    let mut f = f0;
    let mut gd = gd0;
    loop {
        match task {
            Task::Fg => {
                // lnsrlb: iback = ifun - 1 trials done before this one; give up at max_ls.
                if n_eval >= max_ls {
                    return Ok(None);
                }
                n_eval += 1;
                for ((xi, &x0i), &di) in x.iter_mut().zip(x0).zip(d) {
                    *xi = stp * di + x0i;
                }
                f = eval(fg, x, g)?;
                *n_fev += 1;
                gd = dot(g, d);
                task = search.step(f, gd, &mut stp);
            }
            Task::Converged | Task::Warning => return Ok(Some((f, stp, gd))),
            Task::Error => return Ok(None),
        }
    }
}

/// What the line search asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    /// Evaluate the objective and its derivative at the new `stp`.
    Fg,
    /// Sufficient decrease and curvature hold at `stp`.
    Converged,
    /// No further progress possible (rounding, `xtol`, a step bound); `stp` is the best found.
    Warning,
    /// The arguments were inconsistent.
    Error,
}

/// The state of MINPACK-2's `dcsrch` between calls.
#[derive(Debug, Clone)]
struct Dcsrch {
    ftol: f64,
    gtol: f64,
    xtol: f64,
    stpmin: f64,
    stpmax: f64,
    brackt: bool,
    stage: u8,
    ginit: f64,
    gtest: f64,
    gx: f64,
    gy: f64,
    finit: f64,
    fx: f64,
    fy: f64,
    stx: f64,
    sty: f64,
    stmin: f64,
    stmax: f64,
    width: f64,
    width1: f64,
}

impl Dcsrch {
    fn new(ftol: f64, gtol: f64, xtol: f64, stpmin: f64, stpmax: f64) -> Self {
        Self {
            ftol,
            gtol,
            xtol,
            stpmin,
            stpmax,
            brackt: false,
            stage: 1,
            ginit: 0.0,
            gtest: 0.0,
            gx: 0.0,
            gy: 0.0,
            finit: 0.0,
            fx: 0.0,
            fy: 0.0,
            stx: 0.0,
            sty: 0.0,
            stmin: 0.0,
            stmax: 0.0,
            width: 0.0,
            width1: 0.0,
        }
    }

    /// The `task = 'START'` call: `f`, `g` at step 0, `stp` the first trial.
    fn start(&mut self, f: f64, g: f64, stp: &mut f64) -> Task {
        if *stp < self.stpmin || *stp > self.stpmax || g >= 0.0 || self.stpmax < self.stpmin {
            return Task::Error;
        }
        self.brackt = false;
        self.stage = 1;
        self.finit = f;
        self.ginit = g;
        self.gtest = self.ftol * g;
        self.width = self.stpmax - self.stpmin;
        self.width1 = self.width / 0.5;
        self.stx = 0.0;
        self.fx = f;
        self.gx = g;
        self.sty = 0.0;
        self.fy = f;
        self.gy = g;
        self.stmin = 0.0;
        self.stmax = *stp + 4.0 * *stp;
        Task::Fg
    }

    /// A later call with `f`, `g` evaluated at `stp`; may change `stp`.
    fn step(&mut self, f: f64, g: f64, stp: &mut f64) -> Task {
        let ftest = self.finit + *stp * self.gtest;
        if self.stage == 1 && f <= ftest && g >= 0.0 {
            self.stage = 2;
        }
        // Warnings first, then convergence (which wins), as in dcsrch.
        let mut task = None;
        if self.brackt && (*stp <= self.stmin || *stp >= self.stmax) {
            task = Some(Task::Warning);
        }
        if self.brackt && self.stmax - self.stmin <= self.xtol * self.stmax {
            task = Some(Task::Warning);
        }
        if *stp == self.stpmax && f <= ftest && g <= self.gtest {
            task = Some(Task::Warning);
        }
        if *stp == self.stpmin && (f > ftest || g >= self.gtest) {
            task = Some(Task::Warning);
        }
        if f <= ftest && g.abs() <= self.gtol * (-self.ginit) {
            task = Some(Task::Converged);
        }
        if let Some(t) = task {
            return t;
        }

        if self.stage == 1 && f <= self.fx && f > ftest {
            // The modified function psi(stp) = f(stp) - f(0) - ftol·stp·f'(0).
            let gtest = self.gtest;
            let mut fxm = self.fx - self.stx * gtest;
            let mut fym = self.fy - self.sty * gtest;
            let mut gxm = self.gx - gtest;
            let mut gym = self.gy - gtest;
            let fm = f - *stp * gtest;
            let gm = g - gtest;
            dcstep(
                &mut self.stx,
                &mut fxm,
                &mut gxm,
                &mut self.sty,
                &mut fym,
                &mut gym,
                stp,
                fm,
                gm,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
            self.fx = fxm + self.stx * gtest;
            self.fy = fym + self.sty * gtest;
            self.gx = gxm + gtest;
            self.gy = gym + gtest;
        } else {
            dcstep(
                &mut self.stx,
                &mut self.fx,
                &mut self.gx,
                &mut self.sty,
                &mut self.fy,
                &mut self.gy,
                stp,
                f,
                g,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
        }

        if self.brackt {
            if (self.sty - self.stx).abs() >= 0.66 * self.width1 {
                *stp = self.stx + 0.5 * (self.sty - self.stx);
            }
            self.width1 = self.width;
            self.width = (self.sty - self.stx).abs();
            self.stmin = self.stx.min(self.sty);
            self.stmax = self.stx.max(self.sty);
        } else {
            self.stmin = *stp + 1.1 * (*stp - self.stx);
            self.stmax = *stp + 4.0 * (*stp - self.stx);
        }
        *stp = stp.max(self.stpmin).min(self.stpmax);
        if self.brackt
            && (*stp <= self.stmin
                || *stp >= self.stmax
                || self.stmax - self.stmin <= self.xtol * self.stmax)
        {
            *stp = self.stx;
        }
        Task::Fg
    }
}

/// MINPACK-2's `dcstep`: a safeguarded cubic/quadratic step and the update of the interval
/// `[stx, sty]` that brackets a step satisfying the search conditions.
#[allow(clippy::too_many_arguments)]
fn dcstep(
    stx: &mut f64,
    fx: &mut f64,
    dx: &mut f64,
    sty: &mut f64,
    fy: &mut f64,
    dy: &mut f64,
    stp: &mut f64,
    fp: f64,
    dp: f64,
    brackt: &mut bool,
    stpmin: f64,
    stpmax: f64,
) {
    let sgnd = dp * (*dx / dx.abs());
    let stpf;
    if fp > *fx {
        // A higher function value: the minimum is bracketed.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp < *stx {
            gamma = -gamma;
        }
        let p = (gamma - *dx) + theta;
        let q = ((gamma - *dx) + gamma) + dp;
        let r = p / q;
        let stpc = *stx + r * (*stp - *stx);
        let stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = if (stpc - *stx).abs() < (stpq - *stx).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / 2.0
        };
        *brackt = true;
    } else if sgnd < 0.0 {
        // Lower value, derivatives of opposite sign: bracketed.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dx;
        let r = p / q;
        let stpc = *stp + r * (*stx - *stp);
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = if (stpc - *stp).abs() > (stpq - *stp).abs() {
            stpc
        } else {
            stpq
        };
        *brackt = true;
    } else if dp.abs() < dx.abs() {
        // Lower value, same sign, the derivative's magnitude decreases.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * 0f64.max((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (*dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            *stp + r * (*stx - *stp)
        } else if *stp > *stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if *brackt {
            let mut cand = if (stpc - *stp).abs() < (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            let limit = *stp + 0.66 * (*sty - *stp);
            cand = if *stp > *stx {
                limit.min(cand)
            } else {
                limit.max(cand)
            };
            stpf = cand;
        } else {
            let cand = if (stpc - *stp).abs() > (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = stpmax.min(cand).max(stpmin);
        }
    } else if *brackt {
        // Lower value, same sign, the derivative does not decrease: cubic step to sty.
        let theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
        let s = theta.abs().max(dy.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dy / s) * (dp / s)).sqrt();
        if *stp > *sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dy;
        let r = p / q;
        stpf = *stp + r * (*sty - *stp);
    } else if *stp > *stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }

    if fp > *fx {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if sgnd < 0.0 {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

/// The correction pairs `(s, y, 1/sᵀy)`, oldest first, in a ring.
#[derive(Debug)]
struct Memory {
    cap: usize,
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    rho: Vec<f64>,
    /// Index of the oldest pair in the ring.
    head: usize,
    len: usize,
    /// `yᵀy / sᵀy` of the newest pair (`theta` of L-BFGS-B); 1 when empty.
    theta: f64,
    alpha: Vec<f64>,
}

impl Memory {
    fn new(cap: usize, n: usize) -> Self {
        Self {
            cap,
            s: vec![vec![0.0; n]; cap],
            y: vec![vec![0.0; n]; cap],
            rho: vec![0.0; cap],
            head: 0,
            len: 0,
            theta: 1.0,
            alpha: vec![0.0; cap],
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.theta = 1.0;
    }

    /// Stores `s = stp·d`, `y = g - g_prev` with `sᵀy = sy`.
    fn push(&mut self, d: &[f64], stp: f64, g: &[f64], g_prev: &[f64], sy: f64) {
        let slot = if self.len < self.cap {
            let slot = (self.head + self.len) % self.cap;
            self.len += 1;
            slot
        } else {
            let slot = self.head;
            self.head = (self.head + 1) % self.cap;
            slot
        };
        let s = &mut self.s[slot];
        for (si, &di) in s.iter_mut().zip(d) {
            *si = if stp == 1.0 { di } else { stp * di };
        }
        let y = &mut self.y[slot];
        for ((yi, &gi), &gp) in y.iter_mut().zip(g).zip(g_prev) {
            *yi = gi - gp;
        }
        let yy = dot(y, y);
        self.rho[slot] = 1.0 / sy;
        self.theta = yy / sy;
    }

    /// `d = -H·g` by the two-loop recursion with `H₀ = I/theta`.
    fn direction(&mut self, g: &[f64], d: &mut [f64]) {
        for (di, &gi) in d.iter_mut().zip(g) {
            *di = gi;
        }
        for k in (0..self.len).rev() {
            let slot = (self.head + k) % self.cap;
            let a = self.rho[slot] * dot(&self.s[slot], d);
            self.alpha[k] = a;
            for (di, &yi) in d.iter_mut().zip(&self.y[slot]) {
                *di -= a * yi;
            }
        }
        if self.len > 0 {
            let h0 = 1.0 / self.theta;
            for di in d.iter_mut() {
                *di *= h0;
            }
        }
        for k in 0..self.len {
            let slot = (self.head + k) % self.cap;
            let b = self.rho[slot] * dot(&self.y[slot], d);
            let a = self.alpha[k];
            for (di, &si) in d.iter_mut().zip(&self.s[slot]) {
                *di += (a - b) * si;
            }
        }
        for di in d.iter_mut() {
            *di = -*di;
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn minimises_rosenbrock() {
        let opts = LbfgsOptions {
            gtol: 1e-8,
            ftol: 0.0,
            ..LbfgsOptions::default()
        };
        let r = minimize(rosenbrock, &[-1.2, 1.0], &opts).unwrap();
        assert!(r.is_converged(), "{r:?}");
        assert!(
            (r.x[0] - 1.0).abs() < 1e-6 && (r.x[1] - 1.0).abs() < 1e-6,
            "{r:?}"
        );
    }

    #[test]
    fn quadratic_converges_with_small_gradient() {
        // f = 0.5 Σ (i+1) x_i², minimum at 0.
        let f = |x: &[f64], g: &mut [f64]| {
            let mut s = 0.0;
            for (i, (xi, gi)) in x.iter().zip(g.iter_mut()).enumerate() {
                let c = (i + 1) as f64;
                *gi = c * xi;
                s += 0.5 * c * xi * xi;
            }
            s
        };
        let r = minimize(f, &[1.0; 20], &LbfgsOptions::default()).unwrap();
        assert!(r.is_converged());
        assert!(
            r.grad.iter().all(|g| g.abs() <= 1e-5)
                || r.termination == Termination::FunctionTolerance
        );
        assert!(r.x.iter().all(|x| x.abs() < 1e-4), "{:?}", r.x);
    }

    #[test]
    fn already_optimal_start_takes_no_iteration() {
        let r = minimize(rosenbrock, &[1.0, 1.0], &LbfgsOptions::default()).unwrap();
        assert_eq!(r.n_iter, 0);
        assert_eq!(r.n_fev, 1);
        assert_eq!(r.termination, Termination::GradientTolerance);
    }

    #[test]
    fn max_iter_stops() {
        let opts = LbfgsOptions {
            max_iter: 3,
            gtol: 0.0,
            ftol: 0.0,
            ..LbfgsOptions::default()
        };
        let r = minimize(rosenbrock, &[-1.2, 1.0], &opts).unwrap();
        assert_eq!(r.n_iter, 3);
        assert_eq!(r.termination, Termination::MaxIter);
        assert!(!r.is_converged());
    }

    #[test]
    fn unbounded_below_does_not_panic() {
        // f = -x: the line search runs to its step limit; the result must be a typed outcome.
        let f = |x: &[f64], g: &mut [f64]| {
            g[0] = -1.0;
            -x[0]
        };
        let opts = LbfgsOptions {
            max_iter: 5,
            ..LbfgsOptions::default()
        };
        match minimize(f, &[0.0], &opts) {
            Ok(r) => assert!(!r.is_converged() || r.termination == Termination::FunctionTolerance),
            Err(e) => assert!(matches!(e, Error::Train { .. }), "{e}"),
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let o = LbfgsOptions::default();
        assert!(matches!(
            minimize(rosenbrock, &[], &o),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            minimize(rosenbrock, &[f64::NAN, 1.0], &o),
            Err(Error::InvalidInput { .. })
        ));
        let bad = LbfgsOptions {
            memory: 0,
            ..o.clone()
        };
        assert!(matches!(
            minimize(rosenbrock, &[0.0, 0.0], &bad),
            Err(Error::InvalidInput { .. })
        ));
        let bad = LbfgsOptions {
            gtol: f64::NAN,
            ..o.clone()
        };
        assert!(matches!(
            minimize(rosenbrock, &[0.0, 0.0], &bad),
            Err(Error::InvalidInput { .. })
        ));
        let nan = |_: &[f64], g: &mut [f64]| {
            g[0] = 0.0;
            f64::NAN
        };
        assert!(matches!(
            minimize(nan, &[0.0], &o),
            Err(Error::Train { .. })
        ));
    }
}
