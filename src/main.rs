//! The `fleet` binary: everything is in the library (see `fleet::main`).

fn main() -> std::process::ExitCode {
    fleet::main()
}
