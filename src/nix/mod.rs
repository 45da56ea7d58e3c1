//! The argv of every nix command fleet runs, written once. These are the commands NixOS and
//! nixos-rebuild use themselves, in the forms Nix 2.8 understands (no `--print-out-paths`).

mod activation;
pub mod progress;

pub use activation::*;

use crate::vocab::{Action, Arg, NixOptions, NixVersion, Probe};

/// The system profile, as NixOS lays it out.
pub const SYSTEM_PROFILE: &str = "/nix/var/nix/profiles/system";
/// A store path no cache has: asking a cache for it shows whether the cache answers.
pub const REACH_PROBE_PATH: &str = "/nix/store/00000000000000000000000000000000-fleet-reach-probe";

/// Where a builder keeps its GC roots for the systems it built, below the deploy user's home:
/// one link per host, replaced by the next build, so a garbage collection on the builder
/// does not take a system its targets have yet to fetch.
pub const BUILDER_ROOTS: &str = ".local/state/fleet/gcroots";

/// The GC root that keeps `host`'s system where it was built: `BUILDER_ROOTS/HOST`, with a
/// name short enough for Nix to make it (it writes a temporary link beside it, whose name is
/// longer): a long host name is cut, with a hash of the whole name so names stay apart.
pub fn gc_root(host: &str) -> String {
    const KEPT: usize = 100;
    if host.len() <= KEPT {
        return format!("{BUILDER_ROOTS}/{host}");
    }
    // FNV-1a: stable across runs and machines, which the std hasher is not.
    let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    // Host names are ASCII (names::is_identifier), so any byte is a boundary.
    format!("{BUILDER_ROOTS}/{}-{hash:016x}", &host[..KEPT - 17])
}

/// The running system, as NixOS links it.
pub const CURRENT_SYSTEM: &str = "/run/current-system";

/// What a build, a fetch or a copy reports as it goes: Nix's progress as JSON lines, which
/// `progress::Activities` follows (and turns back into the lines Nix would have printed).
const PROGRESS: [&str; 2] = ["--log-format", "internal-json"];

fn lits(words: &[&str]) -> Vec<Arg> {
    words.iter().map(|w| Arg::from(*w)).collect()
}

/// `nix` with flakes enabled whatever the machine's nix.conf says.
fn nix(args: &[&str]) -> Vec<Arg> {
    let mut argv = lits(&["nix", "--extra-experimental-features", "nix-command flakes"]);
    argv.extend(lits(args));
    argv
}

/// The flake's metadata as JSON: its `locked.narHash` covers every byte of its source and
/// lock file (a dirty git tree's too), which keys fleet's evaluation cache.
pub fn flake_metadata(flake: &str) -> Vec<Arg> {
    let mut argv = nix(&["flake", "metadata", "--json"]);
    argv.push(flake.into());
    argv
}

/// One host's evaluation, a `nix eval` of its own: its system's `drv` and `out` paths, and
/// `names`, the configurations the flake has (so a host without one is told what there is,
/// not "attribute missing", and `validate` can name configurations without a host). Each host in a process of its own: its
/// error is its own, hosts evaluate side by side, and no process holds more than one host's
/// evaluation. The attribute is a checked identifier, so quoting it in Nix is safe.
pub fn eval_system(configurations: Arg, attribute: &str, options: &NixOptions) -> Vec<Arg> {
    let apply = format!(
        "c: {{ names = builtins.attrNames c; }} // (if c ? \"{attribute}\" then \
         (let t = c.\"{attribute}\".config.system.build.toplevel; \
         in {{ drv = t.drvPath; out = t.outPath; }}) else {{ }})"
    );
    let mut argv = nix(&["eval", "--json"]);
    argv.extend(options.for_evaluation().into_iter().map(Arg::from));
    argv.push(configurations);
    argv.push("--apply".into());
    argv.push(apply.into());
    argv
}

/// Send the derivations (not the outputs) to `store`, from this machine's store or `from`:
/// the builder gets the recipe only. Derivations need no signature.
pub fn copy_derivation(from: Option<Arg>, store: Arg, drv: Arg) -> Vec<Arg> {
    let mut argv = nix(&["copy", "--derivation"]);
    if let Some(from) = from {
        argv.extend(["--from".into(), from]);
    }
    argv.extend(["--to".into(), store, drv]);
    argv
}

/// Send the flake's source and every locked input to `store`; prints the source's store
/// path there as JSON (`{"path": ...}`). Covers `path:`, `git+file:` and a dirty tree, whose
/// uncommitted changes are in the source sent.
pub fn flake_archive(store: Arg, flake: &str) -> Vec<Arg> {
    let mut argv = nix(&["flake", "archive", "--json", "--to"]);
    argv.extend([store, flake.into()]);
    argv
}

/// On the machine that evaluates: its cores, its free memory in KiB, then which of the
/// `.drv` paths given (`cached`) it no longer has, one per line (see `facts::evaluator`).
pub fn read_evaluator(cached: Arg) -> Vec<Arg> {
    let mut argv = lits(&[
        "sh",
        "-c",
        "nproc; awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; exec nix-store --check-validity --print-invalid \"$@\"",
        "sh",
    ]);
    argv.push(cached);
    argv
}

/// Build (or substitute) a derivation's outputs in the local store of wherever this runs.
///
/// With `root`, the output is kept as an indirect GC root at that path (created with its
/// directories, replaced atomically); Nix 2.8 needs `--indirect` for a root outside
/// /nix/var/nix/gcroots, and newer Nix accepts it.
pub fn realise(drv: Arg, options: &NixOptions, root: Option<String>) -> Vec<Arg> {
    let mut argv = lits(&["nix-store", "--realise"]);
    argv.extend(lits(&PROGRESS));
    argv.extend(options.for_build().into_iter().map(Arg::from));
    if let Some(root) = root {
        argv.extend([Arg::from("--add-root"), root.into(), "--indirect".into()]);
    }
    argv.push(drv);
    argv
}

/// The Nix store of `address` over SSH, logged in to as `user` (else as ssh's config says).
pub fn ssh_ng_store(user: Option<&str>, address: &str) -> String {
    match user {
        Some(u) => format!("ssh-ng://{u}@{address}"),
        None => format!("ssh-ng://{address}"),
    }
}

/// One machine of Nix's `builders` setting (the format of `nix.buildMachines` and
/// `/etc/nix/machines`): `STORE SYSTEMS SSH-KEY JOBS SPEED FEATURES MANDATORY HOST-KEY`,
/// `-` where Nix's default (or the builder's ssh config) applies; `store` is the helper's
/// `ssh_ng_store`. The words are checked names, so no field can hold a space or a separator.
pub fn build_machine(store: &str, m: &crate::inventory::BuildMachine) -> String {
    let or_dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
    format!(
        "{store} {} - {} {} {} - -",
        or_dash(m.systems.join(",")),
        m.jobs.map_or("-".into(), |j| j.to_string()),
        m.speed.map_or("-".into(), |s| s.to_string()),
        or_dash(m.features.join(",")),
    )
}

/// The options that hand builds to `machines` (lines of `build_machine`) through Nix's own
/// scheduler, the helpers fetching what they need from their caches themselves rather than
/// through the builder. Nix takes `builders` only from a trusted user (root, or one in
/// `trusted-users`); its build hook then logs in to the helpers as the nix-daemon's user.
pub fn builders(machines: &[String]) -> Vec<Arg> {
    if machines.is_empty() {
        return Vec::new();
    }
    lits(&[
        "--option",
        "builders",
        &machines.join(" ; "),
        "--option",
        "builders-use-substitutes",
        "true",
    ])
}

/// Fetch `path`'s closure from a binary cache; signatures are checked against the fetching
/// machine's trusted keys.
///
/// The negative narinfo cache is off for this call: the target may have asked the cache for
/// this path before the builder had it, and Nix would otherwise trust that answer for an hour.
pub fn copy_from_cache(url: &str, path: Arg) -> Vec<Arg> {
    let mut argv = nix(&[
        "copy",
        PROGRESS[0],
        PROGRESS[1],
        "--option",
        "narinfo-cache-negative-ttl",
        "0",
        "--from",
        url,
    ]);
    argv.push(path);
    argv
}

/// Push `path`'s closure to `store`, letting the destination substitute what it can first.
///
/// Over SSH from one of the fleet's own stores, signatures are not asked for
/// (`--no-check-sigs`, as deploy-rs does): what a builder without a signing key (or this
/// machine) built has none. The destination's daemon honours that only for a trusted user
/// (root, or one in `trusted-users`), so the SSH login is the trust, as for nixos-rebuild's
/// copy; a cache's paths are still checked against the keys the target trusts.
pub fn copy_to(store: Arg, path: Arg) -> Vec<Arg> {
    let mut argv = nix(&[
        "copy",
        PROGRESS[0],
        PROGRESS[1],
        "--no-check-sigs",
        "--substitute-on-destination",
        "--to",
    ]);
    argv.extend([store, path]);
    argv
}

/// Copy `path`'s closure from one store to another, through the machine this runs on
/// (unsigned paths too, as `copy_to` says).
pub fn copy_between(from: Arg, to: Arg, path: Arg) -> Vec<Arg> {
    let mut argv = nix(&[
        "copy",
        PROGRESS[0],
        PROGRESS[1],
        "--no-check-sigs",
        "--substitute-on-destination",
        "--from",
    ]);
    argv.push(from);
    argv.push("--to".into());
    argv.extend([to, path]);
    argv
}

/// Fetch `path`'s closure from `store` into the local store (unsigned paths too, as
/// `copy_to` says).
pub fn copy_from_store(store: Arg, path: Arg) -> Vec<Arg> {
    let mut argv = nix(&[
        "copy",
        PROGRESS[0],
        PROGRESS[1],
        "--no-check-sigs",
        "--from",
    ]);
    argv.extend([store, path]);
    argv
}

/// `nix-env -p /nix/var/nix/profiles/system --set OUT`, as nixos-rebuild does.
pub fn set_system_profile(out: Arg) -> Vec<Arg> {
    let mut argv = lits(&["nix-env", "-p", SYSTEM_PROFILE, "--set"]);
    argv.push(out);
    argv
}

/// The system profile back to the generation before the one that runs (`nix-env
/// --switch-generation`; `--rollback` when what runs is no generation of it): unlike a plain
/// `--rollback`, a retry after a rollback cut short does not go one generation further.
pub fn rollback_system_profile() -> Vec<Arg> {
    activation::back()
}

/// Point the system profile at generation `n` (`fleet rollback --to N`); nix-env refuses a
/// generation that does not exist, changing nothing.
pub fn switch_system_generation(n: u32) -> Vec<Arg> {
    let mut argv = lits(&["nix-env", "-p", SYSTEM_PROFILE, "--switch-generation"]);
    argv.push(Arg::from(n.to_string()));
    argv
}

/// `SYSTEM/bin/switch-to-configuration ACTION`, where SYSTEM is a system's out path or the
/// system profile (after a rollback, the previous generation's, as `nixos-rebuild --rollback`).
pub fn switch_to_configuration(system: Arg, action: Action) -> Vec<Arg> {
    vec![
        system.with_suffix("/bin/switch-to-configuration"),
        action.as_str().into(),
    ]
}

/// The store path the machine is running now.
pub fn read_current_system() -> Vec<Arg> {
    lits(&["readlink", "-f", CURRENT_SYSTEM])
}

/// What a host runs, as `running=`, `generation=`, `profile=`, `booted=` and
/// `specialisation=` lines, in one command (one channel of the connection, not several):
/// `/run/current-system` resolved, the system profile's generation link (like
/// `system-42-link`), the store path that profile points at, the system the host booted, and
/// the name of the profile's specialisation the running system is, if it is one. A value that
/// cannot be read is empty; the command always succeeds where it runs.
pub fn read_state() -> Vec<Arg> {
    lits(&[
        "sh",
        "-c",
        "r=$(readlink -f \"$1\"); s=; for x in \"$2\"/specialisation/*; do [ -e \"$x\" ] && [ \"$(readlink -f \"$x\")\" = \"$r\" ] && s=${x##*/}; done; printf 'running=%s\\ngeneration=%s\\nprofile=%s\\nbooted=%s\\nspecialisation=%s\\n' \"$r\" \"$(readlink \"$2\")\" \"$(readlink -f \"$2\")\" \"$(readlink -f \"$3\")\" \"$s\"",
        "fleet-state",
        CURRENT_SYSTEM,
        SYSTEM_PROFILE,
        BOOTED_SYSTEM,
    ])
}

/// The system the host booted, as NixOS links it at boot.
pub const BOOTED_SYSTEM: &str = "/run/booted-system";

/// Prints the host's boot id, then asks systemd to reboot, without waiting for it (the
/// command returns while the host goes down).
pub fn reboot() -> Vec<Arg> {
    lits(&[
        "sh",
        "-c",
        "cat /proc/sys/kernel/random/boot_id && systemctl --no-block reboot",
        "fleet-reboot",
    ])
}

/// The host's boot id: a new one after each boot.
pub fn read_boot_id() -> Vec<Arg> {
    lits(&["cat", "/proc/sys/kernel/random/boot_id"])
}

/// Prints the system `specialisation` of `system` is (as the host resolves it), or fails,
/// naming the ones `system` has: before anything changes, so an unknown name changes nothing.
pub fn find_specialisation(system: Arg, specialisation: &str) -> Vec<Arg> {
    let mut argv = lits(&[
        "sh",
        "-c",
        "if [ -e \"$1/specialisation/$2\" ]; then readlink -f \"$1/specialisation/$2\"; else echo \"fleet: the new system has no specialisation $2 (it has: $(ls \"$1/specialisation\" 2>/dev/null | tr '\\n' ' '))\" >&2; exit 1; fi",
        "fleet-specialisation",
    ]);
    argv.extend([system, specialisation.into()]);
    argv
}

/// How long a rebooted host may take to answer again.
pub const REBOOT_LIMIT: u64 = 600;

/// The store path the system profile points at.
pub fn read_profile_system() -> Vec<Arg> {
    lits(&["readlink", "-f", SYSTEM_PROFILE])
}

/// What changes between the running system's closure and `host`'s new one: package versions
/// and sizes. Both must be in the store of the machine this runs on.
pub fn diff_closures(host: &str) -> Vec<Arg> {
    let mut argv = nix(&["store", "diff-closures", CURRENT_SYSTEM]);
    argv.push(Arg::out(host));
    argv
}

/// `nix flake check`, which evaluates (and builds) the flake's checks.
pub fn flake_check(flake: &str, options: &NixOptions) -> Vec<Arg> {
    let mut argv = nix(&["flake", "check"]);
    argv.extend(options.for_flake_check().into_iter().map(Arg::from));
    argv.push(flake.into());
    argv
}

/// Update all inputs, or just the named ones, in the form the Nix that runs it takes: from
/// 2.19, `nix flake update [INPUT...] --flake PATH` (a bare path there would be read as an
/// input name); before, `nix flake update PATH`, or `nix flake lock PATH --update-input INPUT`.
pub fn flake_update(
    flake: &str,
    inputs: &[String],
    options: &NixOptions,
    version: NixVersion,
) -> Vec<Arg> {
    let extra = options.for_flake_lock().into_iter().map(Arg::from);
    if version.flake_update_takes_inputs() {
        let mut argv = nix(&["flake", "update"]);
        argv.extend(extra);
        argv.extend(inputs.iter().map(|i| Arg::from(i.as_str())));
        argv.extend(["--flake".into(), flake.into()]);
        return argv;
    }
    if inputs.is_empty() {
        let mut argv = nix(&["flake", "update"]);
        argv.extend(extra);
        argv.push(flake.into());
        return argv;
    }
    let mut argv = nix(&["flake", "lock"]);
    argv.extend(extra);
    argv.push(flake.into());
    for input in inputs {
        argv.push("--update-input".into());
        argv.push(input.as_str().into());
    }
    argv
}

/// The command that answers a probe on a host. `cache_url` and `signed_path` are needed by
/// the cache probes only.
pub fn probe(probe: &Probe, cache_url: Option<&str>, signed_path: Option<Arg>) -> Vec<Arg> {
    // One attempt, short timeout: an unreachable cache is an answer, not something to retry.
    let quick = [
        "--option",
        "download-attempts",
        "1",
        "--option",
        "connect-timeout",
        "3",
    ];
    match probe {
        Probe::Running => read_current_system(),
        Probe::Booted => lits(&["readlink", "-f", "/run/booted-system"]),
        Probe::Profile => read_profile_system(),
        Probe::Specialisations => lits(&[
            "sh",
            "-c",
            "for s in \"$1\"/specialisation/*; do [ -e \"$s\" ] && printf '%s %s\\n' \"${s##*/}\" \"$(readlink -f \"$s\")\"; done; true",
            "fleet-specialisations",
            SYSTEM_PROFILE,
        ]),
        Probe::Generations => lits(&["nix-env", "-p", SYSTEM_PROFILE, "--list-generations"]),
        Probe::Settings => read_settings(),
        Probe::Space => lits(&["df", "-Pk", "/nix", "/boot"]),
        Probe::Uptime => lits(&["cat", "/proc/uptime"]),
        Probe::NixVersion => lits(&["nix", "--version"]),
        Probe::Systemd => lits(&["test", "-d", "/run/systemd/system"]),
        Probe::UnitActive(unit) => lits(&["systemctl", "is-active", unit]),
        // A narinfo lookup that must go to the network (no narinfo caching) for a path that
        // cannot exist: a cache that answers says "not valid". (`nix store ping` would trust
        // cache info Nix cached earlier, and pass for a cache that is down.)
        Probe::CacheReach(_) => {
            let mut argv = nix(&["path-info"]);
            argv.extend(lits(&quick));
            argv.extend(lits(&[
                "--option",
                "narinfo-cache-negative-ttl",
                "0",
                "--option",
                "narinfo-cache-positive-ttl",
                "0",
                "--store",
                cache_url.unwrap_or_default(),
                REACH_PROBE_PATH,
            ]));
            argv
        }
        Probe::CacheVerify(_) => {
            let mut argv = nix(&["store", "verify", "--no-contents"]);
            argv.extend(lits(&quick));
            argv.extend(lits(&["--store", cache_url.unwrap_or_default()]));
            argv.extend(signed_path);
            argv
        }
        Probe::Dead => lits(&["nix-store", "--gc", "--print-dead"]),
        Probe::Now => lits(&["date", "+%Y-%m-%d %H:%M:%S"]),
        Probe::Lock => read_lock(),
        // As the build hook will: over ssh-ng, no prompt (a prompt would hang a build).
        Probe::Helper(_) => lits(&[
            "env",
            "NIX_SSHOPTS=-o BatchMode=yes -o ConnectTimeout=5",
            "nix",
            "--extra-experimental-features",
            "nix-command",
            "store",
            "ping",
            "--store",
            cache_url.unwrap_or_default(),
        ]),
        Probe::GenerationLinks => lits(&[
            "find",
            "/nix/var/nix/profiles",
            "-maxdepth",
            "1",
            "-name",
            "system-*-link",
            "-printf",
            "%f %l\\n",
        ]),
    }
}

/// Delete these generations of the system profile (never the current one: nix-env refuses).
pub fn delete_generations(numbers: &[u32]) -> Vec<Arg> {
    let mut argv = lits(&["nix-env", "-p", SYSTEM_PROFILE, "--delete-generations"]);
    argv.extend(numbers.iter().map(|n| Arg::from(n.to_string())));
    argv
}

/// Collect garbage: delete every store path no root keeps alive.
pub fn collect_garbage() -> Vec<Arg> {
    lits(&["nix-store", "--gc"])
}

/// Copy a closure to any Nix store URL (a binary cache: `file://`, `s3://`, `ssh://`...).
pub fn copy_to_cache(url: &str, path: Arg) -> Vec<Arg> {
    let mut argv = nix(&["copy", PROGRESS[0], PROGRESS[1], "--to", url]);
    argv.push(path);
    argv
}

/// `cachix push NAME PATH`; the token comes from `CACHIX_AUTH_TOKEN` in the environment.
pub fn cachix_push(name: &str, path: Arg) -> Vec<Arg> {
    vec!["cachix".into(), "push".into(), name.into(), path]
}
