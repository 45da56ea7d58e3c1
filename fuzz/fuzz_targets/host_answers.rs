//! Any bytes as a host's answer: every parser of what hosts say (their state, generations,
//! disk space, settings, versions, a preview's dry run and diff) must answer, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fleet::fuzzing::host_answers(&String::from_utf8_lossy(data));
});
