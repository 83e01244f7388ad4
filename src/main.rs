fn main() {
    std::process::exit(hull::cli::run());
}
