//! The properties the fuzz targets run: the same file the proptests of `just test` use, so
//! the two never drift apart.

#[path = "../../tests/src/properties.rs"]
pub mod properties;
