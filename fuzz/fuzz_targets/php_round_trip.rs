//! Fuzz target: `creel_fuzz::properties::php_round_trip` (see tests/src/properties.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    creel_fuzz::properties::php_round_trip(data);
});
