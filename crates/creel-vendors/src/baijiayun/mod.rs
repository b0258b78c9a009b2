//! Baijiayun (百家云): playback (API 1, 2, 10, 16, 17, 19, 20, 35, 38, 39), VOD (`getStatus`,
//! `getInfo`, `getUrl`, transcode callback URL), and callbacks (playback transcode, pure
//! video, VOD transcode, dual-teacher auto-match). Signature: MD5 over sorted raw `k=v` pairs
//! plus `partner_key` ([`sign`]).

mod api;
pub mod callback;
mod client;
pub mod endpoints;
pub mod model;
pub mod sign;

pub use api::Playback;
pub use client::{BaijiayunClient, classify_code};
pub use endpoints::*;
