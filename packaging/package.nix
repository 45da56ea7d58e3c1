# fleet, built with nixpkgs' Rust builder from Cargo.lock; installs the completions and the
# man page that are checked in (completions/, man/), both tested to match the binary.
{ lib, rustPlatform, installShellFiles, version, src }:

rustPlatform.buildRustPackage {
  pname = "fleet";
  inherit version src;
  cargoLock.lockFile = ../Cargo.lock;
  nativeBuildInputs = [ installShellFiles ];
  # The tests drive real hosts: the lab needs root, network namespaces and sshd (scripts/test).
  doCheck = false;
  postInstall = ''
    installShellCompletion --cmd fleet \
      --bash completions/fleet.bash \
      --zsh completions/fleet.zsh \
      --fish completions/fleet.fish
    installManPage man/fleet.1
  '';
  meta = {
    description = "Deploy a NixOS fleet from one inventory: build where it is cheap, copy what is needed, activate safely";
    license = lib.licenses.mit;
    mainProgram = "fleet";
    platforms = lib.platforms.unix;
  };
}
