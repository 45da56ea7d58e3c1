#!/bin/sh
# fleet lab: behaves like NixOS's switch-to-configuration for what fleet relies on.
#   switch: boot entry + /run/current-system;  boot: boot entry only;
#   test: /run/current-system only;  dry-activate: changes nothing;
#   check: the pre-switch checks alone (NixOS 25.05+).
# As NixOS's, every action but dry-activate runs the pre-switch checks first, unless
# NIXOS_NO_CHECK=1, and fails before changing anything when one fails: the switch
# inhibitors (25.11+: the system's switch-inhibitors, a JSON object, against the running
# system's; a key both have with different values refuses; not checked for a boot), and the
# lab's own (after them by name), which fails when the precheck setting is set; the first
# that fails ends them, as NixOS's. Each run is logged as checks-ACTION. NIXOS_INSTALL_BOOTLOADER=1 is
# logged as an event of its own.
# Every call is logged in /nix/var/lab/activations.log on the host. Where systemd runs, it
# also does what NixOS's does with units: daemon-reload, the new generation's units started
# (changed ones restarted), the old generation's stopped, and exit 4 naming the units that
# failed.
out=@out@
action="${1:-}"
state=/nix/var/lab
mkdir -p "$state"
log() { echo "$(date +%s.%N) $1 $out" >> "$state/activations.log"; }
case "$action" in
  switch|boot|test|dry-activate|check) ;;
  *) echo "Usage: ${0##*/} [check|switch|boot|test|dry-activate]" >&2; exit 1 ;;
esac
# The checks' words are NixOS's (its preSwitchChecks script and switch-to-configuration-ng).
prechecks() {
  log "checks-$1"
  # By name, stopping at the first that fails, as NixOS's: the switch inhibitors, then the
  # lab's own (userCheck).
  if [ "$1" != boot ]; then
    printf 'Checking switch inhibitors...'
    diff=$(/usr/bin/python3 -c '
import json, sys
def read(p):
    try:
        with open(p) as f:
            v = json.load(f)
        return v if isinstance(v, dict) else {}
    except Exception:
        return {}
o, n = read(sys.argv[1]), read(sys.argv[2])
for k, v in o.items():
    if k in n and n[k] != v:
        print(k, ":", v, "->", n[k])
' "$(readlink -f /run/current-system)/switch-inhibitors" "$out/switch-inhibitors")
    if [ -n "$diff" ]; then
      echo
      echo "There are changes to critical components of the system:"
      echo
      echo "$diff"
      echo
      echo "Switching into this system is not recommended."
      echo "You probably want to run 'nixos-rebuild boot' and reboot your system instead."
      echo
      echo "If you really want to switch into this configuration directly, then"
      echo "you can set NIXOS_NO_CHECK=1 to ignore pre-switch checks."
      echo
      echo "Pre-switch check 'switchInhibitors' failed"
      echo "Pre-switch checks failed" >&2
      return 1
    fi
    echo " done"
  fi
  if [ -n "@precheck@" ]; then
    echo "@precheck@"
    echo "Pre-switch check 'userCheck' failed"
    echo "Pre-switch checks failed" >&2
    return 1
  fi
}
if [ "$action" != dry-activate ] && [ "${NIXOS_NO_CHECK:-}" != 1 ] && ! prechecks "$action"; then
  [ "$action" = check ] || log "refused-$action"
  exit 1
fi
[ "$action" != check ] || exit 0
log "start-$action"
if [ "${NIXOS_INSTALL_BOOTLOADER:-}" = 1 ] && { [ "$action" = switch ] || [ "$action" = boot ]; }; then
  log "install-bootloader"
fi
if [ -n "@fakes@" ]; then
  # A host that says the activation worked and did nothing (a broken or compromised one).
  log "end-$action 0"
  exit 0
fi
if [ "$action" = dry-activate ]; then
  # As NixOS's: the units the switch would stop, restart and start, comparing the running
  # system's units with this one's; nothing changes.
  old=$(readlink -f /run/current-system)/etc/systemd/system
  new=$out/etc/systemd/system
  stop="" restart="" start=""
  for f in "$old"/*.service; do
    [ -e "$f" ] || continue
    n=${f##*/}
    [ -e "$new/$n" ] || stop="$stop, $n"
  done
  for f in "$new"/*.service; do
    [ -e "$f" ] || continue
    n=${f##*/}
    if [ ! -e "$old/$n" ]; then start="$start, $n"
    elif ! cmp -s "$f" "$old/$n"; then restart="$restart, $n"; fi
  done
  [ -z "$stop" ] || echo "would stop the following units: ${stop#, }"
  [ -z "$restart" ] || echo "would restart the following units: ${restart#, }"
  [ -z "$start" ] || echo "would start the following units: ${start#, }"
  log "end-$action 0"
  exit 0
fi
if [ "$action" = switch ] || [ "$action" = boot ]; then
  echo "updating the boot entry"
  mkdir -p "$state/boot"
  if [ -n "@specialisation@" ]; then
    # A specialisation's switch writes the boot menu from the profile: its default stays
    # the profile's (the whole) system.
    ln -sfn "$(readlink -f /nix/var/nix/profiles/system)" "$state/boot/default"
  else
    ln -sfn "$out" "$state/boot/default"
  fi
fi
if [ "$action" = boot ]; then
  log "end-$action 0"
  exit 0
fi
echo "activating the configuration..."
if [ -n "@escapes@" ]; then
  # A hostile host's words (Nix filters a build's, not an activation's): a window title, a
  # cleared screen, and the clipboard (OSC 52).
  printf 'lab: hostile \033]0;pwned\007\033[2J\033]52;c;cHduZWQ=\007 output\n' >&2
fi
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
if [ -d /run/systemd/system ]; then
  units=/etc/systemd/system
  new=$out/etc/systemd/system
  for f in "$units"/lab-*.service; do
    n=${f##*/}
    case "$n" in lab-net.service|lab-boot.service|lab-\*.service) continue ;; esac
    if [ ! -e "$new/$n" ]; then
      echo "stopping $n"
      systemctl stop "$n"
      rm -f "$f"
      log "stopped:$n"
    fi
  done
  changed=" "
  for f in "$new"/*.service; do
    n=${f##*/}
    cmp -s "$f" "$units/$n" || { cp "$f" "$units/$n"; changed="$changed$n "; }
  done
  systemctl daemon-reload
  failed=""
  for f in "$new"/*.service; do
    n=${f##*/}
    case "$changed" in
      *" $n "*)
        if systemctl is-active --quiet "$n"; then
          echo "restarting $n"; log "restarted:$n"; systemctl restart "$n" 2>/dev/null || failed="$failed $n"
        else
          echo "starting $n"; log "started:$n"; systemctl start "$n" 2>/dev/null || failed="$failed $n"
        fi ;;
      *) systemctl is-active --quiet "$n" || systemctl start "$n" 2>/dev/null || failed="$failed $n" ;;
    esac
  done
  if [ -n "@restartsSshd@" ]; then
    echo "restarting ssh.service"; log "restarted:ssh.service"; systemctl restart ssh.service
  fi
  if [ -n "@dropsLogins@" ]; then
    # As a network restart does: every SSH login ends (this switch runs outside them).
    echo "restarting systemd-networkd.service"; log "dropped-logins"
    pkill -KILL -f '^sshd(-session)?: [^ ]+@' 2>/dev/null
  fi
  if [ -n "$failed" ]; then
    echo "warning: the following units failed:$failed" >&2
    [ "$code" = 0 ] && code=4
  elif [ "$code" = 4 ]; then
    code=0
  fi
elif [ "$code" != 0 ]; then
  echo "warning: the following units failed: lab-broken.service" >&2
fi
log "end-$action $code"
exit "$code"
