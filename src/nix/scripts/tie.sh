# Runs "$@" tied to fleet's run: standard input is the SSH channel, which fleet holds open
# while the command runs. If fleet dies (even by SIGKILL), the channel closes, input ends,
# and the command is ended, so no copy or build of a dead run goes on holding the store's
# locks. Its exit status is the command's.
exec 3<&0 </dev/null
"$@" &
c=$!
{ cat <&3 >/dev/null 2>&1; kill -TERM "$c" 2>/dev/null; } &
w=$!
exec 3<&-
wait "$c"
rc=$?
kill "$w" 2>/dev/null
exit "$rc"
