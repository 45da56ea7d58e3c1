# Run where a step failed because the Nix store is full: deletes what it left half-written,
# the store paths that have a lock file beside them and are not valid. `nix-store --delete`
# deletes nothing that is alive (valid and referenced, or being written by a running Nix),
# so nothing in use is touched.
n=0
for l in /nix/store/*.lock; do
  p=${l%.lock}
  [ -e "$p" ] || continue
  nix-store --check-validity "$p" >/dev/null 2>&1 && continue
  nix-store --delete "$p" >/dev/null 2>&1 && n=$((n + 1))
done
echo "fleet: deleted $n half-written store path(s)"
