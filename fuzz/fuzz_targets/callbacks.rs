//! Fuzz target: `creel_fuzz::properties::callbacks` (see tests/src/properties.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    creel_fuzz::properties::callbacks(data);
});
