# fleet lab fixture: NixOS-shaped systems without nixpkgs (nothing can be downloaded here).
# Each host's settings live in hosts.json, which the lab writes and tests edit:
#   version           changes the system's out path (a new generation)
#   payload_kib/seed  size and identity of the system's payload package (a separate store path)
#   activation_sleep  seconds switch-to-configuration takes
#   activation_exit   its exit code (NixOS exits 4 when units failed, after switching)
#   lockout           activating it locks root's SSH key out (for rollback tests)
#   healthy           the system's `health` file says "ok" (true) or "failing" (for health checks)
#   build_fail        the build itself fails
#   odd_output        the build and the activation print a byte that is not UTF-8, then
#                     plenty more (a reader that stops there would block the writer)
#   escape_output     the activation prints terminal escape sequences (a title, a cleared
#                     screen, the clipboard), as a hostile host's output could
#   fake_success      switch-to-configuration exits 0 and changes nothing, as a broken or
#                     compromised host could say it worked
#   build_sleep       seconds the build takes (its process id is left in the lab directory)
#   restarts_sshd     (systemd hosts) switching restarts ssh.service, as NixOS does when sshd's
#                     config changed: open logins stay, new ones are refused for a moment
#   drops_logins      (systemd hosts) switching ends every SSH login, as a network restart does
#   serves_cache      (systemd hosts) the system has nix-serve.service, the lab's cache server
#                     on port 5000, changed (so restarted by the switch) with every version
#   restarts_cache    switching it restarts the builder's cache service, away for that many
#                     seconds, as a NixOS switch restarts nix-serve when its unit changed
#   kernel            the kernel's version: its own store path, linked as the system's
#                     `kernel` (a new one means a reboot, as NixOS compares it with the booted)
#   helper_feature    the system has a part (linked as `helper-part`) that requires this system
#                     feature, which only the builder's helper has: Nix's distributed builds
#                     must build it there; it records the host it was built on
#   eval_ms           about that many milliseconds of CPU evaluating this host's system costs
#                     (a real NixOS configuration: seconds), forced by its toplevel
#   eval_mb           about that many MB evaluating it holds (a real one: hundreds to 1000)
#   eval_error        evaluating it fails with this message, as a typo in its configuration
#                     would (the other hosts' evaluations are not touched)
#   eval_error_depth  that many calls deep (a long --show-trace); default 0
#   inhibitors        the system's switch-inhibitors: an object of strings, or a string for
#                     { systemd = STRING; } (default "systemd 257"), written as JSON, as
#                     NixOS 25.11 does; a live switch (or test) is refused when a key both
#                     the running and the new system have changes, unless NIXOS_NO_CHECK=1
#   precheck          the lab's own pre-switch check fails with this message (default:
#                     passes): every action but dry-activate, and `check`, fail before
#                     changing anything, as NixOS's do
#   specialisations   names of the system's specialisations (default none): each its own
#                     system (a store path, as on NixOS), linked as `specialisation/NAME`;
#                     its switch leaves the boot default at the profile's system
#   parts             the system is built from that many parts besides its payload, as a real
#                     one is from many derivations: each its own store path (in the closure,
#                     linked under `parts/`) of part_kib KiB that takes part_sleep seconds to
#                     build (default 0 parts; 64 KiB; 0 s); parts_seed renews them
# and, for the whole fleet, eval_cost: about that many milliseconds of work every evaluation
# process does once, whatever the number of hosts, as importing nixpkgs is (0 in tests; the
# benchmark models a real import).
{
  description = "fleet lab fixture systems";
  outputs = { self }:
    let
      settings = builtins.fromJSON (builtins.readFile ./hosts.json);
      inherit (settings) system;
      # Forced once per evaluation process and shared by every host, as nixpkgs is; it does
      # not change any derivation.
      # eval_cost is roughly milliseconds of work on the lab machine.
      work = ms: builtins.foldl'
        (acc: _: acc + builtins.foldl' builtins.add 0 (builtins.genList (x: x) 8000))
        0 (builtins.genList (x: x) ms);
      shared = work (settings.eval_cost or 0);
      # A host's own evaluation: its CPU, the memory it holds, or its error. Forced by its
      # toplevel only, so one host's cost or error is its own, as with real configurations.
      hostEval = s:
        if (s.eval_error or "") != "" then deep (s.eval_error_depth or 0) s.eval_error
        else work (s.eval_ms or 0);
      # An error as deep in the evaluation as eval_error_depth calls: with --show-trace, Nix
      # prints a frame for each, after its message (2.8) or before it (newer Nix).
      deep = n: message: if n == 0 then throw message else builtins.seq (deep (n - 1) message) null;
      # What a host's evaluation holds: kept by its toplevel (as a real configuration's module
      # system keeps its values), so one process that evaluates many hosts holds them all.
      hostMemory = s: builtins.genList (x: "${toString x}") ((s.eval_mb or 0) * 6000);
      payload = name: s: derivation {
        name = "lab-payload-${name}-${s.payload_seed}";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" "mkdir -p $out/share && head -c $size /dev/urandom > $out/share/payload.bin" ];
        PATH = "/usr/bin:/bin";
        size = toString (s.payload_kib * 1024);
      };
      kernel = s: derivation {
        name = "linux-${s.kernel or "6.6.1"}";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" "mkdir -p $out && echo \"lab kernel $version\" > $out/bzImage" ];
        PATH = "/usr/bin:/bin";
        version = s.kernel or "6.6.1";
      };
      helperPart = name: s: derivation {
        name = "lab-helper-part-${name}-${s.version}";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" "mkdir -p $out && cat /proc/sys/kernel/hostname > $out/built-on" ];
        PATH = "/usr/bin:/bin";
        requiredSystemFeatures = [ s.helper_feature ];
      };
      # The system's parts: `parts` derivations, each built on its own (Nix counts them).
      parts = name: s: builtins.genList (i: derivation {
        name = "lab-part-${name}-${s.parts_seed or s.payload_seed}-${toString i}";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" ''
          echo "lab: building part ${toString i} of the system of ${name}" >&2
          sleep "$partSleep"
          head -c "$size" /dev/urandom > $out
        '' ];
        PATH = "/usr/bin:/bin";
        size = toString ((s.part_kib or 64) * 1024);
        partSleep = toString (s.part_sleep or 0);
      }) (s.parts or 0);
      # A system: the host's toplevel (spec "") with its specialisations, or one of them.
      systemOf = name: s: spec: specs: derivation {
        name = "nixos-system-${name}-${s.version}" + (if spec == "" then "" else "-specialisation-${spec}");
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" (builtins.readFile ./build-system.sh) ];
        PATH = "/usr/bin:/bin";
        # As NixOS's toplevel: built where it is asked for, not handed to a build machine.
        preferLocalBuild = true;
        payload = payload name s;
        kernel = kernel s;
        helperPart = if (s.helper_feature or "") != "" then helperPart name s else "";
        parts = parts name s;
        specialisation = spec;
        specialisations = map (n: "${n}=${systemOf name s n [ ]}") specs;
        hostName = name;
        inherit (s) version;
        activationSleep = toString s.activation_sleep;
        activationExit = toString s.activation_exit;
        lockout = if s.lockout then "1" else "";
        health = if s.healthy or true then "ok" else "failing";
        buildFail = if s.build_fail then "1" else "";
        restartsCache = toString (s.restarts_cache or 0);
        oddOutput = if s.odd_output or false then "1" else "";
        escapeOutput = if s.escape_output or false then "1" else "";
        fakeSuccess = if s.fake_success or false then "1" else "";
        buildSleep = toString (s.build_sleep or 0);
        inhibitors = let i = s.inhibitors or "systemd 257"; in
          builtins.toJSON (if builtins.isAttrs i then i else { systemd = i; });
        precheck = s.precheck or "";
        restartsSshd = if s.restarts_sshd or false then "1" else "";
        dropsLogins = if s.drops_logins or false then "1" else "";
        servesCache = if s.serves_cache or false then "1" else "";
        labDir = settings.lab_dir or "/var/lib/fleet-lab";
        switchScript = builtins.readFile ./switch-to-configuration.sh;
      };
      toplevel = name: s: let memory = hostMemory s; in
        builtins.seq shared (builtins.seq (hostEval s) (builtins.deepSeq memory
          ((systemOf name s "" (s.specialisations or [ ])) // { evalMemory = memory; })));
    in {
      nixosConfigurations = builtins.mapAttrs
        (name: s: { config.system.build.toplevel = toplevel name s; })
        settings.hosts;
    };
}
