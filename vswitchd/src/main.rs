//! ferrovs-vswitchd: the daemon. Being built; see issue "ferrovs-vswitchd, the drop-in daemon".

fn main() {
    eprintln!("ferrovs-vswitchd: not built yet");
    std::process::exit(1);
}
