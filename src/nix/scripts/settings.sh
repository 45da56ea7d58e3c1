# This host's nix settings as JSON, in the form its Nix takes, as NixOS itself decides it:
# `nix config show` from 2.20 (and on Lix), where `nix show-config` became a deprecated alias;
# `nix show-config` before. The version is asked once, here.
v=$(nix --version 2>/dev/null)
v=${v##* }
major=${v%%.*}
minor=${v#*.}
minor=${minor%%.*}
case "$major.$minor" in
  *[!0-9.]*|.*|*.) new=no ;;
  *) if [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 20 ]; }; then new=yes; else new=no; fi ;;
esac
if [ "$new" = yes ]; then
  exec nix --extra-experimental-features "nix-command flakes" config show --json
fi
exec nix --extra-experimental-features "nix-command flakes" show-config --json
