fn main() {
    eprintln!("planectl: not built yet");
    std::process::exit(2);
}
