#!/bin/sh
# fleet lab: behaves like NixOS's switch-to-configuration for what fleet relies on.
#   switch: boot entry + /run/current-system;  boot: boot entry only;
#   test: /run/current-system only;  dry-activate: changes nothing.
# Every call is logged in /nix/var/lab/activations.log on the host.
out=@out@
action="${1:-}"
state=/nix/var/lab
mkdir -p "$state"
log() { echo "$(date +%s.%N) $1 $out" >> "$state/activations.log"; }
case "$action" in
  switch|boot|test|dry-activate) ;;
  *) echo "Usage: $0 [switch|boot|test|dry-activate]" >&2; exit 1 ;;
esac
log "start-$action"
if [ "$action" = dry-activate ]; then
  echo "would activate $out"
  log "end-$action 0"
  exit 0
fi
if [ "$action" = switch ] || [ "$action" = boot ]; then
  echo "updating the boot entry"
  mkdir -p "$state/boot"
  ln -sfn "$out" "$state/boot/default"
fi
if [ "$action" = boot ]; then
  log "end-$action 0"
  exit 0
fi
echo "activating the configuration..."
if [ -n "@odd@" ]; then
  printf 'setting up /etc: an odd byte \377 in a file name\n'
fi
sleep @sleep@
ln -sfn "$out" /run/current-system
if [ "@restartsCache@" != 0 ]; then
  # The builder's cache service restarts with the switch (nix-serve.service changed): it is
  # away meanwhile. The lab's helper stops it, waits, and starts it again.
  echo "restarting nix-serve.service"
  log "cache-down"
  @labDir@/bin/restart-cache @restartsCache@
  log "cache-up"
fi
keys=/root/.ssh/authorized_keys
if [ -n "@lockout@" ]; then
  # A configuration that locks the deployer out, as a broken sshd or users.users change would.
  [ -f "$keys" ] && mv "$keys" "$keys.locked-out"
else
  [ -f "$keys.locked-out" ] && mv "$keys.locked-out" "$keys"
fi
code=@exit@
if [ "$code" != 0 ]; then
  echo "warning: the following units failed: lab-broken.service" >&2
fi
log "end-$action $code"
exit "$code"
