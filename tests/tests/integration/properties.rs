//! The fuzz properties of `creel_tests::properties`, run briefly with proptest in `just test`
//! (`just fuzz` runs the same properties under libFuzzer for longer). Inputs are bytes, and
//! also bytes shaped like the real thing (JSON bodies, forms, templates), so the short run
//! reaches past the first parse.

use creel_tests::properties;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9:/._ -]{0,12}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("kind".to_owned()),
                    Just("payload".to_owned()),
                    Just("url".to_owned()),
                    Just("profile".to_owned()),
                    Just("status".to_owned()),
                    Just("taskId".to_owned()),
                    Just("data".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    value.prop_map(|v| v.to_string().into_bytes())
}

fn bytes_or_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..256), json_like()]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn vendor_answers_never_panic(data in bytes_or_json()) {
        properties::vendor_answers(&data);
    }

    #[test]
    fn callbacks_verify_exactly_when_signed_and_unambiguous(
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            "([a-z_&=]{1,8}=[a-z0-9&=%]{0,8}&){0,6}".prop_map(String::into_bytes),
        ]
    ) {
        properties::callbacks(&data);
    }

    #[test]
    fn job_requests_are_refused_naming_a_field(data in bytes_or_json()) {
        let validator = creel_jobs::Validator::new(properties::request_config());
        properties::job_request(&data, &validator);
    }

    #[test]
    fn php_values_round_trip(data in prop::collection::vec(any::<u8>(), 0..200)) {
        properties::php_round_trip(&data);
    }

    #[test]
    fn object_key_templates_stay_inside_the_profile(
        data in prop_oneof![
            "[a-z{}_./-]{0,40}".prop_map(String::into_bytes),
            "(\\{job_id\\}|\\{kind\\}|\\{date\\}|\\{account\\}|[a-z]{1,3}|/|\\.){0,8}".prop_map(String::into_bytes),
        ]
    ) {
        properties::object_keys(&data);
    }
}
