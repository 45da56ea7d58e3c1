# Before an activation, what NixOS 25.11's switch-to-configuration checks, made first so that a
# refusal changes nothing and a switch that would be refused can become a boot. Prepended to
# `launch` and `here`. pre SYSTEM ACTION FLAGS (FLAGS: words joined by commas, or -):
#   force               no checks, and NIXOS_NO_CHECK=1 for the switch (--force-switch)
#   install-bootloader  NIXOS_INSTALL_BOOTLOADER=1 (--install-bootloader)
#   boot-if-inhibited   a switch whose switch-inhibitors differ from the running system's
#                       becomes a boot: the system is there for the next boot
# Sets `action` and `envs` (the activation's environment, NAME=VALUE words). Exits 8 when the
# switch-inhibitors refuse it (a test, or a switch not to become a boot), 9 when the system's
# own pre-switch checks (`switch-to-configuration check`, where it has them) fail.
pre() {
  system=$1; action=$2; flags=,$3,; envs=
  case $flags in *,force,*) envs="NIXOS_NO_CHECK=1" ;; esac
  case $flags in *,install-bootloader,*) envs="$envs NIXOS_INSTALL_BOOTLOADER=1" ;; esac
  case $action in switch|boot|test) ;; *) return 0 ;; esac
  case $flags in *,force,*) return 0 ;; esac
  old=/run/current-system/switch-inhibitors; new=$system/switch-inhibitors
  if [ "$action" != boot ] && [ -f "$old" ] && [ -f "$new" ] && ! cmp -s "$old" "$new"; then
    said="$(tr '\n' ' ' < "$old" | sed 's/ *$//') -> $(tr '\n' ' ' < "$new" | sed 's/ *$//')"
    case "$action$flags" in
      switch*,boot-if-inhibited,*)
        echo "fleet: switch inhibited ($said): installed for the next boot instead"
        action=boot ;;
      *)
        echo "fleet: switch inhibited ($said): the running system refuses a live $action" >&2
        exit 8 ;;
    esac
  fi
  if "$system/bin/switch-to-configuration" 2>&1 < /dev/null | grep -qw check; then
    if ! out=$("$system/bin/switch-to-configuration" check 2>&1 < /dev/null); then
      printf '%s\n' "$out" >&2
      echo "fleet: the system's pre-switch checks failed; nothing was changed by them" >&2
      exit 9
    fi
  fi
}
