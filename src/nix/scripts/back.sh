profile=/nix/var/nix/profiles/system
running=$(readlink -f /run/current-system)
# The generation that runs (the newest of those that point at the running system), then the
# newest one before it: after a rollback cut short, a retry goes to the same one.
ran=""
for l in "$profile"-*-link; do
  n=${l##*/system-}; n=${n%-link}
  case $n in ''|*[!0-9]*) continue ;; esac
  if [ "$(readlink -f "$l")" = "$running" ]; then
    if [ -z "$ran" ] || [ "$n" -gt "$ran" ]; then ran=$n; fi
  fi
done
if [ -z "$ran" ]; then exec nix-env -p "$profile" --rollback; fi
to=""
for l in "$profile"-*-link; do
  n=${l##*/system-}; n=${n%-link}
  case $n in ''|*[!0-9]*) continue ;; esac
  if [ "$n" -lt "$ran" ]; then
    if [ -z "$to" ] || [ "$n" -gt "$to" ]; then to=$n; fi
  fi
done
if [ -z "$to" ]; then
  echo "fleet: generation $ran, which runs, is the oldest there is: nothing to roll back to" >&2
  exit 1
fi
exec nix-env -p "$profile" --switch-generation "$to"
