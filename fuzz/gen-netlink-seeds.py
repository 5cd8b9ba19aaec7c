#!/usr/bin/env python3
"""Writes seeds for the netlink_msg fuzz target into OUTDIR/netlink_msg:
datagrams shaped as the openvswitch kernel module sends them (layouts from
<linux/openvswitch.h> and <linux/netlink.h>): datapath, vport, flow,
upcall, meter and conntrack-limit replies, a vport notification, a
family lookup reply, an error with an extended ack, a dump end; and the
same bodies bare (command and version bytes, then the body), which the
target also decodes.

Usage: fuzz/gen-netlink-seeds.py OUTDIR
"""
import hashlib, os, struct, sys

out = os.path.join(sys.argv[1], "netlink_msg")
os.makedirs(out, exist_ok=True)


def attr(kind, value):
    n = 4 + len(value)
    return struct.pack("=HH", n, kind) + value + b"\0" * ((4 - n % 4) % 4)


def u8(k, v): return attr(k, struct.pack("=B", v))
def u16(k, v): return attr(k, struct.pack("=H", v))
def be16(k, v): return attr(k, struct.pack(">H", v))
def u32(k, v): return attr(k, struct.pack("=I", v))
def u64(k, v): return attr(k, struct.pack("=Q", v))
def string(k, s): return attr(k, s.encode() + b"\0")


def ovs_body(attrs, dp_ifindex=7):
    return struct.pack("=i", dp_ifindex) + b"".join(attrs)


def datagram(msgs):
    """msgs: (nlmsg type, flags, cmd, version, body) tuples."""
    d = b""
    for seq, (t, flags, cmd, version, body) in enumerate(msgs, 1):
        payload = struct.pack("=BBH", cmd, version, 0) + body
        m = struct.pack("=IHHII", 16 + len(payload), t, flags, seq, 0) + payload
        d += m + b"\0" * ((4 - len(m) % 4) % 4)
    return d


def write(data):
    with open(os.path.join(out, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


# A flow key: in_port(1), eth(...), eth_type(0x0800), ipv4(...), tcp(...).
key = (u32(3, 1) + attr(4, bytes.fromhex("000102030405" "060708090a0b"))
       + be16(6, 0x0800)
       + attr(7, bytes([10, 0, 0, 1, 10, 0, 0, 2, 6, 0, 64, 0]))
       + attr(9, struct.pack(">HH", 1234, 80)) + be16(18, 0x002))
mask = (u32(3, 0xffffffff) + attr(4, b"\xff" * 12) + be16(6, 0xffff)
        + attr(7, bytes([255, 255, 255, 0] + [255] * 4 + [255, 0, 0, 255]))
        + attr(9, struct.pack(">HH", 0, 0xffff)) + be16(18, 0))
actions = u32(1, 2) + attr(3, attr(7, bytes([1, 1, 1, 1, 2, 2, 2, 2, 6, 0, 64, 0])))
packet = bytes.fromhex("060708090a0b000102030405" "0800") + bytes(
    [0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]) + bytes(20)

FAMILY = 0x20
bodies = [
    # ovs_datapath reply: name, upcall pid, stats, megaflow stats, features.
    (FAMILY, 1, 2, ovs_body([string(1, "dp0"), u32(2, 77), attr(3, struct.pack("=4Q", 5, 6, 7, 0)),
                            attr(4, struct.pack("=QIIQQ", 1, 2, 0, 3, 0)), u32(5, 0x19),
                            u32(7, 256), attr(8, struct.pack("=4I", 10, 11, 12, 13))])),
    # ovs_vport reply and notification (NEW), with options and stats.
    (FAMILY + 1, 1, 2, ovs_body([u32(1, 3), u32(2, 3), string(3, "vxlan_sys_4789"),
                                attr(4, u16(1, 4789)), attr(5, struct.pack("=2I", 90, 91)),
                                attr(6, struct.pack("=8Q", *range(8))), u32(8, 12)])),
    (FAMILY + 1, 1, 3, ovs_body([u32(1, 0), u32(2, 2), string(3, "dp0"), u32(5, 0)])),
    # ovs_flow reply: ufid, key, mask, actions, stats, used, tcp flags.
    (FAMILY + 2, 1, 1, ovs_body([attr(9, bytes(range(16))), attr(1, key), attr(7, mask),
                                attr(2, actions), attr(3, struct.pack("=2Q", 3, 180)),
                                u64(5, 123456), u8(4, 0x12)])),
    # ovs_packet MISS (1) and ACTION (2) upcalls.
    (FAMILY + 3, 1, 1, ovs_body([attr(1, packet), attr(2, key), u16(9, 1500), u32(10, 54),
                                u32(11, 0xdeadbeef)])),
    (FAMILY + 3, 2, 1, ovs_body([attr(1, packet), attr(2, key), attr(4, b"cookie-1"),
                                attr(5, attr(2, bytes([10, 0, 0, 9])) + u64(1, 5))])),
    # ovs_meter features reply and stats reply.
    (FAMILY + 4, 6, 1, ovs_body([u32(7, 1024), u32(8, 1),
                                attr(4, attr(1, u32(1, 1)))])),
    (FAMILY + 4, 3, 1, ovs_body([u32(1, 5), attr(3, struct.pack("=2Q", 10, 1000)),
                                attr(4, attr(1, u32(1, 1) + attr(4, struct.pack("=2Q", 2, 200))))])),
    # ovs_ct_limit reply: default, zone 1, zone 2.
    (FAMILY + 5, 3, 1, ovs_body([attr(1, struct.pack("=iII", -1, 100, 0)
                                     + struct.pack("=iII", 1, 10, 3)
                                     + struct.pack("=iII", 2, 20, 0))], 0)),
    # nlctrl CTRL_CMD_NEWFAMILY reply for ovs_vport with its multicast group.
    (0x10, 1, 2, string(2, "ovs_vport") + u16(1, FAMILY + 1) + u32(3, 2) + u32(4, 4)
     + u32(5, 10) + attr(7, attr(1, u32(2, 9) + string(1, "ovs_vport")))),
]

for t, cmd, version, body in bodies:
    write(datagram([(t, 0, cmd, version, body)]))
    write(bytes([cmd, version]) + body)

# A dump: two flow replies, then NLMSG_DONE.
flow = bodies[3]
d = datagram([(flow[0], 2, flow[1], flow[2], flow[3])] * 2)
d += struct.pack("=IHHIIi", 20, 3, 2, 3, 0, 0)
write(d)

# An error with an extended ack (NLM_F_CAPPED | NLM_F_ACK_TLVS).
text = b"Flow key attribute not present in new flow.\0"
ext = struct.pack("=HH", 4 + len(text), 1) + text + b"\0" * ((4 - len(text) % 4) % 4)
err = struct.pack("=i", -22) + struct.pack("=IHHII", 36, FAMILY + 2, 5, 1, 0) + ext
write(struct.pack("=IHHII", 16 + len(err), 2, 0x300, 1, 0) + err)
