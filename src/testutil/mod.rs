//! Test doubles (feature `test-util`).
