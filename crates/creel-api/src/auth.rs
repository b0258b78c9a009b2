//! Bearer-token authentication and authorisation: every route but health needs
//! `Authorization: Bearer <token>` with a token from config. The token names a principal with
//! scopes; the principal owns the jobs it enqueues and sees only those, unless it has `admin`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use creel_core::config::{ApiToken, Scope};
use creel_queue::JobRecord;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{ApiState, Problem};

/// The principal a request authenticated as (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name: the owner of the jobs it enqueues.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether the caller has `scope` (`admin` has every scope).
    #[must_use]
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }

    /// `403` unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("the token {:?} lacks the scope {scope}", self.name),
            ))
        }
    }

    /// Whether the caller may see `job`: its own, or any with `admin`.
    #[must_use]
    pub fn owns(&self, job: &JobRecord) -> bool {
        self.scopes.contains(&Scope::Admin) || job.created_by.as_deref() == Some(&self.name)
    }
}

/// The configured tokens, kept as SHA-256 digests: a presented token is hashed and compared in
/// constant time with every digest, so neither its length nor which token matched shows in the
/// timing.
#[derive(Clone)]
pub struct Tokens(Vec<([u8; 32], Caller)>);

impl Tokens {
    /// The digests of `tokens`.
    #[must_use]
    pub fn new(tokens: &[ApiToken]) -> Self {
        Self(
            tokens
                .iter()
                .map(|t| {
                    (
                        Sha256::digest(t.token.expose().trim().as_bytes()).into(),
                        Caller {
                            name: t.name.clone(),
                            scopes: t.scopes.clone(),
                        },
                    )
                })
                .collect(),
        )
    }

    /// How many tokens there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, presented: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (d, caller) in &self.0 {
            if bool::from(d.ct_eq(&digest)) {
                found = Some(caller.clone());
            }
        }
        found
    }
}

/// Rejects requests without a known bearer token; passes the caller on.
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
    match presented.and_then(|p| state.tokens.find(p)) {
        Some(caller) => {
            req.extensions_mut().insert(caller);
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
