//! Host selectors from the command line: names and `@tag`s, resolved against the inventory.

use crate::error::Error;
use crate::inventory::{names, Host, Inventory};

/// What an empty selection means for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenEmpty {
    /// Every host of the inventory.
    All,
    /// Refused: the command needs at least one host.
    Refuse,
}

/// The hosts named by `selectors`, each once, in the order given (a tag expands in inventory
/// order). Every selector is checked before anything is returned.
pub fn select<'a>(
    inv: &'a Inventory,
    selectors: &[String],
    when_empty: WhenEmpty,
) -> Result<Vec<&'a Host>, Error> {
    if selectors.is_empty() {
        return match when_empty {
            WhenEmpty::All => Ok(inv.hosts.iter().collect()),
            WhenEmpty::Refuse => Err(Error::usage(
                "no host given",
                "name hosts or @tags, like `fleet deploy samsung` or `fleet deploy @laptop`",
            )),
        };
    }
    let mut chosen: Vec<&Host> = Vec::new();
    for selector in selectors {
        let matched: Vec<&Host> = match selector.strip_prefix('@') {
            Some(tag) => {
                check_name(selector, tag)?;
                let hosts: Vec<&Host> = inv
                    .hosts
                    .iter()
                    .filter(|h| h.tags.iter().any(|t| t == tag))
                    .collect();
                if hosts.is_empty() {
                    return Err(unknown_tag(inv, tag));
                }
                hosts
            }
            None => {
                check_name(selector, selector)?;
                vec![inv
                    .host(selector)
                    .ok_or_else(|| unknown_host(inv, selector, "host"))?]
            }
        };
        for h in matched {
            if !chosen.iter().any(|c| c.name == h.name) {
                chosen.push(h);
            }
        }
    }
    Ok(chosen)
}

fn check_name(selector: &str, name: &str) -> Result<(), Error> {
    if names::is_identifier(name) {
        Ok(())
    } else {
        Err(Error::usage(
            format!("`{}` is not a host name or @tag", selector.escape_debug()),
            "host names and tags use letters, digits, `.`, `_` and `-`; run `fleet hosts` to list them",
        ))
    }
}

/// The error for a host name the inventory does not have, with the likeliest one.
pub fn unknown_host(inv: &Inventory, name: &str, what: &str) -> Error {
    let all: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    let help = match names::closest(name, all.iter().copied()) {
        _ if inv.tags().contains(&name) => {
            format!("did you mean `@{name}`? (a tag; hosts: {})", all.join(", "))
        }
        Some(s) => format!("did you mean `{s}`? Hosts: {}", all.join(", ")),
        None if all.is_empty() => format!("{} defines no hosts yet", inv.source.display()),
        None => format!("hosts in {}: {}", inv.source.display(), all.join(", ")),
    };
    Error::usage(
        format!(
            "{what} `{}`: no such host in the inventory ({})",
            name.escape_debug(),
            inv.source.display()
        ),
        help,
    )
}

fn unknown_tag(inv: &Inventory, tag: &str) -> Error {
    let tags = inv.tags();
    let help = match names::closest(tag, tags.iter().copied()) {
        Some(s) => format!("did you mean `@{s}`?"),
        None if tags.is_empty() => "no host has tags yet; add `tags = [...]` to hosts".into(),
        None => format!(
            "tags in the inventory: {}",
            tags.iter()
                .map(|t| format!("@{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Error::usage(
        format!(
            "no host has the tag `@{tag}` in the inventory ({})",
            inv.source.display()
        ),
        help,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inv() -> Inventory {
        Inventory::parse(include_str!("../hosts.toml"), Path::new("/x/hosts.toml"))
            .expect("example")
    }

    fn names(hosts: Vec<&Host>) -> Vec<&str> {
        hosts.into_iter().map(|h| h.name.as_str()).collect()
    }

    fn sel(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_tags_and_all() {
        let inv = inv();
        assert_eq!(
            names(select(&inv, &[], WhenEmpty::All).expect("all")),
            ["p620", "p510", "razer", "samsung"]
        );
        assert_eq!(
            names(select(&inv, &sel(&["samsung", "@laptop"]), WhenEmpty::Refuse).expect("ok")),
            ["samsung", "razer"]
        );
        assert_eq!(
            names(select(&inv, &sel(&["@workstation"]), WhenEmpty::Refuse).expect("ok")),
            ["p620", "p510"]
        );
    }

    #[test]
    fn refusals() {
        let inv = inv();
        let e = select(&inv, &[], WhenEmpty::Refuse)
            .expect_err("empty")
            .to_string();
        assert!(e.contains("no host given"), "{e}");
        let e = select(&inv, &sel(&["samsng"]), WhenEmpty::Refuse)
            .expect_err("typo")
            .to_string();
        assert!(
            e.contains("host `samsng`: no such host in the inventory"),
            "{e}"
        );
        assert!(e.contains("did you mean `samsung`?"), "{e}");
        let e = select(&inv, &sel(&["@lapto"]), WhenEmpty::Refuse)
            .expect_err("tag")
            .to_string();
        assert!(
            e.contains("no host has the tag `@lapto`") && e.contains("did you mean `@laptop`?"),
            "{e}"
        );
        let e = select(&inv, &sel(&["$(reboot)"]), WhenEmpty::Refuse)
            .expect_err("hostile")
            .to_string();
        assert!(e.contains("`$(reboot)` is not a host name or @tag"), "{e}");
        let e = select(&inv, &sel(&["-oProxyCommand=x"]), WhenEmpty::Refuse)
            .expect_err("hostile")
            .to_string();
        assert!(e.contains("is not a host name or @tag"), "{e}");
    }
}
