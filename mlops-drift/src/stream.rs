//! Streaming detectors.
//!
//! * [`WindowedMonitor`]: PSI of a sliding or tumbling window of incoming values
//!   against a [`NumericProfile`]'s bins. Each observation costs one bin lookup
//!   (`O(log B)` over the fixed bin count `B`) and `O(1)` arithmetic; the window
//!   is a ring buffer allocated once, so there is no per-observation allocation.
//! * [`Adwin`], [`PageHinkley`], [`Ddm`]: concept-drift detectors for error
//!   streams, with river's default parameters.

use std::collections::VecDeque;

use crate::binning::{Binning, DEFAULT_EPSILON};
use crate::error::{invalid, Result};
use crate::profile::NumericProfile;

/// Window behaviour of a [`WindowedMonitor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMode {
    /// The last `size` observations, re-evaluated on every observation once full.
    Sliding,
    /// Consecutive non-overlapping windows of `size`, evaluated when each fills.
    Tumbling,
}

/// Compares windows of a stream against a reference profile's bins by PSI.
#[derive(Debug, Clone)]
pub struct WindowedMonitor {
    binning: Binning,
    ref_p: Vec<f64>,
    counts: Vec<u64>,
    ring: Vec<u32>,
    head: usize,
    filled: usize,
    size: usize,
    mode: WindowMode,
    epsilon: f64,
    terms: Vec<f64>,
    psi: f64,
    since_refresh: usize,
    threshold: f64,
}

/// What [`WindowedMonitor::push`] reports when a window is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowResult {
    /// PSI of the window against the reference.
    pub psi: f64,
    /// `psi ≥ threshold`.
    pub drifted: bool,
}

impl WindowedMonitor {
    /// A monitor with window `size`, PSI `threshold` (0.2 is customary) and the
    /// default smoothing. Non-finite values go to an extra missing bin.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for `size == 0`; [`crate::Error::TooFewValues`] for an
    /// empty reference.
    pub fn new(
        profile: &NumericProfile,
        size: usize,
        mode: WindowMode,
        threshold: f64,
    ) -> Result<Self> {
        if size == 0 {
            return Err(invalid("window size", "must be at least 1"));
        }
        let mut rc = profile.bin_counts.clone();
        rc.push(profile.missing);
        let ref_p = crate::binning::smoothed_proportions(&rc, DEFAULT_EPSILON)?;
        let b = rc.len();
        let mut m = Self {
            binning: profile.binning.clone(),
            ref_p,
            counts: vec![0; b],
            ring: vec![0; size],
            head: 0,
            filled: 0,
            size,
            mode,
            epsilon: DEFAULT_EPSILON,
            terms: vec![0.0; b],
            psi: 0.0,
            since_refresh: 0,
            threshold,
        };
        m.refresh();
        Ok(m)
    }

    #[inline]
    fn q(&self, c: u64) -> f64 {
        let b = self.counts.len() as f64;
        (c as f64 / self.size as f64 + self.epsilon) / (1.0 + b * self.epsilon)
    }

    #[inline]
    fn term(&self, i: usize) -> f64 {
        let q = self.q(self.counts[i]);
        let p = self.ref_p[i];
        (q - p) * (q / p).ln()
    }

    fn refresh(&mut self) {
        let mut s = 0.0;
        for i in 0..self.counts.len() {
            let t = self.term(i);
            self.terms[i] = t;
            s += t;
        }
        self.psi = s;
        self.since_refresh = 0;
    }

    #[inline]
    fn update_bin(&mut self, i: usize, add: bool) {
        if add {
            self.counts[i] += 1;
        } else {
            self.counts[i] -= 1;
        }
        let t = self.term(i);
        self.psi += t - self.terms[i];
        self.terms[i] = t;
    }

    /// Feeds one value; returns a result when a window is evaluated (every
    /// observation once a sliding window is full; at the end of each tumbling window).
    pub fn push(&mut self, x: f64) -> Option<WindowResult> {
        let missing_bin = self.counts.len() - 1;
        let bin = if x.is_finite() {
            self.binning.bin_of(x)
        } else {
            missing_bin
        };
        if self.filled == self.size {
            match self.mode {
                WindowMode::Sliding => {
                    let old = self.ring[self.head] as usize;
                    self.update_bin(old, false);
                }
                WindowMode::Tumbling => {
                    self.counts.iter_mut().for_each(|c| *c = 0);
                    self.filled = 0;
                    self.head = 0;
                    self.refresh();
                }
            }
        }
        if self.filled < self.size {
            self.filled += 1;
        }
        self.ring[self.head] = bin as u32;
        self.head = (self.head + 1) % self.size;
        self.update_bin(bin, true);
        self.since_refresh += 1;
        if self.since_refresh >= self.size.max(1024) {
            // Bound floating-point drift of the running sum.
            self.refresh();
        }
        (self.filled == self.size).then_some(WindowResult {
            psi: self.psi,
            drifted: self.psi >= self.threshold,
        })
    }

    /// PSI of the current window contents (meaningful once the window is full).
    pub fn psi(&self) -> f64 {
        self.psi
    }
}

/// State reported by the concept-drift detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorState {
    /// Nothing detected.
    Stable,
    /// Early warning (DDM only).
    Warning,
    /// Drift detected on this observation.
    Drift,
}

/// ADWIN (Bifet & Gavaldà 2007): adaptive windowing over a real-valued stream
/// (typically 0/1 errors). Defaults as river: `delta = 0.002`, `clock = 32`,
/// `max_buckets = 5`, `min_window_length = 5`, `grace_period = 10`.
///
/// The window is an exponential histogram: at most `max_buckets` buckets per
/// size 2^k, so memory is `O(log n)`; buckets live in `VecDeque`s that grow only
/// when a new size level appears (amortised, not per observation).
#[derive(Debug, Clone)]
pub struct Adwin {
    delta: f64,
    clock: u64,
    max_buckets: usize,
    min_window_length: u64,
    grace_period: u64,
    // rows[k]: buckets of size 2^k, oldest first: (total, variance)
    rows: Vec<VecDeque<(f64, f64)>>,
    width: u64,
    total: f64,
    variance: f64,
    tick: u64,
    n_detections: u64,
    /// The last observation was a detection: the next one starts a fresh window.
    restart: bool,
}

impl Default for Adwin {
    fn default() -> Self {
        Self::new(0.002)
    }
}

impl Adwin {
    /// ADWIN with confidence `delta` and river's other defaults.
    pub fn new(delta: f64) -> Self {
        Self {
            delta,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
            rows: Vec::new(),
            width: 0,
            total: 0.0,
            variance: 0.0,
            tick: 0,
            n_detections: 0,
            restart: false,
        }
    }

    /// Current window length.
    pub fn width(&self) -> u64 {
        self.width
    }
    /// Mean of the current window.
    pub fn estimation(&self) -> f64 {
        if self.width == 0 {
            0.0
        } else {
            self.total / self.width as f64
        }
    }
    /// Number of drifts detected so far.
    pub fn n_detections(&self) -> u64 {
        self.n_detections
    }

    fn insert(&mut self, x: f64) {
        if self.rows.is_empty() {
            self.rows
                .push(VecDeque::with_capacity(self.max_buckets + 1));
        }
        // incremental variance of the whole window (West)
        if self.width > 0 {
            let w = self.width as f64;
            let mean = self.total / w;
            self.variance += w * (x - mean) * (x - mean) / (w + 1.0);
        }
        self.width += 1;
        self.total += x;
        self.rows[0].push_back((x, 0.0));
        // compress
        let mut k = 0;
        while k < self.rows.len() && self.rows[k].len() > self.max_buckets {
            let (Some((t1, v1)), Some((t2, v2))) =
                (self.rows[k].pop_front(), self.rows[k].pop_front())
            else {
                break;
            };
            let n = (1u64 << k) as f64;
            let (m1, m2) = (t1 / n, t2 / n);
            let v = v1 + v2 + n * n * (m1 - m2) * (m1 - m2) / (2.0 * n);
            if k + 1 == self.rows.len() {
                self.rows
                    .push(VecDeque::with_capacity(self.max_buckets + 1));
            }
            self.rows[k + 1].push_back((t1 + t2, v));
            k += 1;
        }
    }

    fn drop_oldest(&mut self) {
        let Some(k) = self.rows.iter().rposition(|r| !r.is_empty()) else {
            return;
        };
        if let Some((t, v)) = self.rows[k].pop_front() {
            let n = (1u64 << k) as f64;
            let w = self.width as f64;
            let rest_n = w - n;
            self.width -= 1u64 << k;
            self.total -= t;
            if rest_n > 0.0 {
                let m = t / n;
                let rest_mean = self.total / rest_n;
                self.variance -= v + n * rest_n * (m - rest_mean) * (m - rest_mean) / (n + rest_n);
                self.variance = self.variance.max(0.0);
            } else {
                self.variance = 0.0;
            }
        }
        while self.rows.last().is_some_and(VecDeque::is_empty) && self.rows.len() > 1 {
            self.rows.pop();
        }
    }

    /// Feeds one value; `Drift` when the window was cut.
    ///
    /// As river's `drift.ADWIN`: the observation after a detection starts a fresh window
    /// (and clock), so one change is reported once, not again at every later check while the
    /// old data drains out of the window.
    pub fn update(&mut self, x: f64) -> DetectorState {
        if !x.is_finite() {
            return DetectorState::Stable;
        }
        if self.restart {
            self.restart = false;
            self.rows.clear();
            self.width = 0;
            self.total = 0.0;
            self.variance = 0.0;
            self.tick = 0;
        }
        self.insert(x);
        self.tick += 1;
        let mut detected = false;
        if self.tick % self.clock == 0 && self.width > self.grace_period {
            let mut again = true;
            while again {
                again = false;
                let n = self.width as f64;
                let mut n0 = 0.0f64;
                let mut u0 = 0.0f64;
                let dd = (2.0 * n.ln() / self.delta).ln();
                let v = self.variance / n;
                // oldest buckets first: highest row, front
                'scan: for k in (0..self.rows.len()).rev() {
                    let size = (1u64 << k) as f64;
                    for &(t, _) in &self.rows[k] {
                        n0 += size;
                        u0 += t;
                        let n1 = n - n0;
                        let u1 = self.total - u0;
                        if n1 < self.min_window_length as f64 {
                            break 'scan;
                        }
                        if n0 < self.min_window_length as f64 {
                            continue;
                        }
                        let diff = (u0 / n0 - u1 / n1).abs();
                        let mlen = self.min_window_length as f64;
                        let m = 1.0 / (n0 - mlen + 1.0) + 1.0 / (n1 - mlen + 1.0);
                        let eps = (2.0 * m * v * dd).sqrt() + 2.0 / 3.0 * dd * m;
                        if diff > eps {
                            detected = true;
                            again = true;
                            break 'scan;
                        }
                    }
                }
                if again {
                    self.drop_oldest();
                    if self.width <= self.grace_period {
                        again = false;
                    }
                }
            }
        }
        if detected {
            self.n_detections += 1;
            self.restart = true;
            DetectorState::Drift
        } else {
            DetectorState::Stable
        }
    }
}

/// Page–Hinkley test for a change in the mean (both directions). Defaults as
/// river: `min_instances = 30`, `delta = 0.005`, `threshold = 50`, `alpha = 0.9999`.
///
/// # Formula
/// With the running mean `x̄_t`: `S⁺_t = α S⁺_{t−1} + (x_t − x̄_t − δ)`,
/// `S⁻_t = α S⁻_{t−1} + (x̄_t − x_t − δ)`; drift when
/// `S⁺_t − min S⁺ > λ` or `S⁻_t − min S⁻ > λ`. The state resets after a drift.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    min_instances: u64,
    delta: f64,
    threshold: f64,
    alpha: f64,
    n: u64,
    mean: f64,
    sum_inc: f64,
    sum_dec: f64,
    min_inc: f64,
    min_dec: f64,
}

impl Default for PageHinkley {
    fn default() -> Self {
        Self::new(30, 0.005, 50.0, 1.0 - 0.0001)
    }
}

impl PageHinkley {
    /// A detector with explicit parameters.
    pub fn new(min_instances: u64, delta: f64, threshold: f64, alpha: f64) -> Self {
        Self {
            min_instances,
            delta,
            threshold,
            alpha,
            n: 0,
            mean: 0.0,
            sum_inc: 0.0,
            sum_dec: 0.0,
            min_inc: f64::INFINITY,
            min_dec: f64::INFINITY,
        }
    }

    fn reset(&mut self) {
        *self = Self::new(self.min_instances, self.delta, self.threshold, self.alpha);
    }

    /// Feeds one value.
    pub fn update(&mut self, x: f64) -> DetectorState {
        if !x.is_finite() {
            return DetectorState::Stable;
        }
        self.n += 1;
        self.mean += (x - self.mean) / self.n as f64;
        self.sum_inc = self.alpha * self.sum_inc + (x - self.mean - self.delta);
        self.sum_dec = self.alpha * self.sum_dec + (self.mean - x - self.delta);
        self.min_inc = self.min_inc.min(self.sum_inc);
        self.min_dec = self.min_dec.min(self.sum_dec);
        if self.n >= self.min_instances
            && (self.sum_inc - self.min_inc > self.threshold
                || self.sum_dec - self.min_dec > self.threshold)
        {
            self.reset();
            return DetectorState::Drift;
        }
        DetectorState::Stable
    }
}

/// Drift Detection Method (Gama et al. 2004) on a stream of prediction errors
/// (`true` = error). Defaults as river: 30 warm-up observations, warning at 2σ,
/// drift at 3σ.
///
/// # Formula
/// `p_t` error rate, `s_t = sqrt(p_t(1−p_t)/t)`; keep the minimum of `p + s`;
/// warning when `p_t + s_t > p_min + 2 s_min`, drift when `> p_min + 3 s_min`
/// (then reset).
#[derive(Debug, Clone)]
pub struct Ddm {
    warm_start: u64,
    warning: f64,
    drift: f64,
    n: u64,
    errors: u64,
    p_min: f64,
    s_min: f64,
}

impl Default for Ddm {
    fn default() -> Self {
        Self::new(30, 2.0, 3.0)
    }
}

impl Ddm {
    /// A detector with explicit parameters.
    pub fn new(warm_start: u64, warning: f64, drift: f64) -> Self {
        Self {
            warm_start,
            warning,
            drift,
            n: 0,
            errors: 0,
            p_min: f64::INFINITY,
            s_min: f64::INFINITY,
        }
    }

    /// Feeds one outcome (`true` = the model erred).
    pub fn update(&mut self, error: bool) -> DetectorState {
        self.n += 1;
        self.errors += u64::from(error);
        let n = self.n as f64;
        let p = self.errors as f64 / n;
        let s = (p * (1.0 - p) / n).sqrt();
        if self.n < self.warm_start {
            return DetectorState::Stable;
        }
        if p + s <= self.p_min + self.s_min {
            self.p_min = p;
            self.s_min = s;
        }
        if p + s > self.p_min + self.drift * self.s_min {
            *self = Self::new(self.warm_start, self.warning, self.drift);
            return DetectorState::Drift;
        }
        if p + s > self.p_min + self.warning * self.s_min {
            return DetectorState::Warning;
        }
        DetectorState::Stable
    }
}
