# What switching to the system "$1" (its closure already in this store) would change, as far
# as can be known without activating it: a `reboot FILE` line for each of the kernel, initrd
# and kernel modules that differ from the booted system's (as NixOS decides a reboot is
# needed), then the store paths only the running system's closure has (`- PATH`) and only the
# new one's (`+ PATH`), for the package diff; and `inhibited KEY: OLD -> NEW[; ...]` when the
# new system's switch-inhibitors changed from the running one's as NixOS decides it (see
# `inhibitors`; NixOS 25.11 refuses a live switch then).
new=$1
for f in kernel initrd kernel-modules; do
  b=$(readlink -e "/run/booted-system/$f" 2>/dev/null)
  n=$(readlink -e "$new/$f" 2>/dev/null)
  [ "$b" = "$n" ] || echo "reboot $f"
done
said=$(inhibitor_changes "$(readlink -f /run/current-system)/switch-inhibitors" "$new/switch-inhibitors" | sed 's/$/; /' | tr -d '\n' | sed 's/; $//')
[ -z "$said" ] || echo "inhibited $said"
old=$(readlink -f /run/current-system) || exit 1
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
nix-store -qR "$old" | sort > "$t/old" || exit 1
nix-store -qR "$new" | sort > "$t/new" || exit 1
comm -23 "$t/old" "$t/new" | sed 's/^/- /'
comm -13 "$t/old" "$t/new" | sed 's/^/+ /'
