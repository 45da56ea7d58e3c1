d=$1
: > "$d/confirmed" || exit 1
i=0
while [ "$i" -lt 50 ]; do
  case $(cat "$d/watchdog" 2>/dev/null) in
    confirmed) echo confirmed; exit 0 ;;
    rolling-back|rolled-back) echo "fleet: too late, the host is rolling itself back" >&2; exit 5 ;;
    retired) echo "fleet: a later run has taken over this host" >&2; exit 7 ;;
  esac
  sleep 0.2; i=$((i + 1))
done
echo "fleet: the rollback watchdog did not answer" >&2
exit 6
