#!/usr/bin/env python3
"""Writes seeds for the openflow_msg and openflow_actions fuzz targets
into OUTDIR/openflow_msg and OUTDIR/openflow_actions.

Usage: fuzz/gen-openflow-seeds.py OUTDIR   (needs the stock ovs-ofctl)

An openflow_msg seed is one byte choosing the negotiated version (v - 1:
0 = OpenFlow 1.0 ... 5 = OpenFlow 1.5), then OpenFlow messages back to
back. Flow mods come from `ovs-ofctl -mmmmm parse-flow`, which prints the
message it would send as a hex dump; a few requests without a body are
built here. Each flow mod is also followed by the requests, so that the
stats replies have a rule. An openflow_actions seed is the same selector
byte (plus 0x40 for a bare OpenFlow 1.0 action list, 0x80 for a VLAN in
the match) and the actions or instructions of one of those flow mods.
"""
import hashlib, os, re, struct, subprocess, sys

out_msg = os.path.join(sys.argv[1], "openflow_msg")
out_actions = os.path.join(sys.argv[1], "openflow_actions")
os.makedirs(out_msg, exist_ok=True)
os.makedirs(out_actions, exist_ok=True)

FLOWS = [
    "priority=5,in_port=1,dl_vlan=10,actions=strip_vlan,mod_dl_src:00:01:02:03:04:05,output:2",
    "tcp,nw_src=10.0.0.1,tp_dst=80,actions=output:2,set_field:1->reg0,resubmit(,3)",
    "table=1,udp,nw_dst=10.0.0.0/8,tp_src=53,idle_timeout=10,cookie=0x5,actions=mod_nw_tos:4,dec_ttl,normal",
    "ipv6,ipv6_src=2001:db8::1,actions=push_vlan:0x8100,set_field:5->vlan_vid,controller:128",
    "arp,arp_tpa=10.0.0.2,actions=load:0x2->NXM_NX_REG1[0..15],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],in_port",
    "ct_state=+trk+est,ip,actions=ct(commit,zone=5,nat(src=10.0.0.240-10.0.0.254)),output:1",
    "reg0=0x5/0xff,tun_id=0x10,actions=learn(table=2,NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[]),group:1",
    "mpls,mpls_label=100,actions=pop_mpls:0x0800,meter:1,goto_table:3",
    "icmp,icmp_type=8,actions=drop",
    "metadata=0x1/0xff,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=write_metadata:0x2/0xff,clear_actions,flood",
    "tcp,actions=push:NXM_OF_TCP_SRC[],push:NXM_NX_REG0[0..7],enqueue:2:5,set_queue:3,pop_queue,pop:NXM_NX_REG1[8..15],output:2",
]
VERSIONS = {1: "OpenFlow10", 4: "OpenFlow13", 5: "OpenFlow14", 6: "OpenFlow15"}


def flow_mod(version, flow):
    r = subprocess.run(["ovs-ofctl", "-mmmmm", "-O", VERSIONS[version], "parse-flow", flow],
                       capture_output=True, text=True)
    data = b""
    for line in r.stdout.splitlines():
        m = re.match(r"^[0-9a-f]{8}  ((?:[0-9a-f]{2}[ -]){1,16})", line)
        if m:
            data += bytes.fromhex(m.group(1).replace("-", " "))
    return data


def msg(version, msg_type, body=b"", xid=7):
    return struct.pack("!BBHI", version, msg_type, 8 + len(body), xid) + body


def requests(v):
    """Requests with little or no body, in version v's numbering."""
    reqs = [msg(v, 2, b"ping"), msg(v, 5), msg(v, 7)]  # echo, features, get_config
    if v == 1:
        reqs.append(msg(v, 18))  # barrier
        reqs.append(msg(v, 16, struct.pack("!HH", 3, 0)))  # table stats
        # flow stats: all tables, wildcard match, any out port
        reqs.append(msg(v, 16, struct.pack("!HH", 1, 0) + struct.pack("!I", 0x3fffff) + bytes(36) + struct.pack("!BxH", 0xff, 0xffff)))
    else:
        reqs.append(msg(v, 20))  # barrier
        # port desc (OpenFlow 1.5 adds a port number)
        reqs.append(msg(v, 18, struct.pack("!HH4x", 13, 0) + (struct.pack("!I4x", 0xffffffff) if v >= 6 else b"")))
        reqs.append(msg(v, 18, struct.pack("!HH4x", 3, 0)))  # table stats
        # flow stats: all tables, any port/group, empty OXM match
        body = struct.pack("!HH4xB3xII4xQQ", 1, 0, 0xff, 0xffffffff, 0xffffffff, 0, 0)
        reqs.append(msg(v, 18, body + struct.pack("!HH4x", 1, 4)))
    return reqs


def nx(v, subtype, body):
    return msg(v, 4, struct.pack("!II", 0x2320, subtype) + body)


def prop(ty, payload):
    """A property padded to 8 bytes."""
    n = 4 + len(payload)
    return struct.pack("!HH", ty, n) + payload + bytes(-n % 8)


def nested(ty, inner):
    """A property holding 8-aligned properties or actions."""
    return struct.pack("!HH4x", ty, 8 + len(inner)) + inner


FRAME = bytes.fromhex("505400000007505400000005080045000014000000004001f93ec0a80001c0a80002")


def gap_messages(v):
    """Continuations (NXT_RESUME), controller ids, queue requests and
    eviction, in version v's numbering."""
    out = [nx(v, 20, bytes(6) + struct.pack("!H", 5))]  # NXT_SET_CONTROLLER_ID
    if v == 1:
        output2 = struct.pack("!HHHH", 0, 8, 2, 0xffff)
        in_port = struct.pack("!IH", 0x00000002, 1)  # NXM_OF_IN_PORT
    else:
        output2 = struct.pack("!HHIH6x", 0, 16, 2, 0xffff)
        in_port = struct.pack("!II", 0x80000004, 1)  # OXM_OF_IN_PORT
    cont = (prop(0x8000, bytes(range(16))) + prop(0x8003, b"")
            + prop(0x8004, b"\x01") + prop(0x8005, bytes(4) + struct.pack("!Q", 0x55))
            + nested(0x8006, output2) + nested(0x8007, output2)
            + prop(0x8008, struct.pack("!I", 1)))
    out.append(nx(v, 28, prop(0, FRAME) + prop(5, b"\x01") + prop(6, in_port)
                  + nested(8, cont)))  # NXT_RESUME
    # A continuation with a data stack (top first) and mirrors.
    stacked = (prop(0x8000, bytes(range(16))) + prop(0x8001, b"\x12\x34")
               + prop(0x8001, bytes(6)) + prop(0x8002, struct.pack("!I", 1))
               + nested(0x8006, output2) + prop(0x8008, struct.pack("!I", 1)))
    out.append(nx(v, 28, prop(0, FRAME) + prop(6, in_port) + nested(8, stacked)))
    if v == 1:
        out.extend(group_messages10(output2))
    if v == 1:
        out.append(msg(v, 16, struct.pack("!HH", 5, 0) + struct.pack("!H2xI", 0xfffc, 0xffffffff)))
        out.append(msg(v, 20, struct.pack("!H2x", 1)))  # queue get config
    else:
        out.append(msg(v, 18, struct.pack("!HH4x", 5, 0) + struct.pack("!II", 0xffffffff, 0)))
        if v <= 4:
            out.append(msg(v, 22, struct.pack("!I4x", 0xffffffff)))
        else:
            out.append(msg(v, 18, struct.pack("!HH4x", 15, 0) + struct.pack("!II", 1, 0xffffffff)))
            out.append(msg(v, 17, struct.pack("!B3xI", 0, 4)))  # table-mod evict
    return out


def group_messages10(output):
    """OpenFlow 1.0's Nicira group messages: NXT_GROUP_MOD (add a select
    group with a weighted bucket, insert a bucket, delete all), then
    NXST_GROUP, NXST_GROUP_DESC and NXST_GROUP_FEATURES requests."""
    bucket = struct.pack("!HHI", 8 + len(output) + 8, len(output), 0) + output + prop(0, struct.pack("!H2x", 5))
    def group_mod(command, gtype, gid, buckets, command_bucket=0xffffffff):
        return nx(1, 31, struct.pack("!HBxIH2xI", command, gtype, gid, len(buckets), command_bucket) + buckets)
    def nxst(subtype, body):
        return msg(1, 16, struct.pack("!HHII4x", 0xffff, 0, 0x2320, subtype) + body)
    return [group_mod(0, 1, 1, bucket), group_mod(3, 1, 1, bucket.replace(bytes(4), struct.pack("!I", 7), 1), 0xfffffffd),
            nxst(7, struct.pack("!I4x", 0xfffffffc)), nxst(8, struct.pack("!I4x", 1)), nxst(9, b""),
            group_mod(2, 0, 0xfffffffc, b"")]


def put(data, out=out_msg):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def flow_mod_actions(fm):
    """(selector bits, actions or instructions) of an OFPT_FLOW_MOD."""
    if fm[1] != 14:
        return None  # an NXT flow mod (OpenFlow 1.0 with NXM fields)
    if fm[0] == 1:
        return 0x40, fm[72:]  # ofp10_flow_mod: fixed 72 bytes, then actions
    match_len = struct.unpack("!H", fm[50:52])[0]
    return 0, fm[48 + (match_len + 7) // 8 * 8:]


for v in VERSIONS:
    sel = bytes([v - 1])
    reqs = requests(v)
    for r in reqs:
        put(sel + r)
    gaps = gap_messages(v)
    for g in gaps:
        put(sel + g)
    put(sel + b"".join(gaps))
    for flow in FLOWS:
        fm = flow_mod(v, flow)
        if fm:
            put(sel + fm)
            put(sel + fm + b"".join(reqs))
            acts = flow_mod_actions(fm)
            if acts:
                bits, body = acts
                put(bytes([(v - 1) | bits]) + body, out_actions)
                put(bytes([(v - 1) | bits | 0x80]) + body, out_actions)
