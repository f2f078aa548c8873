//! `/api/webhook/{github|gitlab|gitea|bitbucket|generic}`: a verified push is
//! a hint to poll that repository now, never an instruction.

use crate::ServerContext;

pub fn routes(_ctx: &ServerContext) -> axum::Router {
    axum::Router::new()
}
