//! ferrovs-dpctl: a drop-in for ovs-dpctl (see `ferrovs_utilities::dpctl`).

fn main() {
    let status = ferrovs_utilities::dpctl::main(std::env::args().collect());
    std::process::exit(status);
}
