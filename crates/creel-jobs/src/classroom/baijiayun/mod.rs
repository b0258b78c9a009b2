//! The Baijiayun kinds.
//! - `baijiayun.vod`: a VOD video, followed with `getStatus` until transcoded, then `getInfo`
//!   for its `file_md5`.
//! - `baijiayun.pure_video`: the pure video of one playback (API 16, `record_template`), of
//!   every playback of a room (API 19, its `success_fids` resolved through the room's playback
//!   list, API 2), or of a merged playback (API 38 → 39), followed until its URL is served
//!   (API 20 / 39). API 20 tells "generating" from "does not exist"; a task that still does not
//!   exist `classroom.pure_video_missing_grace_secs` after its submission fails.
//! - `baijiayun.crop`: one playback cut into named segments (API 35) or fixed-length ones
//!   (API 17); the new versions are persisted at once and followed with API 10 (one call for
//!   all of them) until each is transcoded.
//!
//! Baijiayun's callbacks are signed and verified before they are signalled, so a callback that
//! says a video is transcoded (100) or failed (30) is trusted without a status call.

mod crop;
mod pure_video;
mod vod;

use creel_vendors::VendorError;

pub use crop::{CropSpec, CropTask};
pub use pure_video::{PureVideoSpec, PureVideoTask};
pub use vod::{VodSpec, VodTask};

/// Code 1 from the pure-video URL APIs: "still generating" (纯视频生成中) means "not yet".
/// The same code with "does not exist" (…不存在) is [`missing`].
pub(super) fn not_ready(e: &VendorError) -> bool {
    matches!(e, VendorError::Vendor { code: 1, .. }) && !missing(e)
}

/// API 20's code 1 "纯视频任务不存在": no pure-video task for that playback.
pub(super) fn missing(e: &VendorError) -> bool {
    matches!(e, VendorError::Vendor { code: 1, message, .. } if message.contains("不存在"))
}
