//! Fuzz target: `creel_fuzz::properties::job_request` (see tests/src/properties.rs), against
//! the validator of a configuration with every vendor and a storage profile.
#![no_main]

use std::sync::LazyLock;

static VALIDATOR: LazyLock<creel_jobs::Validator> =
    LazyLock::new(|| creel_jobs::Validator::new(creel_fuzz::properties::request_config()));

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    creel_fuzz::properties::job_request(data, &*VALIDATOR);
});
