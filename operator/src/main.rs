#![forbid(unsafe_code)]
//! The `soc2-operator` binary: parses arguments and hands over to the library.

/// mimalloc instead of the system allocator: the watch caches hold millions of small strings and
/// vectors, where glibc's 32-byte minimum chunk and per-thread arenas cost a quarter of the RSS
/// (BENCHMARKS.md, "Operator: watch-cache memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    soc2_operator::cli::main()
}
