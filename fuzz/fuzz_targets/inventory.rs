//! Any text as hosts.toml: the loader must answer with an inventory or an error it can render,
//! and never panic, whatever the bytes (spans at odd places, hostile names, huge numbers).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    fleet::fuzzing::inventory(text);
});
