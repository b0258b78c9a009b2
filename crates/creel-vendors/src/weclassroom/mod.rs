//! WeClassroom (直播云) openapi: `applicationID` + `signMsg` (Laravel's Encrypter over PHP
//! `serialize()`), API 18, 21 and 24.

mod client;
pub mod model;
pub mod php;
pub mod sign;

pub use client::{
    CLASS_INFO, CODE_OK, DEFAULT_BASE_URL, ENDPOINTS, LESSON_STATUS, REPLAY_URL, SERVER_RECORDINGS,
    WeclassroomClient, classify_code,
};
