//! Plaso (伯索) classroom export: `transferVideo`, `getVideoTask`, the result callback.
//! Signature: HMAC-SHA1 over sorted `k=v` pairs, uppercase hex ([`sign`]).

pub mod callback;
mod client;
pub mod model;
pub mod sign;

pub use client::{
    CODE_NO_CLASSROOM, CODE_TASK_RUNNING, DEFAULT_BASE_URL, ENDPOINTS, GET_VIDEO_TASK, PlasoClient,
    TRANSFER_VIDEO, classify_code,
};
