{
  description = "fleet: deploy a NixOS fleet from one inventory";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: builtins.listToAttrs (map
        (system: { name = system; value = f nixpkgs.legacyPackages.${system}; })
        systems);
      # The version is Cargo.toml's, so the package and `fleet --version` agree.
      version = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).package.version;
      fleet = pkgs: pkgs.callPackage ./packaging/package.nix { inherit version; src = self; };
    in
    {
      packages = forAll (pkgs: {
        default = fleet pkgs;
        fleet = fleet pkgs;
      });

      apps = forAll (pkgs: {
        default = { type = "app"; program = "${fleet pkgs}/bin/fleet"; };
      });

      overlays.default = final: _prev: { fleet = fleet final; };

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ cargo rustc clippy rustfmt rust-analyzer nix openssh python3 ];
        };
      });
    };
}
