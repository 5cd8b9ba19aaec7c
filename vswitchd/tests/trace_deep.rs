//! `ofproto/trace` runs on the daemon's main thread, whose stack the
//! process's RLIMIT_STACK bounds, while translation recurses once per
//! resubmit and nested action. The deepest pipeline rules allow (clones
//! nested as deep as accepted, resubmitting to the next table, to the
//! last table) needs about 5 MiB there. Started under a 4 MiB
//! limit, as an operator's `ulimit -s` may set it, the daemon must raise
//! the limit for itself and answer that trace, not crash.

use std::path::Path;

use ferrovs_tests::sandbox::{stock_ovs_available, Sandbox};

const FERROVS: &str = env!("CARGO_BIN_EXE_ferrovs-vswitchd");
/// As deep as the decoder accepts nested actions.
const NESTED_CLONES: usize = 8;

#[test]
fn deep_trace_survives_a_small_stack_limit() {
    if !stock_ovs_available("deep_trace_survives_a_small_stack_limit") {
        return;
    }
    let mut sb = Sandbox::new("trace-deep").expect("sandbox");
    sb.use_wrapper(&["prlimit", "--stack=4194304:unlimited", "--"]);
    sb.start_vswitchd(Path::new(FERROVS), &["--enable-dummy", "--disable-system"])
        .expect("start ferrovs-vswitchd");
    sb.vsctl_line(
        "add-br br0 -- set bridge br0 datapath_type=dummy \
         -- add-port br0 p1 -- set interface p1 type=dummy ofport_request=1",
    );
    let mut flows = String::new();
    for t in 0..254 {
        let mut actions = format!("resubmit(,{})", t + 1);
        for _ in 0..NESTED_CLONES {
            actions = format!("clone({actions})");
        }
        flows.push_str(&format!("table={t},actions={actions}\n"));
    }
    let file = sb.dir.join("deep.flows");
    std::fs::write(&file, flows).expect("write flows");
    let file = file.to_string_lossy();
    sb.succeeded(
        sb.run("ovs-ofctl", &["add-flows", "br0", &file]),
        "add-flows",
    );

    let pid = sb.vswitchd_pid().expect("daemon pid");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let stack = limits
        .lines()
        .find(|l| l.starts_with("Max stack size"))
        .expect("stack line");
    assert!(stack.contains("67108864"), "{stack}");

    let out = sb.appctl(&["ofproto/trace", "br0", "in_port=1,tcp"]);
    assert!(sb.vswitchd_running(), "the daemon died in the trace");
    let report = sb.succeeded(out, "ofproto/trace");
    // Resubmits to later tables are not nested resubmits: the walk goes
    // through every table, 9 levels of recursion each.
    assert!(report.contains("\n253. priority 32768\n"), "{report}");
    assert!(report.contains("\nDatapath actions: drop"), "{report}");
    sb.exit_alive("deep trace");
}
