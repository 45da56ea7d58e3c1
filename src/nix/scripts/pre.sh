# Before an activation, what NixOS's switch-to-configuration checks, made first so that a
# refusal changes nothing and a switch that would be refused can become a boot. Prepended to
# `launch` and `here` (after `inhibitors`). pre SYSTEM ACTION FLAGS (FLAGS: words joined by
# commas, or -):
#   force               no checks, and NIXOS_NO_CHECK=1 for the switch (--force-switch)
#   install-bootloader  NIXOS_INSTALL_BOOTLOADER=1 (--install-bootloader)
#   boot-if-inhibited   a switch whose switch-inhibitors changed (NixOS 25.11+) becomes a
#                       boot: the system is there for the next boot
# Sets `action` and `envs` (the activation's environment, NAME=VALUE words). Exits 8 when the
# switch-inhibitors refuse it (a test, or a switch not to become a boot), 9 when the system's
# other pre-switch checks (`switch-to-configuration check`, NixOS 25.05+) fail. Once they passed
# here, the activation is told not to run them again (NIXOS_NO_CHECK=1, as
# switch-to-configuration reads it), so they run once, as without fleet.
pre() {
  system=$1; action=$2; flags=,$3,; envs=
  case $flags in *,force,*) envs="NIXOS_NO_CHECK=1" ;; esac
  case $flags in *,install-bootloader,*) envs="$envs NIXOS_INSTALL_BOOTLOADER=1" ;; esac
  case $action in switch|boot|test) ;; *) return 0 ;; esac
  case $flags in *,force,*) return 0 ;; esac
  said=$(inhibitor_changes "$(readlink -f /run/current-system)/switch-inhibitors" "$system/switch-inhibitors" | sed 's/$/; /' | tr -d '\n' | sed 's/; $//')
  if "$system/bin/switch-to-configuration" 2>&1 < /dev/null | grep -qw check; then
    if out=$("$system/bin/switch-to-configuration" check 2>&1 < /dev/null); then
      # They passed: the activation does not run them a second time.
      envs="$envs NIXOS_NO_CHECK=1"
    else
      # The check fails on the switch-inhibitors too: those alone are handled below, and
      # the activation runs the checks NixOS stopped before (it stops at the first that
      # fails; a boot does not check the inhibitors).
      others=$(printf '%s\n' "$out" | sed -n "s/^Pre-switch check '\(.*\)' failed.*/\1/p" | grep -vx switchInhibitors)
      if [ -z "$said" ] || [ -n "$others" ]; then
        printf '%s\n' "$out" >&2
        echo "fleet: the system's pre-switch checks failed; nothing was changed by them" >&2
        exit 9
      fi
    fi
  fi
  [ -n "$said" ] && [ "$action" != boot ] || return 0
  case "$action$flags" in
    switch*,boot-if-inhibited,*)
      echo "fleet: switch inhibited ($said): installed for the next boot instead"
      action=boot ;;
    *)
      echo "fleet: switch inhibited ($said): the running system refuses a live $action" >&2
      exit 8 ;;
  esac
}
