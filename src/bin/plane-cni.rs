fn main() {
    eprintln!("plane-cni: not built yet");
    std::process::exit(2);
}
