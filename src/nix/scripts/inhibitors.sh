# What NixOS (25.11 and later) calls a change of the system's switch-inhibitors, as its own
# pre-switch check decides it: each file is a JSON object, and a key that both have with
# different values is a change (a key only one has is not; a file that is not JSON is as
# empty). Prints `KEY: OLD -> NEW` lines, store paths by their names. Prepended to `pre` and
# `preview`. inhibitor_changes OLD NEW
inhibitor_changes() {
  [ -f "$1" ] && [ -f "$2" ] && ! cmp -s "$1" "$2" || return 0
  nix-instantiate --eval --strict --argstr old "$1" --argstr new "$2" --expr '
    { old, new }:
    let
      read = f: let t = builtins.unsafeDiscardStringContext (builtins.readFile f); in
        if builtins.match "[[:space:]]*[{].*" t == null then { } else builtins.fromJSON t;
      o = read old;
      n = read new;
      keys = builtins.filter (k: n ? ${k} && n.${k} != o.${k}) (builtins.attrNames o);
    in
    builtins.concatStringsSep "|" (map (k: "${k}: ${toString o.${k}} -> ${toString n.${k}}") keys)
  ' 2>/dev/null | sed -e 's/^"//' -e 's/"$//' -e 's|/nix/store/[0-9a-z]\{32\}-||g' | tr '|' '\n' | grep -v '^$'
  return 0
}
