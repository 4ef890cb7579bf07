//! The truncated normal distribution as Optuna's `optuna/samplers/_tpe/_truncnorm.py` computes
//! it (itself taken from SciPy): `log Φ`, the log Gaussian mass of an interval, the quantile
//! function through a Newton inversion of `log Φ`, and the log density. `erf`/`erfc` are
//! FreeBSD's `s_erf.c` (the algorithm of Python's `math.erf`, which Optuna calls).

// The fdlibm coefficients are kept digit for digit as published.
#![allow(clippy::excessive_precision)]

const ERX: f64 = 8.450_629_115_104_675_292_97e-1;
const EFX: f64 = 1.283_791_670_955_125_863_16e-1;
const PP: [f64; 5] = [
    1.283_791_670_955_125_585_61e-1,
    -3.250_421_072_470_014_993_70e-1,
    -2.848_174_957_559_851_047_66e-2,
    -5.770_270_296_489_441_591_57e-3,
    -2.376_301_665_665_016_260_84e-5,
];
const QQ: [f64; 5] = [
    3.979_172_239_591_553_528_19e-1,
    6.502_224_998_876_729_444_85e-2,
    5.081_306_281_875_765_627_76e-3,
    1.324_947_380_043_216_445_26e-4,
    -3.960_228_278_775_368_123_20e-6,
];
const PA: [f64; 7] = [
    -2.362_118_560_752_659_440_77e-3,
    4.148_561_186_837_483_316_66e-1,
    -3.722_078_760_357_013_238_47e-1,
    3.183_466_199_011_617_536_74e-1,
    -1.108_946_942_823_966_774_76e-1,
    3.547_830_432_561_823_593_71e-2,
    -2.166_375_594_868_790_843_00e-3,
];
const QA: [f64; 6] = [
    1.064_208_804_008_442_282_86e-1,
    5.403_979_177_021_710_489_37e-1,
    7.182_865_441_419_626_628_68e-2,
    1.261_712_198_087_616_421_12e-1,
    1.363_708_391_202_905_073_62e-2,
    1.198_449_984_679_910_741_70e-2,
];
const RA: [f64; 8] = [
    -9.864_944_034_847_148_227_05e-3,
    -6.938_585_727_071_817_643_72e-1,
    -1.055_862_622_532_329_098_14e1,
    -6.237_533_245_032_600_603_96e1,
    -1.623_966_694_625_734_703_55e2,
    -1.846_050_929_067_110_359_94e2,
    -8.128_743_550_630_659_342_46e1,
    -9.814_329_344_169_145_485_92,
];
const SA: [f64; 8] = [
    1.965_127_166_743_925_712_92e1,
    1.376_577_541_435_190_426_00e2,
    4.345_658_774_752_292_288_21e2,
    6.453_872_717_332_678_803_36e2,
    4.290_081_400_275_678_333_86e2,
    1.086_350_055_417_794_351_34e2,
    6.570_249_770_319_281_701_35,
    -6.042_441_521_485_809_874_38e-2,
];
const RB: [f64; 7] = [
    -9.864_942_924_700_099_285_97e-3,
    -7.992_832_376_805_230_065_74e-1,
    -1.775_795_491_775_475_198_89e1,
    -1.606_363_848_558_219_160_62e2,
    -6.375_664_433_683_896_277_22e2,
    -1.025_095_131_611_077_249_54e3,
    -4.835_191_916_086_513_970_19e2,
];
const SB: [f64; 7] = [
    3.033_806_074_348_245_829_24e1,
    3.257_925_129_965_739_188_26e2,
    1.536_729_586_084_436_959_94e3,
    3.199_858_219_508_595_539_08e3,
    2.553_050_406_433_164_425_83e3,
    4.745_285_412_069_553_672_15e2,
    -2.244_095_244_658_581_833_62e1,
];

/// `c0 + c1 x + c2 x² + …` (Horner).
fn poly(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, ci| acc * x + ci)
}

/// `1 + c0 x + c1 x² + …`.
fn poly1(c: &[f64], x: f64) -> f64 {
    1.0 + x * poly(c, x)
}

/// `exp(−x² − 0.5625 + R/S) / x` for `x ≥ 1.25`, with fdlibm's split of `x²`.
fn erfc_tail(ax: f64) -> f64 {
    let s = 1.0 / (ax * ax);
    let rs = if ax < 1.0 / 0.35 {
        poly(&RA, s) / poly1(&SA, s)
    } else {
        poly(&RB, s) / poly1(&SB, s)
    };
    let z = f64::from_bits(ax.to_bits() & 0xffff_ffff_0000_0000);
    (-z * z - 0.5625).exp() * ((z - ax) * (z + ax) + rs).exp() / ax
}

/// The error function.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    if ax < 0.84375 {
        if ax < f64::powi(2.0, -28) {
            return x + EFX * x;
        }
        let z = x * x;
        return x + x * (poly(&PP, z) / poly1(&QQ, z));
    }
    let r = if ax < 1.25 {
        let s = ax - 1.0;
        ERX + poly(&PA, s) / poly1(&QA, s)
    } else if ax >= 6.0 {
        1.0
    } else {
        1.0 - erfc_tail(ax)
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

/// The complementary error function `1 − erf(x)`, accurate in the right tail.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    if ax < 0.84375 {
        if ax < f64::powi(2.0, -56) {
            return 1.0 - x;
        }
        let z = x * x;
        let y = poly(&PP, z) / poly1(&QQ, z);
        return if x < 0.25 {
            1.0 - (x + x * y)
        } else {
            0.5 - (x * y + (x - 0.5))
        };
    }
    if ax < 1.25 {
        let s = ax - 1.0;
        let pq = poly(&PA, s) / poly1(&QA, s);
        return if x >= 0.0 {
            1.0 - ERX - pq
        } else {
            1.0 + (ERX + pq)
        };
    }
    if ax < 28.0 {
        if x < 0.0 && ax > 6.0 {
            return 2.0;
        }
        let r = erfc_tail(ax);
        return if x > 0.0 { r } else { 2.0 - r };
    }
    if x > 0.0 {
        0.0
    } else {
        2.0
    }
}

const NORM_PDF_LOG_C: f64 = 0.918_938_533_204_672_7; // ln √(2π)
const NDTRI_EXP_APPROX_C: f64 = 0.551_328_895_421_792_1; // √3 / π

/// `Φ(a)`, Optuna's `_ndtr_single`.
fn ndtr(a: f64) -> f64 {
    let x = a / std::f64::consts::SQRT_2;
    if x < -std::f64::consts::FRAC_1_SQRT_2 {
        0.5 * erfc(-x)
    } else if x < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * erf(x)
    } else {
        1.0 - 0.5 * erfc(x)
    }
}

/// `Φ(a)` as Optuna's vectorised `_ndtr` (`0.5 + 0.5 erf(a/√2)`), used in the central case.
fn ndtr_erf(a: f64) -> f64 {
    0.5 + 0.5 * erf(a / std::f64::consts::SQRT_2)
}

/// `ln Φ(a)`, Optuna's `_log_ndtr_single` (asymptotic series below −20).
pub(crate) fn log_ndtr(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    if a > 6.0 {
        return -ndtr(-a);
    }
    if a > -20.0 {
        return ndtr(a).ln();
    }
    if a == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    let log_lhs = -0.5 * a * a - (-a).ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    let mut last_total: f64 = 0.0;
    let mut rhs: f64 = 1.0;
    let mut numerator = 1.0;
    let mut denom_factor = 1.0;
    let denom_cons = 1.0 / (a * a);
    let mut sign = 1.0;
    let mut i = 0.0;
    // The series converges for |a| > 20 within a few terms; the bound only guards the loop.
    for _ in 0..1000 {
        if (last_total - rhs).abs() <= f64::EPSILON {
            break;
        }
        i += 1.0;
        last_total = rhs;
        sign = -sign;
        denom_factor *= denom_cons;
        numerator *= 2.0 * i - 1.0;
        rhs += sign * numerator * denom_factor;
    }
    log_lhs + rhs.ln()
}

fn log_sum(p: f64, q: f64) -> f64 {
    // numpy's logaddexp.
    if p == q {
        return p + std::f64::consts::LN_2;
    }
    let m = p.max(q);
    m + (-(p - q).abs()).exp().ln_1p()
}

fn log_diff(p: f64, q: f64) -> f64 {
    p + (-(q - p).exp()).ln_1p()
}

/// `ln(Φ(b) − Φ(a))`, Optuna's `_log_gauss_mass`.
pub(crate) fn log_gauss_mass(a: f64, b: f64) -> f64 {
    if b <= 0.0 {
        log_diff(log_ndtr(b), log_ndtr(a))
    } else if a > 0.0 {
        log_diff(log_ndtr(-a), log_ndtr(-b))
    } else {
        (-ndtr_erf(a) - ndtr_erf(-b)).ln_1p()
    }
}

/// `x` with `ln Φ(x) = y`, Optuna's `_ndtri_exp` (Newton from an asymptotic start).
fn ndtri_exp(y: f64) -> f64 {
    let flipped = y > -1e-2;
    let z = if flipped { (-y.exp_m1()).ln() } else { y };
    let mut x = if z < -5.0 {
        -(-2.0 * (z + NORM_PDF_LOG_C)).sqrt()
    } else {
        -NDTRI_EXP_APPROX_C * (-z).exp_m1().ln()
    };
    for _ in 0..100 {
        let log_ndtr_x = log_ndtr(x);
        let log_norm_pdf_x = -0.5 * x * x - NORM_PDF_LOG_C;
        let dx = (log_ndtr_x - z) * (log_ndtr_x - log_norm_pdf_x).exp();
        x -= dx;
        // A NaN step would stay NaN for the remaining iterations: stop at once.
        if dx.abs() < 1e-8 * x.abs() || dx.is_nan() {
            break;
        }
    }
    if flipped {
        -x
    } else {
        x
    }
}

/// The quantile `c ∈ [a, b]` of the standard normal truncated to `[a, b]` at level `q`,
/// Optuna's `ppf`. A non-finite result (only for degenerate inputs) falls back to the clipped
/// midpoint so that samples always lie in the bounds.
pub(crate) fn ppf(q: f64, a: f64, b: f64) -> f64 {
    if q == 0.0 {
        return a;
    }
    if q == 1.0 {
        return b;
    }
    let log_mass = log_gauss_mass(a, b);
    let out = if a < 0.0 {
        ndtri_exp(log_sum(log_ndtr(a), q.ln() + log_mass))
    } else {
        -ndtri_exp(log_sum(log_ndtr(-b), (-q).ln_1p() + log_mass))
    };
    if out.is_nan() {
        0.5 * (a + b)
    } else {
        out.clamp(a, b)
    }
}

/// `ln` of the standard normal's density at `x`.
pub(crate) fn norm_logpdf(x: f64) -> f64 {
    -(x * x) / 2.0 - NORM_PDF_LOG_C
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_python_math() {
        // Python 3.11: [math.erf(x) for x in (-3.0, -0.5, 0.1, 1.0, 2.0, 4.0)]
        let erf_ref = [
            (-3.0, -0.9999779095030014),
            (-0.5, -0.5204998778130465),
            (0.1, 0.1124629160182849),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (4.0, 0.9999999845827421),
        ];
        for (x, want) in erf_ref {
            assert!((erf(x) - want).abs() <= 1e-15, "erf({x})");
        }
        // Python 3.11: [math.erfc(x) for x in (-1.0, 0.5, 1.0, 3.0, 10.0, 26.0)]
        let erfc_ref = [
            (-1.0, 1.842700792949715),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (3.0, 2.2090496998585438e-05),
            (10.0, 2.088487583762545e-45),
            (26.0, 5.663192408856143e-296),
        ];
        for (x, want) in erfc_ref {
            assert!(
                ((erfc(x) - want) / want).abs() <= 1e-13,
                "erfc({x}) = {} vs {want}",
                erfc(x)
            );
        }
    }
}
