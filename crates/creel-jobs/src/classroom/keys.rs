//! The signal keys vendor callbacks are delivered on. The callback routes signal them; the
//! classroom jobs listen on them. One place, so both sides agree.

/// A Baijiayun video (playback, crop version, VOD or pure video) by its id.
#[must_use]
pub fn baijiayun_video(account: &str, video_id: i64) -> String {
    format!("bjy:{account}:video:{video_id}")
}

/// The pure video of a Baijiayun playback (session 0 for a room without sessions).
#[must_use]
pub fn baijiayun_pure_video(account: &str, room_id: i64, session_id: Option<i64>) -> String {
    format!("bjy:{account}:pure:{room_id}:{}", session_id.unwrap_or(0))
}

/// A Plaso export task.
#[must_use]
pub fn plaso_task(account: &str, task_id: &str) -> String {
    format!("plaso:{account}:task:{task_id}")
}
