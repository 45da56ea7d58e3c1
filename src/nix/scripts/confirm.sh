d=$1
# The confirmation and the watchdog each try to decide the deployment's fate by making the
# directory "decided": mkdir is atomic, so exactly one of them does. The confirmation that
# wins stands the watchdog down at once (it needs no poll to notice); one that loses finds
# what the watchdog decided (its time ran out, or fleet asked it to roll back).
if [ -e "$d/retired" ]; then echo "fleet: a later run has taken over this host" >&2; exit 7; fi
if mkdir "$d/decided" 2>/dev/null; then
  : > "$d/confirmed" && echo confirmed > "$d/watchdog" || exit 1
  echo confirmed; exit 0
fi
i=0
while [ "$i" -lt 200 ]; do
  case $(cat "$d/watchdog" 2>/dev/null) in
    confirmed) echo confirmed; exit 0 ;;
    rolling-back|rolled-back) echo "fleet: too late, the host is rolling itself back" >&2; exit 5 ;;
    retired) echo "fleet: a later run has taken over this host" >&2; exit 7 ;;
  esac
  sleep 0.05; i=$((i + 1))
done
echo "fleet: the rollback watchdog did not answer" >&2
exit 6
