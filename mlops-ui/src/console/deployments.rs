//! The deployments pages.

use axum::Router;

use super::ConsoleState;

/// Adds this module's routes.
pub(super) fn routes(r: Router<ConsoleState>) -> Router<ConsoleState> {
    r
}
