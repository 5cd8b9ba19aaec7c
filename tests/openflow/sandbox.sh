# Shared by the OpenFlow suites (30-39): starts a stock ovs-vswitchd with a
# dummy bridge br0 (ports p1=1, p2=2, all OpenFlow versions) and ferrovs's
# ofproto-testd serving the same bridge, each in a scratch folder, and
# stops both on exit. Sets: work, stock, fv (folders) and S, F (the two
# management sockets as ovs-ofctl targets).
for t in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl; do
  command -v $t >/dev/null || { echo "30-openflow-differential: $t missing"; exit 1; }
done
target="${FERROVS_TARGET_DIR:-$PWD/target/debug}"
cargo build -q -p ferrovs-ofproto --example ofproto-testd || exit 1
testd="$target/examples/ofproto-testd"

work=$(mktemp -d /tmp/ferrovs-of-diff.XXXXXX)
stock=$work/stock
fv=$work/fv
mkdir -p "$stock" "$fv"
fv_pid=""
cleanup() {
  [ -n "$fv_pid" ] && kill "$fv_pid" 2>/dev/null
  for p in "$stock"/ovs-vswitchd.pid "$stock"/ovsdb-server.pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null
  done
  exec 9>&- 2>/dev/null
  sleep 0.2
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

export OVS_RUNDIR=$stock OVS_LOGDIR=$stock OVS_DBDIR=$stock
ovsdb-tool create "$stock/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --remote="punix:$stock/db.sock" --pidfile="$stock/ovsdb-server.pid" \
  --detach --log-file="$stock/ovsdb-server.log" "$stock/conf.db"
VSCTL="ovs-vsctl --no-wait --db=unix:$stock/db.sock"
$VSCTL init
ovs-vswitchd --enable-dummy --disable-system "unix:$stock/db.sock" \
  --pidfile="$stock/ovs-vswitchd.pid" --detach --log-file="$stock/ovs-vswitchd.log" \
  -vconsole:off
ovs-vsctl --db=unix:$stock/db.sock -- add-br br0 -- set bridge br0 datapath_type=dummy \
  other-config:datapath-id=0000000000000001 \
  protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15 \
  -- add-port br0 p1 -- set interface p1 type=dummy ofport_request=1 \
  -- add-port br0 p2 -- set interface p2 type=dummy ofport_request=2 || exit 1

# ferrovs: runs until its stdin (fd 9's pipe) closes.
exec 9> >("$testd" "$fv" > "$fv/testd.log" 2>&1)
fv_pid=$!
for _ in $(seq 50); do [ -S "$fv/br0.mgmt" ] && [ -S "$stock/br0.mgmt" ] && break; sleep 0.1; done
[ -S "$fv/br0.mgmt" ] || { echo "ofproto-testd did not start"; cat "$fv/testd.log"; exit 1; }

S="unix:$stock/br0.mgmt"
F="unix:$fv/br0.mgmt"
