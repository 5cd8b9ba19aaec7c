# Helpers for test scripts that run inside the VM (busybox sh). Source it,
# call the checks, end with `summary` (its status is the script's).

n_pass=0
n_fail=0

pass() { n_pass=$((n_pass + 1)); echo "ok - $*"; }
fail() { n_fail=$((n_fail + 1)); echo "FAIL - $*"; }

# busybox sh would run its own `ip` applet; iproute2's is the one we want.
ip() { /bin/ip "$@"; }

# No IPv6 chatter (router solicitations, DAD) from ports brought up: the
# datapath counters must not move between two tools' runs.
sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null ||
  { echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6; } 2>/dev/null

# ferrovs-dpctl, called through a link named ovs-dpctl so that its messages
# (which start with the program's name) can be compared byte for byte.
mkdir -p /tmp/ferrovs
ln -sf /payload/bin/ferrovs-dpctl /tmp/ferrovs/ovs-dpctl
STOCK=/bin/ovs-dpctl
OURS=/tmp/ferrovs/ovs-dpctl

# run OUT CMD...: runs CMD with stdout and stderr in file OUT, its exit
# status appended as a last line `status N`; OVS log timestamps are blanked
# so that two tools' logs can be compared.
run() {
  out=$1
  shift
  "$@" >"$out.raw" 2>&1
  echo "status $?" >>"$out.raw"
  sed -e 's/^[0-9][0-9T:.-]*Z|/TIME|/' "$out.raw" >"$out"
}

# expect_same DESC FILE_A FILE_B: the two outputs are identical.
expect_same() {
  if cmp -s "$2" "$3"; then
    pass "$1"
  else
    fail "$1"
    diff -u "$2" "$3" | sed 's/^/    /'
  fi
}

# expect DESC CMD...: CMD succeeds.
expect() {
  desc=$1
  shift
  if out=$("$@" 2>&1); then
    pass "$desc"
  else
    fail "$desc: $* said:"
    echo "$out" | sed 's/^/    /'
  fi
}

# expect_output DESC FILE PATTERN: FILE has a line matching PATTERN (grep -E).
expect_output() {
  if grep -q -E -e "$3" "$2"; then
    pass "$1"
  else
    fail "$1: no line matching '$3' in:"
    sed 's/^/    /' "$2"
  fi
}

summary() {
  echo "$n_pass passed, $n_fail failed"
  [ "$n_fail" = 0 ]
}
