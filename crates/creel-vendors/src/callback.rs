//! A verified vendor callback as the signal it becomes. The callback routes verify a vendor's
//! callback into a [`VendorCallback`], store it as a [`Received`] on the signal keys a
//! [`CallbackListener`] names, and enqueue the jobs it asks for; the classroom jobs read the
//! same type back and match on it. Nothing is re-parsed from form fields on the way.

use creel_core::JobRequest;
use serde::{Deserialize, Serialize};

use crate::{baijiayun, plaso};

/// A verified (Baijiayun: signed) or accepted (Plaso: token URL) vendor callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "vendor", rename_all = "snake_case")]
pub enum VendorCallback {
    /// A signed Baijiayun callback.
    Baijiayun(baijiayun::callback::Callback),
    /// Plaso's unsigned result callback: a hint the job confirms with the vendor.
    Plaso(plaso::model::Callback),
}

/// A callback as stored on a signal key: what it said, when it arrived, and the trace of the
/// request it arrived in (the step it wakes links to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The callback.
    pub callback: VendorCallback,
    /// When creel received it (Unix ms).
    pub received_at_ms: i64,
    /// The W3C `traceparent` of the callback request's span, when spans are traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Received {
    /// The Baijiayun callback this is, if it is one.
    #[must_use]
    pub fn baijiayun(&self) -> Option<&baijiayun::callback::Callback> {
        match &self.callback {
            VendorCallback::Baijiayun(c) => Some(c),
            VendorCallback::Plaso(_) => None,
        }
    }
}

/// What the jobs make of a callback: the signal keys the jobs waiting on it listen on, and the
/// jobs it starts (auto-archive rules). Implemented by the job kinds, injected into the
/// callback routes, as the request validator is.
pub trait CallbackListener: Send + Sync {
    /// The signal keys of the jobs that wait on `callback` for `account`.
    fn keys(&self, account: &str, callback: &VendorCallback) -> Vec<String>;

    /// The jobs `callback` starts for `account`, each with an idempotency key of creel's own
    /// so that a vendor's retry adds nothing. The routes validate them as the API would.
    fn follow_ups(&self, account: &str, callback: &VendorCallback) -> Vec<JobRequest>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baijiayun::callback::Callback;
    use crate::baijiayun::model::{PlaybackStatus, VodStatus};
    use crate::plaso::model::TaskStatus;

    fn round_trip(callback: VendorCallback) {
        let received = Received {
            callback,
            received_at_ms: 1_700_000_000_000,
            traceparent: None,
        };
        let json = serde_json::to_value(&received).expect("serializes");
        let back: Received = serde_json::from_value(json.clone()).expect("deserializes");
        assert_eq!(back, received, "{json}");
    }

    #[test]
    fn every_callback_survives_its_signal() {
        round_trip(VendorCallback::Baijiayun(Callback::PlaybackTranscode {
            room_id: 1,
            session_id: Some(2),
            version: None,
            video_id: 3,
            status: PlaybackStatus::Failed,
            file_md5: None,
        }));
        round_trip(VendorCallback::Baijiayun(Callback::VodTranscode {
            video_id: 3,
            status: VodStatus::Ready,
            file_md5: Some("ab".into()),
            total_size: Some(42),
        }));
        round_trip(VendorCallback::Baijiayun(Callback::AutoMatch {
            room_id: 1,
            serial_number: "s".into(),
            session_id: None,
            video_id: 3,
            status: PlaybackStatus::Unknown(77),
            file_md5: None,
        }));
        round_trip(VendorCallback::Plaso(crate::plaso::model::Callback {
            task_id: "t9".into(),
            status: TaskStatus::TranscodeFailed,
            location: Some(String::new()),
        }));
    }
}
