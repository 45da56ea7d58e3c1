d=$1; secs=$2; start_limit=$3; activation_limit=$4
umask 077
profile=/nix/var/nix/profiles/system
link=$(readlink "$profile") || {
  echo "fleet: $profile is not a profile link, so there is nothing to roll back to" >&2; exit 1; }
gen=${link##*/}; gen=${gen#system-}; gen=${gen%-link}
case $gen in
  ''|*[!0-9]*) echo "fleet: cannot tell the generation of $profile ($link)" >&2; exit 1 ;;
esac
highest=$gen
for l in /nix/var/nix/profiles/system-*-link; do
  n=${l##*/system-}; n=${n%-link}
  case $n in ''|*[!0-9]*) continue ;; esac
  if [ "$n" -gt "$highest" ]; then highest=$n; fi
done
mkdir -p "$d" && rm -rf "$d/started" "$d/exit" "$d/confirmed" "$d/rollback" "$d/rollback-exit" "$d/retired" "$d/decided" || exit 1
# Earlier runs' directories older than a day are gone: no watchdog waits that long (its
# limits add up to about an hour), and /run/fleet would otherwise grow with every deploy
# since boot, and this scan with it.
find "${d%/*}" -mindepth 1 -maxdepth 1 -type d -mmin +1440 ! -name lock -exec rm -rf {} + 2>/dev/null
# This run now answers for the host: an older run's watchdog still waiting (its fleet died)
# stands down rather than undo this run's work later. (The shell's own read: no process a
# directory.)
for other in "${d%/*}"/*; do
  [ "$other" = "$d" ] && continue
  w=; [ -f "$other/watchdog" ] && read -r w < "$other/watchdog"
  if [ "$w" = armed ]; then
    : > "$other/retired" && echo "fleet: retired the watchdog of an earlier run (${other##*/}) that nobody confirmed"
  fi
done
echo "$gen" > "$d/previous" && echo armed > "$d/watchdog" || exit 1
watch='d=$1; secs=$2; start_limit=$3; activation_limit=$4; gen=$5; highest=$6
profile=/nix/var/nix/profiles/system
lock=/run/fleet/lock
# While it waits, the watchdog keeps the deploy lock of its run; a run that died leaves it to
# the watchdog, which gives it back when it is done.
held() { grep -qx "run=$d" "$lock/owner" 2>/dev/null; }
wait_for() {
  i=0
  while [ ! -e "$2" ] && [ "$i" -lt "$1" ] && [ ! -e "$d/retired" ]; do
    if [ "${3:-}" = or-rollback ] && [ -e "$d/rollback" ]; then return; fi
    if [ $((i % 5)) = 0 ] && held; then : > "$lock/lease"; fi
    sleep 0.2; i=$((i + 1))
  done
}
wait_for $((start_limit * 5)) "$d/started" or-rollback
[ -e "$d/started" ] && wait_for $((activation_limit * 5)) "$d/exit"
[ -e "$d/exit" ] && wait_for $((secs * 5)) "$d/confirmed" or-rollback
if [ -e "$d/retired" ]; then echo retired > "$d/watchdog"; if held; then rm -rf "$lock"; fi; exit 0; fi
# The confirmation and the watchdog race to make "decided" (see confirm.sh): a confirmation
# that made it has stood the watchdog down already.
if ! mkdir "$d/decided" 2>/dev/null; then exit 0; fi
now=$(readlink "$profile"); now=${now##*/}; now=${now#system-}; now=${now%-link}
# Only the generation of this run (the next after the highest when it was armed) is undone: a
# profile that moved past it belongs to a later run.
if [ -n "$highest" ] && [ "$now" -gt $((highest + 1)) ] 2>/dev/null; then
  echo "retired: the profile moved on to generation $now, past the one of this run" > "$d/rollback.log"
  echo retired > "$d/watchdog"; exit 0
fi
echo rolling-back > "$d/watchdog"
if [ "$now" = "$gen" ] && [ "$(readlink -f /run/current-system)" = "$(readlink -f "$profile")" ]; then
  echo "nothing to undo: generation $gen is the profile and runs" > "$d/rollback.log"; code=0
elif [ ! -e "$d/started" ]; then
  # The activation never began (refused by the host before it, or never launched): the
  # running system is untouched, so only the profile goes back, and the generation made
  # for it goes.
  { nix-env -p "$profile" --switch-generation "$gen" && if [ "$now" = $((highest + 1)) ]; then nix-env -p "$profile" --delete-generations "$now"; fi; } > "$d/rollback.log" 2>&1
  code=$?
else
  # The generation this run made (the one after the highest when it was armed; a rollback
  # makes none) was rejected: it goes from the profile (as deploy-rs does), before the
  # switch back writes the boot menu, so neither a later rollback nor the boot menu offers it.
  { nix-env -p "$profile" --switch-generation "$gen" && if [ "$now" = $((highest + 1)) ]; then nix-env -p "$profile" --delete-generations "$now"; fi && "$profile/bin/switch-to-configuration" switch; } > "$d/rollback.log" 2>&1
  code=$?
fi
echo rolled-back > "$d/watchdog"
echo "$code" > "$d/rollback-exit.new" && mv "$d/rollback-exit.new" "$d/rollback-exit"
if held; then rm -rf "$lock"; fi'
if [ -d /run/systemd/system ] && command -v systemd-run > /dev/null; then
  # systemd expands ${...} (and $WORD) in a unit's command line: every $ is doubled, so the
  # shell there gets the script as written.
  exec systemd-run --quiet --collect --setenv=PATH="$PATH" --unit="fleet-watchdog-${d##*/}" \
    /bin/sh -c "$(printf '%s' "$watch" | sed 's/[$]/$$/g')" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen" "$highest"
fi
setsid /bin/sh -c "$watch" fleet-watchdog "$d" "$secs" "$start_limit" "$activation_limit" "$gen" "$highest" < /dev/null > /dev/null 2>&1 &
