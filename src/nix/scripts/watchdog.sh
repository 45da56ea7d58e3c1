d=$1; secs=$2; start_limit=$3; activation_limit=$4
umask 077
profile=/nix/var/nix/profiles/system
link=$(readlink "$profile") || {
  echo "fleet: $profile is not a profile link, so there is nothing to roll back to" >&2; exit 1; }
gen=${link##*/}; gen=${gen#system-}; gen=${gen%-link}
case $gen in
  ''|*[!0-9]*) echo "fleet: cannot tell the generation of $profile ($link)" >&2; exit 1 ;;
esac
mkdir -p "$d" && rm -f "$d/started" "$d/exit" "$d/confirmed" "$d/rollback" "$d/rollback-exit" || exit 1
echo "$gen" > "$d/previous" && echo armed > "$d/watchdog" || exit 1
watch='d=$1; secs=$2; start_limit=$3; activation_limit=$4; gen=$5
profile=/nix/var/nix/profiles/system
wait_for() {
  i=0
  while [ ! -e "$2" ] && [ "$i" -lt "$1" ]; do
    if [ "${3:-}" = or-rollback ] && [ -e "$d/rollback" ]; then return; fi
    sleep 1; i=$((i + 1))
  done
}
wait_for "$start_limit" "$d/started" or-rollback
[ -e "$d/started" ] && wait_for "$activation_limit" "$d/exit"
[ -e "$d/exit" ] && wait_for "$secs" "$d/confirmed" or-rollback
if [ -e "$d/confirmed" ] && [ ! -e "$d/rollback" ]; then echo confirmed > "$d/watchdog"; exit 0; fi
echo rolling-back > "$d/watchdog"
now=$(readlink "$profile")
if [ "${now##*/}" = "system-$gen-link" ] && [ "$(readlink -f /run/current-system)" = "$(readlink -f "$profile")" ]; then
  echo "nothing to undo: generation $gen is the profile and runs" > "$d/rollback.log"; code=0
else
  { nix-env -p "$profile" --switch-generation "$gen" && "$profile/bin/switch-to-configuration" switch; } > "$d/rollback.log" 2>&1
  code=$?
fi
echo rolled-back > "$d/watchdog"
echo "$code" > "$d/rollback-exit.new" && mv "$d/rollback-exit.new" "$d/rollback-exit"'
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  exec systemd-run --quiet --collect --setenv=PATH="$PATH" --unit="fleet-watchdog-${d##*/}" \
    /bin/sh -c "$watch" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen"
fi
setsid /bin/sh -c "$watch" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen" < /dev/null > /dev/null 2>&1 &
