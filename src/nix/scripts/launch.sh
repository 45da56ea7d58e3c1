d=$1; system=$2; action=$3; flags=${4:--}
umask 077
if [ ! -x "$system/bin/switch-to-configuration" ]; then
  echo "fleet: $system/bin/switch-to-configuration is missing or not executable" >&2
  exit 127
fi
pre "$system" "$action" "$flags"
mkdir -p "$d" && rm -f "$d/exit" "$d/log" && : > "$d/started" || exit 1
run='"$2/bin/switch-to-configuration" "$3" > "$1/log" 2>&1; echo $? > "$1/exit.new" && mv "$1/exit.new" "$1/exit"'
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  set --
  for e in $envs; do set -- "$@" "--setenv=$e"; done
  # systemd expands ${...} and $WORD in a unit's command line: every $ is doubled.
  systemd-run --quiet --collect --setenv=PATH="$PATH" "$@" --unit="fleet-activate-${d##*/}" \
    /bin/sh -c "$(printf '%s' "$run" | sed 's/[$]/$$/g')" fleet-activate "$d" "$system" "$action" && exit 0
  # Not launched: say so where the activation's end is awaited, so nothing waits for it.
  code=$?; echo "$code" > "$d/exit"; exit "$code"
fi
# shellcheck disable=SC2086 # envs is NAME=VALUE words, none with a space
env $envs setsid /bin/sh -c "$run" fleet-activate "$d" "$system" "$action" < /dev/null > /dev/null 2>&1 &
