# Runs the activation on the machine fleet runs on, as nixos-rebuild does: where systemd runs,
# in a transient unit of its own (a logout or a restarted display manager cannot kill it
# half-way), its output piped back and its exit code returned; else directly. Arguments:
# SYSTEM ACTION FLAGS (see `pre`).
system=$1; action=$2
pre "$system" "$action" "${3:--}"
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  set --
  for e in $envs; do set -- "$@" "--setenv=$e"; done
  exec systemd-run --quiet --collect --pipe --wait --service-type=exec \
    --setenv=PATH="$PATH" "$@" --unit=fleet-switch-to-configuration -- \
    "$system/bin/switch-to-configuration" "$action"
fi
# shellcheck disable=SC2086 # envs is NAME=VALUE words, none with a space
exec env $envs "$system/bin/switch-to-configuration" "$action"
