//! Cross-crate property tests for bda live in `tests/`; this library is empty.
