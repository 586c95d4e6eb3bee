//! The entries `credential-process` runs share (src/process_cache.rs), which anyone with the
//! user's rights may have written: `parse_entry` on any bytes never panics, a refusal says
//! why, and an accepted entry expires after it was fetched, has an expiration, and writes
//! back as text that reads as the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::process_cache::{format_entry, parse_entry};

fuzz_target!(|data: &[u8]| {
    let entry = match parse_entry(data) {
        Ok(entry) => entry,
        Err(reason) => {
            assert!(!reason.to_string().is_empty());
            return;
        }
    };
    let expiration = entry.credentials.expiration.expect("an expiration");
    assert!(expiration > entry.fetched_at);
    let written = format_entry(&entry).expect("an entry with an expiration writes");
    let again = parse_entry(&written).expect("what was written reads back");
    assert_eq!(again, entry);
    assert_eq!(*format_entry(&again).expect("writes again"), *written);
});
