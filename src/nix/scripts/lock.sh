l=$1; mode=$2; run=$3; who=$4; lease=$5
umask 077
mine() { grep -qx "run=$run" "$l/owner" 2>/dev/null; }
case $mode in
  renew) if mine; then : > "$l/lease"; fi; exit 0 ;;
  release) if mine; then rm -rf "$l"; fi; exit 0 ;;
esac
mkdir -p "${l%/*}" || exit 1
i=0
while [ "$i" -lt 3 ]; do
  if mkdir "$l" 2>/dev/null; then
    printf 'run=%s\nwho=%s\nsince=%s\n' "$run" "$who" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$l/owner" &&
      : > "$l/lease" && echo taken && exit 0
    exit 1
  fi
  if mine; then : > "$l/lease"; echo taken; exit 0; fi
  # A lock whose lease nobody renewed for LEASE seconds lost its holder: take it over. The
  # rename is atomic, so of two runs that find it stale one takes it.
  renewed=$(stat -c %Y "$l/lease" 2>/dev/null || stat -c %Y "$l" 2>/dev/null || echo 0)
  age=$(($(date +%s) - renewed))
  if [ "$age" -lt 0 ]; then
    # A lease renewed in the future: the host's clock went back since. A live holder's next
    # renewal is in the clock's present; until one comes, its age counts from when a waiter
    # first saw it in the future.
    [ -e "$l/future" ] || : > "$l/future"
    age=$(($(date +%s) - $(stat -c %Y "$l/future" 2>/dev/null || date +%s)))
  else
    rm -f "$l/future"
  fi
  if [ "$age" -gt "$lease" ]; then
    if mv "$l" "$l.stale-$$" 2>/dev/null; then
      echo "fleet: took over a deploy lock its holder left: $(tr '\n' ' ' < "$l.stale-$$/owner" 2>/dev/null)"
      rm -rf "$l.stale-$$"
    fi
  else
    # Who holds it, and what keeps it alive: its run's fleet, or that run's watchdog.
    cat "$l/owner" 2>/dev/null
    echo "renewed_ago=$age"
    run_dir=$(sed -n 's/^run=//p' "$l/owner" 2>/dev/null)
    [ -z "$run_dir" ] || echo "watchdog=$(cat "$run_dir/watchdog" 2>/dev/null)"
    exit 75
  fi
  i=$((i + 1))
done
exit 1
