//! # mlops-ui
//!
//! What people look at. Everything here renders on the server into plain HTML with inline
//! SVG: no CDN, no web font, no build step, nothing fetched from the network.
//!
//! - [`svg`]: small charts (histograms, ECDF steps, lines with markers, threshold bands,
//!   grouped category bars) whose series are findable (`data-series`, `data-points`).
//! - [`html`]: the page shell, the embedded stylesheet and script, escaping, and the
//!   Content-Security-Policy (`default-src 'none'` for reports).
//! - [`drift`]: the drift report (`mlops drift compare --format html`).
//! - [`compare`]: two model versions side by side (`mlops registry compare A B --format html`).
//! - [`monitor`]: the monitoring report (`mlops monitor report --format html`).
//! - `console` (feature `console`): the web console's axum router.
//!
//! Reports are functions from a computed report to a `String`; they never fail, because
//! every value they show was already computed and validated by the crate that owns it.
#![deny(missing_docs)]

pub mod compare;
#[cfg(feature = "console")]
pub mod console;
pub mod drift;
pub mod html;
pub mod monitor;
pub mod svg;

pub use compare::compare_report_html;
pub use drift::drift_report_html;
pub use monitor::monitor_report_html;
