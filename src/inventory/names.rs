//! What counts as a safe name or address. These values end up in argv on remote machines,
//! so the rules are a whitelist, not a blacklist.

/// Host, tag, attribute, cache and user names: `[A-Za-z0-9][A-Za-z0-9._-]*`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Why `s` cannot be an SSH address, if it cannot.
///
/// Hostnames, IPv4 and IPv6 literals pass; anything ssh could read as an option (leading `-`),
/// or a shell could read as syntax, does not.
pub fn address_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("an address cannot be empty".into());
    }
    if s.starts_with('-') {
        return Some("an address cannot start with `-` (ssh would read it as an option)".into());
    }
    // `%` only as an IPv6 literal's zone (`fe80::1%eth0`): anywhere else ssh reads it as a
    // token to expand (`%d`, `%h`) in the options it is put into.
    let (host, zone) = match s.split_once('%') {
        Some((host, zone)) if host.contains(':') => (host, Some(zone)),
        Some(_) => {
            return Some(
                "an address may hold `%` only as an IPv6 address's zone, like fe80::1%eth0".into(),
            )
        }
        None => (s, None),
    };
    if let Some(c) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
    {
        return Some(format!(
            "an address may hold only letters, digits, `.`, `-`, `_` and `:` (IPv6), not {}",
            describe_char(c)
        ));
    }
    if let Some(zone) = zone {
        if !is_identifier(zone) {
            return Some(format!(
                "`{}` is not a network interface's name (after `%`)",
                zone.escape_debug()
            ));
        }
    }
    None
}

/// Why `s` cannot be a binary cache URL, if it cannot.
pub fn cache_url_problem(s: &str) -> Option<String> {
    const SCHEMES: [&str; 7] = ["http", "https", "file", "ssh", "ssh-ng", "s3", "local"];
    let Some((scheme, rest)) = s.split_once("://") else {
        return Some("a cache URL needs a scheme, like http://p620.lan:5000".into());
    };
    if !SCHEMES.contains(&scheme) {
        return Some(format!(
            "unknown scheme `{scheme}`; use one of {}",
            SCHEMES.join(", ")
        ));
    }
    if rest.is_empty() {
        return Some("the URL has nothing after the scheme".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "`$;|&<>\"'\\".contains(*c))
    {
        return Some(format!("a cache URL cannot hold {}", describe_char(c)));
    }
    // Nix hands an ssh:// store's host to ssh as a word of its own: a leading `-` (after any
    // `user@`) would be read as an option, like -oProxyCommand=...
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('-') || host.starts_with('-') {
        return Some(
            "a cache URL's host cannot start with `-` (ssh would read it as an option)".into(),
        );
    }
    None
}

/// Why `s` cannot be a Nix public key (`name:base64`), if it cannot.
pub fn public_key_problem(s: &str) -> Option<String> {
    let Some((name, key)) = s.split_once(':') else {
        return Some("a public key looks like `name:base64`, as printed by nix-store --generate-binary-cache-key".into());
    };
    if !is_identifier(name) {
        return Some(format!("the key name `{name}` is not a plain name"));
    }
    let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    if key.len() != 44 || !key.chars().all(base64) {
        return Some("the part after `:` should be 44 base64 characters (an ed25519 key)".into());
    }
    None
}

/// Why `s` cannot be a flake reference or path, if it cannot.
pub fn flake_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("the flake cannot be empty; use \".\" for the directory of hosts.toml".into());
    }
    if s.starts_with('-') {
        return Some("a flake reference cannot start with `-`".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Some(format!(
            "a flake reference cannot hold {}",
            describe_char(c)
        ));
    }
    if s.contains('#') {
        return Some(
            "name the flake only, without `#`: fleet picks each host's nixosConfigurations.HOST itself"
                .into(),
        );
    }
    None
}

/// Why `word` (the `index`th of a health check's argv) cannot be in it, if it cannot.
///
/// The words reach the host as argv, each quoted for its shell; still, nothing that a shell
/// would read as syntax is taken, so a check never means one thing here and another there.
/// The program cannot start with `-`; its arguments may (`--wait`).
pub fn check_word_problem(word: &str, index: usize) -> Option<String> {
    command_word_problem("a health check", word, index)
}

/// Why `word` (the `index`th of a command `what` names, like "a health check") cannot be one
/// of its argv words, if it cannot.
pub fn command_word_problem(what: &str, word: &str, index: usize) -> Option<String> {
    if word.is_empty() {
        return Some(format!("{what}'s words cannot be empty"));
    }
    if index == 0 && word.starts_with('-') {
        return Some(format!("{what}'s program cannot start with `-`"));
    }
    if let Some(c) = word
        .chars()
        .find(|c| c.is_control() || "`$;|&<>\"'\\(){}*?![]#~".contains(*c))
    {
        return Some(format!(
            "{what} cannot hold {} (its words are argv, not shell)",
            describe_char(c)
        ));
    }
    None
}

/// Why `name` cannot be a Nix setting's name (`--option NAME VALUE`), if it cannot.
pub fn nix_option_name_problem(name: &str) -> Option<String> {
    let plain = !name.is_empty()
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (!plain).then(|| {
        format!(
            "`{}` is not a nix setting's name (letters, digits and `-`, like max-jobs)",
            name.escape_debug()
        )
    })
}

/// Why `value` cannot be a Nix setting's value, if it cannot: one line, no control characters.
pub fn nix_option_value_problem(value: &str) -> Option<String> {
    value
        .chars()
        .find(|c| c.is_control())
        .map(|c| format!("a nix setting's value cannot hold {}", describe_char(c)))
}

/// A MAC address written `aa:bb:cc:dd:ee:ff` (or with `-`), as its six bytes.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return None;
    }
    for (byte, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

/// Names a character for an error message, spelling out the invisible ones.
pub fn describe_char(c: char) -> String {
    match c {
        '\n' => "a newline".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        '`' => "a backtick".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= c.len().max(word.len()).div_ceil(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["p620", "samsung", "a", "x.y_z-1", "9lives"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in [
            "", "-x", ".x", "_x", "a b", "a;b", "$(x)", "a\nb", "é", "a/b",
        ] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn addresses() {
        for ok in [
            "p620.lan",
            "p620.tail1234.ts.net",
            "10.0.0.2",
            "fe80::1%eth0",
            "host_1",
        ] {
            assert_eq!(address_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "-oProxyCommand=x",
            "a b",
            "a;b",
            "$(x)",
            "`x`",
            "a\nb",
            "a|b",
            "a@b",
            "p620%d",
            "%h",
            "fe80::1%",
            "fe80::1%eth0%x",
        ] {
            assert!(address_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn cache_urls_and_keys() {
        assert_eq!(cache_url_problem("http://p620.lan:5000"), None);
        assert_eq!(cache_url_problem("https://cache.nixos.org"), None);
        assert!(cache_url_problem("p620:5000").is_some());
        assert!(cache_url_problem("gopher://x").is_some());
        assert!(cache_url_problem("http://x;rm").is_some());
        assert_eq!(cache_url_problem("ssh://nix@p620.lan"), None);
        assert_eq!(cache_url_problem("http://p620:5000?priority=10"), None);
        for bad in [
            "ssh://-oProxyCommand=touch",
            "ssh-ng://nix@-oProxyCommand=x",
            "http://-x",
        ] {
            assert!(cache_url_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            public_key_problem("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="),
            None
        );
        assert!(public_key_problem("nokey").is_some());
        assert!(public_key_problem("x:short").is_some());
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("p62", ["p620", "samsung"]), Some("p620"));
        assert_eq!(
            closest("adresses", ["addresses", "user"]),
            Some("addresses")
        );
        assert_eq!(closest("nixso", ["nixos", "nix-community"]), Some("nixos"));
        assert_eq!(closest("zzzzzz", ["p620", "samsung"]), None);
        assert_eq!(closest("razer", ["samsung", "p510"]), None);
    }
}
