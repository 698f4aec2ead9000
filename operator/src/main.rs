#![forbid(unsafe_code)]
//! The `soc2-operator` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    soc2_operator::cli::main()
}
