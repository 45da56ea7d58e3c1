# Runs "$@" tied to fleet's run: standard input is the SSH channel, which fleet holds open
# while the command runs. If fleet dies (even by SIGKILL), the channel closes, input ends,
# and the command is ended, so no copy or build of a dead run goes on holding the store's
# locks (a command that does not end on SIGTERM, like an evaluation deep in a loop, gets
# SIGKILL ten seconds later). Its exit status is the command's.
# With -S first, "$@" is a sudo that reads a password (-S), and the first line of input is
# that password: read by the shell's own read and written by its own printf, it is in no
# argv and no environment. Where sudo wants none (NOPASSWD), it is not given at all, so the
# command can never read it.
if [ "$1" = -S ]; then
  shift
  IFS= read -r p || exit 1
fi
exec 3<&0 </dev/null
if [ -z "${p+set}" ] || sudo -n -k true 2>/dev/null; then
  unset p
  "$@" &
else
  printf '%s\n' "$p" | "$@" &
  unset p
fi
c=$!
{ cat <&3 >/dev/null 2>&1; kill -TERM "$c" 2>/dev/null; sleep 10; kill -KILL "$c" 2>/dev/null; } &
w=$!
exec 3<&-
wait "$c"
rc=$?
kill "$w" 2>/dev/null
exit "$rc"
