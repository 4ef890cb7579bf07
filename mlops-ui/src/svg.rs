//! Inline SVG charts, rendered on the server: no script, no font and no network needed to see
//! them.
//!
//! A [`Chart`] has linear x and y scales, axes with "nice" ticks (1, 2, 5 × 10ᵏ), and layers
//! added in drawing order. Every series is one `<g class="series …" data-series="NAME"
//! data-points="N">` whose children are its marks (`rect`, `path`, `circle`), so a test or a
//! person can find a series and count its points. Each mark carries a `<title>` (the browser's
//! tooltip). Colours come from the page's CSS classes (`s-ref`, `s-cur`, …), with fallbacks in
//! the SVG itself so a chart copied out of the page still reads.

use std::fmt::Write as _;

use crate::html::escape;

/// Plot area margins: left, right, top, bottom (pixels).
const MARGIN: (f64, f64, f64, f64) = (56.0, 14.0, 40.0, 40.0);

/// A colour role for a series; the page's CSS gives each its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The reference (baseline) data.
    Reference,
    /// The current (live) data.
    Current,
    /// Something to draw the eye: an unseen category, a firing alert.
    Alert,
    /// A neutral third series (label coverage, an estimate).
    Other,
    /// A second neutral series.
    Other2,
}

impl Role {
    fn class(self) -> &'static str {
        match self {
            Role::Reference => "s-ref",
            Role::Current => "s-cur",
            Role::Alert => "s-alert",
            Role::Other => "s-other",
            Role::Other2 => "s-other2",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Role::Reference => "#4c78a8",
            Role::Current => "#f58518",
            Role::Alert => "#d62728",
            Role::Other => "#54a24b",
            Role::Other2 => "#9467bd",
        }
    }
}

/// One bar of a histogram: `[x0, x1)` and its height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x0: f64,
    /// Right edge.
    pub x1: f64,
    /// Height (y value).
    pub y: f64,
}

/// One layer of a chart, kept as data until [`Chart::render`] knows every layer's range.
#[derive(Debug, Clone)]
enum Layer {
    Bars {
        name: String,
        role: Role,
        bars: Vec<Bar>,
    },
    Categories {
        categories: Vec<String>,
        series: Vec<(String, Role, Vec<f64>)>,
        highlight: Vec<bool>,
    },
    Step {
        name: String,
        role: Role,
        x: Vec<f64>,
        y: Vec<f64>,
    },
    Line {
        name: String,
        role: Role,
        x: Vec<f64>,
        y: Vec<f64>,
    },
    Markers {
        name: String,
        role: Role,
        x: Vec<f64>,
        y: Vec<f64>,
    },
    Band {
        name: String,
        lo: f64,
        hi: f64,
    },
    Segment {
        name: String,
        role: Role,
        x: f64,
        y0: f64,
        y1: f64,
    },
}

/// A chart being built; [`Chart::render`] writes it out.
#[derive(Debug, Clone)]
pub struct Chart {
    title: String,
    width: f64,
    height: f64,
    x: Option<(f64, f64)>,
    y: Option<(f64, f64)>,
    x_label: String,
    y_label: String,
    x_time: bool,
    layers: Vec<Layer>,
}

/// The frame of a chart being drawn: the ranges every layer maps onto.
struct Frame {
    width: f64,
    height: f64,
    x: (f64, f64),
    y: (f64, f64),
    x_time: bool,
}

impl Frame {
    fn plot(&self) -> (f64, f64, f64, f64) {
        let (l, r, t, b) = MARGIN;
        (l, self.width - r, t, self.height - b)
    }

    fn sx(&self, x: f64) -> f64 {
        let (x0, x1, _, _) = self.plot();
        let (lo, hi) = self.x;
        x0 + (x.clamp(lo, hi) - lo) / (hi - lo) * (x1 - x0)
    }

    fn sy(&self, y: f64) -> f64 {
        let (_, _, y0, y1) = self.plot();
        let (lo, hi) = self.y;
        y1 - (y.clamp(lo, hi) - lo) / (hi - lo) * (y1 - y0)
    }

    fn fmt_x(&self, x: f64) -> String {
        if self.x_time {
            fmt_time(x)
        } else {
            fmt_num(x)
        }
    }
}

fn finite_pairs<'a>(x: &'a [f64], y: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    x.iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
}

fn open_series(out: &mut String, name: &str, role: Role, points: usize, kind: &str) {
    let _ = write!(
        out,
        r#"<g class="series {} {kind}" data-series="{}" data-points="{points}">"#,
        role.class(),
        escape(name)
    );
}

impl Chart {
    /// A `width × height` chart titled `title` (also its accessible name).
    pub fn new(title: &str, width: u32, height: u32) -> Self {
        Self {
            title: title.to_string(),
            width: f64::from(width.max(120)),
            height: f64::from(height.max(80)),
            x: None,
            y: None,
            x_label: String::new(),
            y_label: String::new(),
            x_time: false,
            layers: Vec::new(),
        }
    }

    /// Fixes the x range (otherwise it covers every layer's data). An empty or non-finite
    /// range is widened, so a constant series still draws.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x = Some(widen(lo, hi));
        self
    }

    /// Fixes the y range (as [`Chart::x_range`]).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y = Some(widen(lo, hi));
        self
    }

    /// Axis labels.
    pub fn labels(mut self, x: &str, y: &str) -> Self {
        self.x_label = x.to_string();
        self.y_label = y.to_string();
        self
    }

    /// Shows x values as UTC times (milliseconds since the epoch).
    pub fn time_axis(mut self) -> Self {
        self.x_time = true;
        self
    }

    /// Histogram bars of one series (half-transparent, so two series overlay).
    pub fn bars(mut self, name: &str, role: Role, bars: &[Bar]) -> Self {
        self.layers.push(Layer::Bars {
            name: name.into(),
            role,
            bars: bars.to_vec(),
        });
        self
    }

    /// Grouped bars over categories: each series gets one bar per category, side by side.
    /// `highlight[i]` shades category `i` (for example, unseen in the reference).
    pub fn category_bars(
        mut self,
        categories: &[String],
        series: &[(&str, Role, Vec<f64>)],
        highlight: &[bool],
    ) -> Self {
        self.layers.push(Layer::Categories {
            categories: categories.to_vec(),
            series: series
                .iter()
                .map(|(n, r, v)| ((*n).to_string(), *r, v.clone()))
                .collect(),
            highlight: highlight.to_vec(),
        });
        self
    }

    /// A right-continuous step function through `(x[i], y[i])` (an ECDF).
    pub fn step(mut self, name: &str, role: Role, x: &[f64], y: &[f64]) -> Self {
        self.layers.push(Layer::Step {
            name: name.into(),
            role,
            x: x.to_vec(),
            y: y.to_vec(),
        });
        self
    }

    /// A polyline with a marker per point; a non-finite value breaks the line.
    pub fn line(mut self, name: &str, role: Role, x: &[f64], y: &[f64]) -> Self {
        self.layers.push(Layer::Line {
            name: name.into(),
            role,
            x: x.to_vec(),
            y: y.to_vec(),
        });
        self
    }

    /// Points only (for example, windows where an alert fired), drawn as rings.
    pub fn markers(mut self, name: &str, role: Role, x: &[f64], y: &[f64]) -> Self {
        self.layers.push(Layer::Markers {
            name: name.into(),
            role,
            x: x.to_vec(),
            y: y.to_vec(),
        });
        self
    }

    /// A shaded horizontal band `[lo, hi]` (a threshold band); an infinite side runs to the
    /// plot's edge.
    pub fn band(mut self, name: &str, lo: f64, hi: f64) -> Self {
        self.layers.push(Layer::Band {
            name: name.into(),
            lo,
            hi,
        });
        self
    }

    /// A vertical segment at `x` from `y0` to `y1` with a label (the KS distance).
    pub fn vsegment(mut self, name: &str, role: Role, x: f64, y0: f64, y1: f64) -> Self {
        if x.is_finite() && y0.is_finite() && y1.is_finite() {
            self.layers.push(Layer::Segment {
                name: name.into(),
                role,
                x,
                y0,
                y1,
            });
        }
        self
    }

    fn categories(&self) -> Option<&[String]> {
        self.layers.iter().find_map(|l| match l {
            Layer::Categories { categories, .. } => Some(categories.as_slice()),
            _ => None,
        })
    }

    /// Ranges covering every layer (bars and categories include 0 on y).
    fn frame(&self) -> Frame {
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for l in &self.layers {
            match l {
                Layer::Bars { bars, .. } => {
                    xs.extend(bars.iter().flat_map(|b| [b.x0, b.x1]));
                    ys.extend(bars.iter().map(|b| b.y).chain([0.0]));
                }
                Layer::Categories {
                    categories, series, ..
                } => {
                    xs.extend([0.0, categories.len().max(1) as f64]);
                    ys.extend(
                        series
                            .iter()
                            .flat_map(|(_, _, v)| v.iter().copied())
                            .chain([0.0]),
                    );
                }
                Layer::Step { x, y, .. }
                | Layer::Line { x, y, .. }
                | Layer::Markers { x, y, .. } => {
                    xs.extend(finite_pairs(x, y).map(|p| p.0));
                    ys.extend(finite_pairs(x, y).map(|p| p.1));
                }
                Layer::Band { lo, hi, .. } => ys.extend([*lo, *hi]),
                Layer::Segment { x, y0, y1, .. } => {
                    xs.push(*x);
                    ys.extend([*y0, *y1]);
                }
            }
        }
        let span = |v: &[f64]| {
            let (lo, hi) = v
                .iter()
                .filter(|v| v.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            widen(lo, hi)
        };
        let x = match (self.categories(), self.x) {
            (Some(c), _) => (0.0, c.len().max(1) as f64),
            (None, Some(r)) => r,
            (None, None) => span(&xs),
        };
        let y = self.y.unwrap_or_else(|| {
            let (lo, hi) = span(&ys);
            // A little headroom above the highest mark.
            (lo, hi + (hi - lo) * 0.05)
        });
        Frame {
            width: self.width,
            height: self.height,
            x,
            y,
            x_time: self.x_time,
        }
    }

    /// The finished `<svg>` element (with `role="img"`, a `<title>` and a legend).
    pub fn render(self) -> String {
        let f = self.frame();
        let (x0, x1, y0, y1) = f.plot();
        let mut s = String::with_capacity(4096);
        let _ = write!(
            s,
            r#"<svg class="chart" role="img" aria-label="{t}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="system-ui, sans-serif"><title>{t}</title>"#,
            t = escape(&self.title),
            w = f.width,
            h = f.height
        );
        let _ = write!(
            s,
            r##"<text x="8" y="15" font-size="13" font-weight="600" fill="#222">{}</text>"##,
            escape(&self.title)
        );
        s.push_str(r##"<g class="axes" stroke="#888" fill="#444" font-size="10">"##);
        let _ = write!(s, r#"<path d="M{x0},{y0}V{y1}H{x1}" fill="none"/>"#);
        for t in nice_ticks(f.y.0, f.y.1, 5) {
            let y = f.sy(t);
            let _ = write!(
                s,
                r##"<path d="M{:.1},{y:.1}H{x1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end" stroke="none">{}</text>"##,
                x0 + 0.5,
                x0 - 4.0,
                y + 3.5,
                fmt_num(t)
            );
        }
        if let Some(cats) = self.categories() {
            let slot = (x1 - x0) / cats.len().max(1) as f64;
            let every = (cats.len() / 12).max(1);
            for (i, c) in cats.iter().enumerate().filter(|(i, _)| i % every == 0) {
                let short: String = c.chars().take(14).collect();
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" stroke="none">{}</text>"#,
                    x0 + slot * (i as f64 + 0.5),
                    y1 + 13.0,
                    escape(&short)
                );
            }
        } else {
            for t in nice_ticks(f.x.0, f.x.1, if f.x_time { 4 } else { 6 }) {
                let x = f.sx(t);
                let _ = write!(
                    s,
                    r#"<path d="M{x:.1},{y1}v4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" stroke="none">{}</text>"#,
                    y1 + 14.0,
                    escape(&f.fmt_x(t))
                );
            }
        }
        if !self.x_label.is_empty() {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" stroke="none">{}</text>"#,
                (x0 + x1) / 2.0,
                f.height - 6.0,
                escape(&self.x_label)
            );
        }
        if !self.y_label.is_empty() {
            let _ = write!(
                s,
                r#"<text transform="translate(12 {:.1}) rotate(-90)" text-anchor="middle" stroke="none">{}</text>"#,
                (y0 + y1) / 2.0,
                escape(&self.y_label)
            );
        }
        s.push_str("</g>");
        let mut legend: Vec<(String, Role)> = Vec::new();
        let mut note = |name: &str, role: Role| {
            if !legend.iter().any(|(n, _)| n == name) {
                legend.push((name.to_string(), role));
            }
        };
        for l in &self.layers {
            match l {
                Layer::Bars { name, role, bars } => {
                    note(name, *role);
                    draw_bars(&mut s, &f, name, *role, bars);
                }
                Layer::Categories {
                    categories,
                    series,
                    highlight,
                } => {
                    for (n, r, _) in series {
                        note(n, *r);
                    }
                    draw_categories(&mut s, &f, categories, series, highlight);
                }
                Layer::Step { name, role, x, y } => {
                    note(name, *role);
                    draw_step(&mut s, &f, name, *role, x, y);
                }
                Layer::Line { name, role, x, y } => {
                    note(name, *role);
                    draw_line(&mut s, &f, name, *role, x, y, false);
                }
                Layer::Markers { name, role, x, y } => {
                    note(name, *role);
                    draw_line(&mut s, &f, name, *role, x, y, true);
                }
                Layer::Band { name, lo, hi } => draw_band(&mut s, &f, name, *lo, *hi),
                Layer::Segment {
                    name,
                    role,
                    x,
                    y0,
                    y1,
                } => {
                    note(name, *role);
                    draw_segment(&mut s, &f, name, *role, *x, *y0, *y1);
                }
            }
        }
        // Legend: one row under the title.
        let mut lx = x0;
        s.push_str(r#"<g class="legend" font-size="11">"#);
        for (name, role) in &legend {
            let _ = write!(
                s,
                r##"<rect x="{lx:.1}" y="21" width="10" height="10" fill="{}"/><text x="{:.1}" y="30" fill="#333">{}</text>"##,
                role.colour(),
                lx + 13.0,
                escape(name)
            );
            lx += 22.0 + 6.2 * name.chars().count() as f64;
        }
        s.push_str("</g></svg>");
        s
    }
}

fn draw_bars(s: &mut String, f: &Frame, name: &str, role: Role, bars: &[Bar]) {
    open_series(s, name, role, bars.len(), "bars");
    let base = f.sy(f.y.0.max(0.0).min(f.y.1));
    for b in bars
        .iter()
        .filter(|b| b.y.is_finite() && b.x0.is_finite() && b.x1.is_finite())
    {
        let (xa, xb) = (f.sx(b.x0), f.sx(b.x1));
        let top = f.sy(b.y);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.55" data-y="{}"><title>{}: [{}, {}) {}</title></rect>"#,
            xa.min(xb),
            top.min(base),
            (xb - xa).abs().max(0.5),
            (base - top).abs(),
            role.colour(),
            b.y,
            escape(name),
            fmt_num(b.x0),
            fmt_num(b.x1),
            fmt_num(b.y)
        );
    }
    s.push_str("</g>");
}

fn draw_categories(
    s: &mut String,
    f: &Frame,
    categories: &[String],
    series: &[(String, Role, Vec<f64>)],
    highlight: &[bool],
) {
    let (x0, x1, y0, y1) = f.plot();
    let slot = (x1 - x0) / categories.len().max(1) as f64;
    let k = series.len().max(1) as f64;
    for (i, _) in highlight.iter().enumerate().filter(|(_, h)| **h) {
        let _ = write!(
            s,
            r##"<rect class="highlight" data-category="{c}" x="{:.1}" y="{y0:.1}" width="{slot:.1}" height="{:.1}" fill="#d62728" fill-opacity="0.12"><title>{c}: not in the reference</title></rect>"##,
            x0 + slot * i as f64,
            y1 - y0,
            c = escape(categories.get(i).map_or("", String::as_str))
        );
    }
    let base = f.sy(0.0);
    for (j, (name, role, values)) in series.iter().enumerate() {
        open_series(s, name, *role, values.len(), "bars");
        for (i, v) in values.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let w = slot * 0.8 / k;
            let xa = x0 + slot * i as f64 + slot * 0.1 + w * j as f64;
            let top = f.sy(*v);
            let _ = write!(
                s,
                r#"<rect x="{xa:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}" data-y="{v}"><title>{} · {}: {}</title></rect>"#,
                top.min(base),
                (base - top).abs(),
                role.colour(),
                escape(name),
                escape(categories.get(i).map_or("", String::as_str)),
                fmt_num(*v)
            );
        }
        s.push_str("</g>");
    }
}

fn draw_step(s: &mut String, f: &Frame, name: &str, role: Role, x: &[f64], y: &[f64]) {
    let pts: Vec<(f64, f64)> = finite_pairs(x, y).collect();
    open_series(s, name, role, pts.len(), "step");
    let mut d = String::with_capacity(pts.len() * 14);
    for (i, (px, py)) in pts.iter().enumerate() {
        let (sx, sy) = (f.sx(*px), f.sy(*py));
        if i == 0 {
            let _ = write!(d, "M{:.1},{:.1}H{sx:.1}V{sy:.1}", f.plot().0, f.sy(0.0));
        } else {
            let _ = write!(d, "H{sx:.1}V{sy:.1}");
        }
    }
    if !pts.is_empty() {
        let _ = write!(d, "H{:.1}", f.plot().1);
    }
    let _ = write!(
        s,
        r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.8"><title>{}</title></path></g>"#,
        role.colour(),
        escape(name)
    );
}

fn draw_line(s: &mut String, f: &Frame, name: &str, role: Role, x: &[f64], y: &[f64], rings: bool) {
    let n = finite_pairs(x, y).count();
    open_series(s, name, role, n, if rings { "markers" } else { "line" });
    let mut d = String::new();
    let mut pen_up = true;
    let mut marks = String::new();
    for (px, py) in x.iter().zip(y) {
        if !(px.is_finite() && py.is_finite()) {
            pen_up = true;
            continue;
        }
        let (sx, sy) = (f.sx(*px), f.sy(*py));
        let _ = write!(d, "{}{sx:.1},{sy:.1}", if pen_up { "M" } else { "L" });
        pen_up = false;
        let (r, fill, stroke) = if rings {
            ("5.5", "none", role.colour())
        } else {
            ("2.6", role.colour(), "none")
        };
        let _ = write!(
            marks,
            r#"<circle cx="{sx:.1}" cy="{sy:.1}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="2" data-x="{px}" data-y="{py}"><title>{}: {} at {}</title></circle>"#,
            escape(name),
            fmt_num(*py),
            escape(&f.fmt_x(*px))
        );
    }
    if !rings && !d.is_empty() {
        let _ = write!(
            s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"/>"#,
            role.colour()
        );
    }
    s.push_str(&marks);
    s.push_str("</g>");
}

fn draw_band(s: &mut String, f: &Frame, name: &str, lo: f64, hi: f64) {
    let (x0, x1, y0, y1) = f.plot();
    let top = if hi.is_finite() { f.sy(hi) } else { y0 };
    let bottom = if lo.is_finite() { f.sy(lo) } else { y1 };
    let _ = write!(
        s,
        r##"<g class="band" data-series="{n}" data-lo="{lo}" data-hi="{hi}"><rect x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#54a24b" fill-opacity="0.13"><title>{n}: [{}, {}]</title></rect></g>"##,
        x1 - x0,
        (bottom - top).max(0.0),
        fmt_num(lo),
        fmt_num(hi),
        n = escape(name)
    );
}

fn draw_segment(s: &mut String, f: &Frame, name: &str, role: Role, x: f64, y0: f64, y1: f64) {
    open_series(s, name, role, 1, "segment");
    let (sx, a, b) = (f.sx(x), f.sy(y0), f.sy(y1));
    let _ = write!(
        s,
        r#"<path d="M{sx:.1},{a:.1}V{b:.1}" stroke="{c}" stroke-width="2.4" stroke-dasharray="4 2" data-x="{x}" data-y0="{y0}" data-y1="{y1}"><title>{n}: {} at x = {}</title></path><text x="{:.1}" y="{:.1}" font-size="11" fill="{c}">{}</text></g>"#,
        fmt_num((y1 - y0).abs()),
        fmt_num(x),
        sx + 4.0,
        (a + b) / 2.0,
        fmt_num((y1 - y0).abs()),
        c = role.colour(),
        n = escape(name)
    );
}

fn widen(lo: f64, hi: f64) -> (f64, f64) {
    match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) => {
            let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
            (lo - d, hi + d)
        }
        (true, false) => (lo, lo + 1.0),
        (false, true) => (hi - 1.0, hi),
        (false, false) => (0.0, 1.0),
    }
}

/// About `n` round tick values inside `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) || n == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).ceil() * step;
    (0..=n * 3)
        .map(|i| start + step * i as f64)
        .take_while(|t| *t <= hi + step * 1e-9)
        .map(|t| if t.abs() < step * 1e-9 { 0.0 } else { t })
        .collect()
}

/// A short form of a number: 4 significant digits, scientific outside `[1e-3, 1e6)`.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A share as a percentage, `0.25` → `25 %` (4 significant digits, as [`fmt_num`]).
pub fn fmt_pct(share: f64) -> String {
    format!("{} %", fmt_num(100.0 * share))
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM` (UTC).
pub fn fmt_time(ms: f64) -> String {
    if !ms.is_finite() {
        return fmt_num(ms);
    }
    let secs = (ms / 1000.0).floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = nice_ticks(-3.7, 12.2, 6);
        assert!(t.iter().all(|v| (-3.7..=12.2).contains(v)));
        assert!(nice_ticks(1.0, 1.0, 5).is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn numbers_and_times_format_short() {
        assert_eq!(fmt_num(0.123456), "0.1235");
        assert_eq!(fmt_num(1234.56), "1235");
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(1e-7), "1.000e-7");
        assert_eq!(fmt_num(f64::NEG_INFINITY), "−∞");
        assert_eq!(fmt_time(0.0), "1970-01-01 00:00");
        assert_eq!(fmt_time(1_700_000_000_000.0), "2023-11-14 22:13");
    }

    #[test]
    fn series_are_findable_and_hostile_names_escaped() {
        let svg = Chart::new("t <b>", 400, 200)
            .bars(
                "ref\"<",
                Role::Reference,
                &[
                    Bar {
                        x0: 0.0,
                        x1: 1.0,
                        y: 3.0,
                    },
                    Bar {
                        x0: 1.0,
                        x1: 2.0,
                        y: 1.0,
                    },
                ],
            )
            .step("ecdf", Role::Current, &[0.0, 1.0, 2.0], &[0.1, 0.5, 1.0])
            .line(
                "m",
                Role::Other,
                &[0.0, 1.0, f64::NAN, 3.0],
                &[1.0, f64::INFINITY, 2.0, 4.0],
            )
            .render();
        assert!(svg.contains(r#"data-series="ref&quot;&lt;" data-points="2""#));
        assert!(svg.contains(r#"data-series="ecdf" data-points="3""#));
        assert!(svg.contains(r#"data-series="m" data-points="2""#));
        assert!(!svg.contains("<b>"));
        assert!(!svg.contains("NaN,") && !svg.contains("inf"));
    }

    #[test]
    fn empty_and_constant_data_still_render() {
        let svg = Chart::new("e", 300, 150)
            .line("x", Role::Other, &[], &[])
            .render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let svg = Chart::new("c", 300, 150)
            .line("x", Role::Other, &[5.0, 5.0], &[2.0, 2.0])
            .render();
        assert!(!svg.contains("NaN"));
    }
}
