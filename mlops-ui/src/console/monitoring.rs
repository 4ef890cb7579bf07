//! The monitoring page: `GET /ui/monitoring` computes the monitoring report from the
//! configured source (on the blocking pool) and shows [`crate::monitor::monitor_body`] and
//! the per-feature drift plots ([`crate::monitor::feature_drift_body`]).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::{page, ConsoleState, PageError};
use crate::monitor::{feature_drift_body, monitor_body};

/// Adds this module's routes.
pub(super) fn routes(r: Router<ConsoleState>) -> Router<ConsoleState> {
    r.route("/ui/monitoring", get(monitoring))
}

async fn monitoring(State(s): State<ConsoleState>) -> Result<Response, PageError> {
    let report = s
        .blocking(|c| match &c.monitor {
            None => Ok(None),
            Some(source) => source()
                .map(Some)
                .map_err(|e| PageError::internal(format!("the monitoring report failed: {e}"))),
        })
        .await?;
    let body = match report {
        None => html! {
            h1 { "Monitoring" }
            p id="no-monitor" { "No prediction log is configured: start the console with "
                code { "--log DIR" } " (or serve with " code { "--log-predictions" } ") to see window metrics, alerts and drift." }
        },
        Some(report) => html! {
            h1 { "Monitoring" }
            (monitor_body(&report, None))
            (feature_drift_body(&report))
        },
    };
    Ok(page("Monitoring", body))
}
