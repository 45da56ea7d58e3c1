//! Any text as hosts.toml: the loader must answer with an inventory or an error it can render,
//! and never panic, whatever the bytes (spans at odd places, hostile names, huge numbers).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match fleet::inventory::Inventory::parse(text, std::path::Path::new("/fuzz/hosts.toml")) {
        Ok(inv) => {
            // Whatever loads must be safe to plan with: every name passed the whitelist.
            for h in &inv.hosts {
                assert!(fleet::inventory::names::is_identifier(&h.name));
                for a in &h.addresses {
                    assert!(fleet::inventory::names::address_problem(a).is_none());
                }
                for check in &h.health_checks {
                    for (i, word) in check.iter().enumerate() {
                        assert!(fleet::inventory::names::check_word_problem(word, i).is_none());
                    }
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
