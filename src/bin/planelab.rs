fn main() {
    eprintln!("planelab: not built yet");
    std::process::exit(2);
}
