# Builds a lab system: bin/switch-to-configuration, a version file, and a link to the payload
# (so the payload is part of the closure, like a system's packages).
set -eu
if [ -n "$buildFail" ]; then
  echo "lab: the system of $hostName fails to build on purpose" >&2
  exit 1
fi
# A line of build output, as every real build has (`fleet -L` shows it as it comes).
echo "lab: building the system of $hostName, version $version" >&2
if [ -n "$oddOutput" ]; then
  printf 'lab: an odd byte \377 in the build output\n' >&2
  i=0
  while [ "$i" -lt 3000 ]; do
    echo "lab: build output line $i after the odd byte, enough to fill a pipe's buffer" >&2
    i=$((i + 1))
  done
fi
if [ "$buildSleep" != 0 ]; then
  # A slow build: its process id is left where a test can see whether it is still running.
  echo "$$" > "$labDir/building-$hostName.pid"
  sleep "$buildSleep"
fi
mkdir -p "$out/bin" "$out/etc/systemd/system"
# The system's services (started, restarted and stopped by its switch on a systemd host): one
# that changes with every version, and one that fails when the switch is to exit 4.
printf '[Unit]\nDescription=fleet lab: the system of %s, version %s\n[Service]\nExecStart=/bin/sleep infinity\n' \
  "$hostName" "$version" > "$out/etc/systemd/system/lab-app.service"
if [ -n "$servesCache" ]; then
  printf '[Unit]\nDescription=fleet lab: the binary cache of %s, version %s (nix-serve'"'"'s stand-in)\n[Service]\nEnvironment=NIX_REMOTE=daemon\nExecStart=/usr/bin/python3 %s/bin/cache-server.py 0.0.0.0 5000 /var/log/lab-cache.log\n' \
    "$hostName" "$version" "$labDir" > "$out/etc/systemd/system/nix-serve.service"
fi
if [ "$activationExit" = 4 ]; then
  printf '[Unit]\nDescription=fleet lab: a unit that fails\n[Service]\nType=oneshot\nExecStart=/bin/false\n' \
    > "$out/etc/systemd/system/lab-broken.service"
fi
ln -s "$payload" "$out/sw"
ln -s "$kernel/bzImage" "$out/kernel"
if [ -n "$parts" ]; then
  mkdir -p "$out/parts"
  for part in $parts; do ln -s "$part" "$out/parts/"; done
fi
if [ -n "$specialisations" ]; then
  mkdir -p "$out/specialisation"
  for pair in $specialisations; do ln -s "${pair#*=}" "$out/specialisation/${pair%%=*}"; done
fi
if [ -n "$helperPart" ]; then ln -s "$helperPart" "$out/helper-part"; fi
echo "$hostName" > "$out/hostname"
# What NixOS 25.11 refuses a live switch over when it changes (systemd, by default): JSON.
printf '%s\n' "$inhibitors" > "$out/switch-inhibitors"
echo "$version" > "$out/nixos-version"
echo "$health" > "$out/health"
printf '%s' "$switchScript" \
  | sed -e "s|@out@|$out|g" -e "s|@sleep@|$activationSleep|g" \
        -e "s|@exit@|$activationExit|g" -e "s|@lockout@|$lockout|g" \
        -e "s|@restartsCache@|$restartsCache|g" -e "s|@labDir@|$labDir|g" \
        -e "s|@odd@|$oddOutput|g" -e "s|@restartsSshd@|$restartsSshd|g" \
        -e "s|@dropsLogins@|$dropsLogins|g" -e "s|@escapes@|$escapeOutput|g" \
        -e "s|@fakes@|$fakeSuccess|g" -e "s|@precheck@|$precheck|g" -e "s|@specialisation@|$specialisation|g" \
  > "$out/bin/switch-to-configuration"
chmod +x "$out/bin/switch-to-configuration"
