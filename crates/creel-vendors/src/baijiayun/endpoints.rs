//! Every Baijiayun endpoint creel calls, in one table of config-overridable constants. The
//! playback document was printed from PDF and cuts off the paths of API 16, 17, 19, 20, 35, 38
//! and 39: their defaults (`documented: false`) are the best-known guesses following the
//! visible ones; confirm them with Baijiayun and override them in `accounts.<name>.paths`.

use crate::endpoint::Endpoint;

macro_rules! endpoint {
    ($id:ident, $name:literal, $path:literal, $documented:literal, $summary:literal) => {
        #[doc = $summary]
        pub const $id: Endpoint = Endpoint {
            name: $name,
            path: $path,
            documented: $documented,
            summary: $summary,
        };
    };
}

endpoint!(
    PLAYBACK_INFO,
    "playback_info",
    "/openapi/playback/getBasicInfo",
    true,
    "API 1: a playback's basic info (room_id, session_id)"
);
endpoint!(
    PLAYBACK_LIST,
    "playback_list",
    "/openapi/playback/getList",
    false,
    "API 2: playbacks, newest first, paged"
);
endpoint!(
    CROP_LIST,
    "crop_list",
    "/openapi/playback/getCropList",
    true,
    "API 10: cropped versions of a playback and their status"
);
endpoint!(
    PURE_VIDEO,
    "pure_video",
    "/openapi/playback/generatePureVideo",
    false,
    "API 16: record one large-class playback as a pure video (record_template)"
);
endpoint!(
    SEGMENT_CROP,
    "segment_crop",
    "/openapi/playback/segmentCrop",
    false,
    "API 17: crop a webrtc large-class playback into segments of length_per_segment"
);
endpoint!(
    ROOM_PURE_VIDEO,
    "room_pure_video",
    "/openapi/playback/generateRoomPureVideo",
    false,
    "API 19: pure video of every playback of a room (success_fids)"
);
endpoint!(
    PURE_VIDEO_URL,
    "pure_video_url",
    "/openapi/playback/getPureVideoUrl",
    false,
    "API 20: the pure video's download URL (valid 30 days)"
);
endpoint!(
    BATCH_CROP,
    "batch_crop",
    "/openapi/playback/batchCrop",
    false,
    "API 35: crop one playback into named segments (crop_info JSON)"
);
endpoint!(
    MERGE_PURE_VIDEO,
    "merge_pure_video",
    "/openapi/playback/mergePlaybackToPureVideo",
    false,
    "API 38: merge playbacks into one pure video"
);
endpoint!(
    MERGE_PURE_VIDEO_INFO,
    "merge_pure_video_info",
    "/openapi/playback/getMergePureVideoInfo",
    false,
    "API 39: download info of a merged pure video"
);
endpoint!(
    VOD_STATUS,
    "vod_get_status",
    "/openapi/video/getStatus",
    true,
    "VOD: a video's transcode status"
);
endpoint!(
    VOD_INFO,
    "vod_get_info",
    "/openapi/video/getInfo",
    true,
    "VOD: a video's info, including file_md5"
);
endpoint!(
    VOD_LIST,
    "vod_list",
    "/openapi/video/getVideoList",
    true,
    "VOD API-31: the account's videos, paged (page_size at most 1000), with status and total_size"
);
endpoint!(
    VOD_URL,
    "vod_get_url",
    "/openapi/video/getUrl",
    true,
    "VOD: a fresh play/download URL (valid 12 h)"
);
endpoint!(
    VOD_UPLOAD,
    "vod_get_upload_url",
    "/openapi/video/getUploadUrl",
    true,
    "VOD: an upload URL (answers code 1 for success)"
);
endpoint!(
    VOD_ACCOUNT_INFO,
    "vod_account_info",
    "/openapi/video_account/getAccountInfo",
    true,
    "VOD API-20: the account's package: storage, traffic used (counted once a day) and its monthly or total limit"
);
endpoint!(
    SET_TRANSCODE_CALLBACK,
    "set_transcode_callback_url",
    "/openapi/video_account/setTranscodeCallbackUrl",
    true,
    "VOD: set the transcode callback URL"
);
endpoint!(
    GET_TRANSCODE_CALLBACK,
    "get_transcode_callback_url",
    "/openapi/video_account/getTranscodeCallbackUrl",
    true,
    "VOD: the transcode callback URL"
);

/// Every Baijiayun endpoint creel calls.
pub const ENDPOINTS: [Endpoint; 18] = [
    PLAYBACK_INFO,
    PLAYBACK_LIST,
    CROP_LIST,
    PURE_VIDEO,
    SEGMENT_CROP,
    ROOM_PURE_VIDEO,
    PURE_VIDEO_URL,
    BATCH_CROP,
    MERGE_PURE_VIDEO,
    MERGE_PURE_VIDEO_INFO,
    VOD_STATUS,
    VOD_INFO,
    VOD_LIST,
    VOD_URL,
    VOD_UPLOAD,
    VOD_ACCOUNT_INFO,
    SET_TRANSCODE_CALLBACK,
    GET_TRANSCODE_CALLBACK,
];
