# Runs the activation on the machine fleet runs on, as nixos-rebuild does: where systemd runs,
# in a transient unit of its own (a logout or a restarted display manager cannot kill it
# half-way), its output piped back and its exit code returned; else directly.
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  exec systemd-run --quiet --collect --pipe --wait --service-type=exec \
    --setenv=PATH="$PATH" --unit=fleet-switch-to-configuration -- "$@"
fi
exec "$@"
