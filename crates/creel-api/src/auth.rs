//! Bearer-token authentication: every route but health needs `Authorization: Bearer <token>`
//! with a token from config; the token's name is recorded as the job's `created_by`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::{ApiState, Problem};

/// The name of the token a request authenticated with (a request extension).
#[derive(Debug, Clone)]
pub struct Caller(pub String);

/// Rejects requests without a known bearer token; passes the caller's name on.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let caller = presented.and_then(|p| {
        state
            .tokens
            .iter()
            .find(|t| bool::from(t.token.expose().as_bytes().ct_eq(p.as_bytes())))
            .map(|t| t.name.clone())
    });
    match caller {
        Some(name) => {
            req.extensions_mut().insert(Caller(name));
            next.run(req).await
        }
        None => {
            let mut res =
                Problem::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required")
                    .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            res
        }
    }
}
