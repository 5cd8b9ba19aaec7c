#!/usr/bin/env python3
"""Hostile-input check for an OpenFlow switch, compared against stock.

Usage: hostile.py STOCK_SOCKET FERROVS_SOCKET

Sends the same malformed messages (truncated, oversized, wrong version,
wrong length, unknown types, bad matches and actions) over each switch's
management socket and compares the replies byte for byte. After every
case an echo request checks that the connection still serves (or both
switches must have closed it). Exits non-zero on any difference.
"""
import socket
import struct
import sys

TIMEOUT = 10.0


def hdr(version, mtype, length, xid):
    return struct.pack("!BBHI", version, mtype, length, xid)


def msg(version, mtype, body=b"", xid=0x11223344, length=None):
    n = 8 + len(body) if length is None else length
    return hdr(version, mtype, n, xid) + body


def hello(versions):
    bitmap = sum(1 << v for v in versions)
    body = struct.pack("!HHI", 1, 8, bitmap)
    return msg(max(versions), 0, body, xid=1)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        self.s.connect(path)
        self.buf = b""

    def recv_msg(self):
        while True:
            if len(self.buf) >= 8:
                n = struct.unpack("!H", self.buf[2:4])[0]
                if n >= 8 and len(self.buf) >= n:
                    m, self.buf = self.buf[:n], self.buf[n:]
                    return m
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return "TIMEOUT"
            except OSError:
                return "CLOSED"
            if not d:
                return "CLOSED"
            self.buf += d

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            pass

    def close(self):
        self.s.close()


def run_case(path, versions, payload, version):
    """Handshakes with `versions`, sends `payload`, then an echo request;
    returns everything received after the switch's hello."""
    c = Conn(path)
    out = []
    c.send(hello(versions))
    h = c.recv_msg()
    if not isinstance(h, bytes) or h[1] != 0:
        return ["NO HELLO %r" % (h,)]
    c.send(payload)
    c.send(msg(version, 2, b"ping", xid=0xeeeeeeee))
    while True:
        m = c.recv_msg()
        if not isinstance(m, bytes):
            out.append(m)
            break
        if m[1] == 3 and m[4:8] == b"\xee\xee\xee\xee":
            out.append("ECHO OK")
            break
        out.append(m.hex())
    c.close()
    return out


def flow_mod10(match=b"\x00\x3f\xff\xff" + bytes(36), command=0, actions=b"", flags=0, length=None, buffer_id=0xffffffff):
    body = match + struct.pack("!QHHHHIHH", 0, command, 0, 0, 0x8000, buffer_id, 0xffff, flags) + actions
    return msg(1, 14, body, length=length)


def nx_flow_mod(nxm, command=0, actions=b""):
    mlen = len(nxm)
    pad = (8 - mlen % 8) % 8
    body = struct.pack("!II", 0x2320, 13) + struct.pack("!QHHHHIHHH6x", 0, command, 0, 0, 0x8000, 0xffffffff, 0xffff, 0, mlen) + nxm + bytes(pad) + actions
    return msg(1, 4, body)


def flow_mod13(oxm, command=0, table=0, instructions=b"", version=4):
    mlen = 4 + len(oxm)
    pad = (8 - mlen % 8) % 8
    body = struct.pack("!QQBBHHHIIIH2x", 0, 0, table, command, 0, 0, 0x8000, 0xffffffff, 0xffffffff, 0xffffffff, 0)
    body += struct.pack("!HH", 1, mlen) + oxm + bytes(pad) + instructions
    return msg(version, 14, body)


def output10(port, length=8):
    return struct.pack("!HHHH", 0, length, port, 0)


def apply13(actions):
    return struct.pack("!HH4x", 4, 8 + len(actions)) + actions


def output13(port):
    return struct.pack("!HHIH6x", 0, 16, port, 0)


ETH_IP = struct.pack("!IH", 0x00000602, 0x0800)      # NXM_OF_ETH_TYPE
OXM_ETH_IP = struct.pack("!IH", 0x80000a02, 0x0800)  # OXM_OF_ETH_TYPE

def bundle_ctrl(bid, btype, flags=3, version=5, xid=0x11223344):
    return msg(version, 33, struct.pack("!IHH", bid, btype, flags), xid=xid)


def bundle_add(bid, inner, flags=3, version=5, xid=0x11223344):
    body = struct.pack("!IHH", bid, 0, flags) + inner
    body += bytes((8 - len(body) % 8) % 8)
    return msg(version, 34, body, xid=xid)


def onf_bundle_ctrl(bid, btype, flags=3):
    return msg(4, 4, struct.pack("!IIIHH", 0x4f4e4600, 2300, bid, btype, flags))


CASES = [
    # (name, negotiated versions, version of the payload, payload)
    ("unknown type", [1], 1, msg(1, 0x7e)),
    ("unknown type 1.3", [4], 4, msg(4, 0x7e)),
    ("wrong version", [1], 1, msg(4, 5)),
    ("unknown version", [4], 4, msg(9, 5)),
    ("features request with body", [1], 1, msg(1, 5, b"\x00" * 8)),
    ("features request 1.3", [4], 4, msg(4, 5)),
    ("barrier with body", [4], 4, msg(4, 20, b"\x01\x02\x03\x04")),
    ("get_config with body", [1], 1, msg(1, 7, b"\x00\x00\x00\x00")),
    ("set_config short", [1], 1, msg(1, 9, b"\x00")),
    ("oversized echo", [1], 1, msg(1, 2, b"\xab" * (65535 - 8))),
    ("truncated flow_mod 1.0", [1], 1, msg(1, 14, b"\x00" * 12)),
    ("flow_mod bad command", [1], 1, flow_mod10(command=9)),
    ("flow_mod buffer id", [1], 1, flow_mod10(buffer_id=5)),
    ("flow_mod bad flags", [1], 1, flow_mod10(flags=0x80)),
    ("flow_mod emerg", [1], 1, flow_mod10(flags=4)),
    ("action bad type", [1], 1, flow_mod10(actions=struct.pack("!HH4x", 0x70, 8))),
    ("action short len", [1], 1, flow_mod10(actions=output10(1, length=4))),
    ("action len past end", [1], 1, flow_mod10(actions=output10(1, length=64))),
    ("actions length not multiple of 8", [1], 1, flow_mod10(actions=output10(1, length=12) + bytes(4))),
    ("action len not multiple of 8", [1], 1, flow_mod10(actions=output10(1, length=12) + bytes(8))),
    ("action bad out port", [1], 1, flow_mod10(actions=output10(0xff80))),
    ("action bad vendor", [1], 1, flow_mod10(actions=struct.pack("!HHIH6x", 0xffff, 16, 0x1234, 1))),
    ("action bad nx subtype", [1], 1, flow_mod10(actions=struct.pack("!HHIH6x", 0xffff, 16, 0x2320, 0x3ff))),
    ("nxm unknown field", [1], 1, nx_flow_mod(struct.pack("!IH", 0x0001fe02, 1))),
    ("nxm unmapped tun_metadata", [1], 1, nx_flow_mod(struct.pack("!IH", 0x00017e02, 1))),
    ("nxm bad prereq", [1], 1, nx_flow_mod(struct.pack("!II", 0x00000e04, 0x0a000001))),
    ("nxm dup field", [1], 1, nx_flow_mod(ETH_IP + ETH_IP)),
    ("nxm truncated entry", [1], 1, nx_flow_mod(struct.pack("!IH", 0x00000604, 0x0800))),
    ("nxm bad wildcards", [1], 1, nx_flow_mod(ETH_IP + struct.pack("!III", 0x00000f08, 0x0a000001, 0xff000000))),
    ("nxm bad mask on exact field", [1], 1, nx_flow_mod(struct.pack("!IHH", 0x00000704, 0x0800, 0xff00))),
    ("nxm bad value", [1], 1, nx_flow_mod(ETH_IP + struct.pack("!IB", 0x00000a01, 0x03))),
    ("nx bad subtype", [1], 1, msg(1, 4, struct.pack("!II", 0x2320, 0x7fff))),
    ("vendor unknown", [1], 1, msg(1, 4, struct.pack("!II", 0x12345678, 1))),
    ("vendor short", [1], 1, msg(1, 4, b"\x00\x00")),
    ("set flow format bad", [1], 1, msg(1, 4, struct.pack("!III", 0x2320, 12, 7))),
    ("stats unknown type 1.0", [1], 1, msg(1, 16, struct.pack("!HH", 0x55, 0))),
    ("stats unknown type 1.3", [4], 4, msg(4, 18, struct.pack("!HH4x", 0x55, 0))),
    ("flow stats truncated", [4], 4, msg(4, 18, struct.pack("!HH4x", 1, 0) + b"\x00" * 8)),
    ("oxm flow_mod bad match type", [4], 4, msg(4, 14, struct.pack("!QQBBHHHIIIH2x", 0, 0, 0, 0, 0, 0, 1, 0xffffffff, 0xffffffff, 0xffffffff, 0) + struct.pack("!HH4x", 0, 8))),
    ("oxm flow_mod bad table", [4], 4, flow_mod13(b"", table=0xfe)),
    ("oxm flow_mod add all tables", [4], 4, flow_mod13(b"", table=0xff)),
    ("oxm unknown instruction", [4], 4, flow_mod13(b"", instructions=struct.pack("!HH4x", 0x33, 8))),
    # OpenFlow 1.1+'s copy_ttl_out/in, which Open vSwitch does not support.
    ("oxm copy_ttl_out", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HH4x", 11, 8)))),
    ("oxm copy_ttl_in", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HH4x", 12, 8)))),
    ("oxm dup instruction", [4], 4, flow_mod13(b"", instructions=apply13(output13(1)) + apply13(output13(2)))),
    ("oxm goto backwards", [4], 4, flow_mod13(b"", table=3, instructions=struct.pack("!HHB3x", 1, 8, 2))),
    ("oxm set_field wrong length", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHII4x", 25, 16, 0x80000a04, 1)))),
    ("oxm flow_mod length not in 8-byte units", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHIB3x", 25, 16, 0x80001401, 1)))),
    ("oxm set_field read-only field", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHIB7x", 25, 16, 0x80001401, 1)))),
    ("oxm set_field in_port", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHII4x", 25, 16, 0x80000004, 1)))),
    ("oxm prereq", [4], 4, flow_mod13(struct.pack("!II", 0x80001604, 0x0a000001))),
    ("port_mod unknown port", [1], 1, msg(1, 15, struct.pack("!H6sIII4x", 9, bytes(6), 1, 1, 0))),
    ("port_mod wrong hw addr", [1], 1, msg(1, 15, struct.pack("!H6sIII4x", 1, bytes(6), 1, 1, 0))),
    ("port_mod 1.3 unknown port", [4], 4, msg(4, 16, struct.pack("!I4x6s2xIII4x", 9, bytes(6), 1, 1, 0))),
    ("port_mod 1.3 short", [4], 4, msg(4, 16, struct.pack("!I4x", 1))),
    ("packet_out bad in_port", [1], 1, msg(1, 13, struct.pack("!IHH", 0xffffffff, 0xff80, 0))),
    ("packet_out buffer", [1], 1, msg(1, 13, struct.pack("!IHH", 5, 1, 8) + output10(2))),
    ("packet_out actions too long", [1], 1, msg(1, 13, struct.pack("!IHH", 0xffffffff, 1, 64) + output10(2))),
    ("packet_out bad action", [1], 1, msg(1, 13, struct.pack("!IHH", 0xffffffff, 1, 8) + struct.pack("!HH4x", 0x70, 8))),
    ("packet_out ok", [1], 1, msg(1, 13, struct.pack("!IHH", 0xffffffff, 1, 8) + output10(2) + bytes(60))),
    ("packet_out 1.3 bad port", [4], 4, msg(4, 13, struct.pack("!IIH6x", 0xffffffff, 0xffffff80, 0))),
    ("packet_out 1.3 missing group", [4], 4, msg(4, 13, struct.pack("!IIH6x", 0xffffffff, 1, 8) + struct.pack("!HHI", 22, 8, 99))),
    ("get async 1.3", [4], 4, msg(4, 26)),
    ("get async 1.4", [5], 5, msg(5, 26)),
    ("get async 1.5 with body", [6], 6, msg(6, 26, bytes(8))),
    ("set async 1.3 bad bits", [4], 4, msg(4, 28, struct.pack("!6I", 0x80, 0, 0, 0, 0, 0)) + msg(4, 26)),
    ("set async 1.3 short", [4], 4, msg(4, 28, bytes(20))),
    ("set async 1.3 ok", [4], 4, msg(4, 28, struct.pack("!6I", 1, 2, 3, 4, 5, 6)) + msg(4, 26)),
    ("set async 1.4 props", [5], 5, msg(5, 28, struct.pack("!HHIHHI", 1, 8, 0x3, 2, 8, 0)) + msg(5, 26)),
    ("set async 1.4 unknown prop", [5], 5, msg(5, 28, struct.pack("!HHI", 40, 8, 1))),
    ("set async 1.4 bad bits", [5], 5, msg(5, 28, struct.pack("!HHI", 3, 8, 0x100))),
    ("set async 1.4 bad prop len", [5], 5, msg(5, 28, struct.pack("!HHII", 3, 12, 1, 0))),
    ("nx set async 1.0", [1], 1, msg(1, 4, struct.pack("!II6I", 0x2320, 19, 1, 0, 7, 7, 7, 0))),
    ("table_mod bad table", [5], 5, msg(5, 17, struct.pack("!B3xI", 0xfe, 4))),
    ("table_mod hidden table", [5], 5, msg(5, 17, struct.pack("!B3xI", 0xfe, 4))),
    ("table_mod eviction flags", [5], 5, msg(5, 17, struct.pack("!B3xIHHI", 1, 4, 2, 8, 1))),
    ("table_mod bad vacancy", [5], 5, msg(5, 17, struct.pack("!B3xIHHBBBx", 1, 8, 3, 8, 90, 10, 0))),
    ("table_mod unknown prop", [5], 5, msg(5, 17, struct.pack("!B3xIHHI", 1, 4, 9, 8, 1))),
    ("table_mod 1.1", [2], 2, msg(2, 17, struct.pack("!B3xI", 1, 2))),
    # (Stock answers a bad flow monitor request as if the bytes after the
    # failing entry were the request; when none are left it reads past the
    # message, so only cases with bytes left are deterministic.)
    ("flow monitor 1.4 bad flags", [5], 5, msg(5, 18, struct.pack("!HH4xIIIHBB", 16, 0, 1, 0xffffffff, 0xffffffff, 0x80, 0xff, 0) + struct.pack("!HH4x", 1, 4))),
    ("nx flow monitor cancel unknown", [1], 1, msg(1, 4, struct.pack("!III", 0x2320, 21, 77))),
    ("set_field without prerequisite", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHII4x", 25, 16, 0x80001604, 0x0a000001)))),
    ("set_field vlan_vid without tag", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HHIH6x", 25, 16, 0x80000c02, 0x1005)))),
    ("set_nw_src on non-IP 1.0", [1], 1, flow_mod10(actions=struct.pack("!HHI", 6, 8, 0x0a000001))),
    ("set_nw_src on non-IP 1.1", [2], 2, msg(2, 14, struct.pack("!QQBBHHHIIIH2x", 0, 0, 0, 0, 0, 0, 0x8000, 0xffffffff, 0xffffffff, 0xffffffff, 0) + struct.pack("!HHI", 0, 88, 0) + struct.pack("!I", 0x3ff) + bytes(80) + struct.pack("!HH4x", 4, 16) + struct.pack("!HHI", 5, 8, 0x0a000001))),
    ("pop_vlan without tag 1.3", [4], 4, flow_mod13(b"", instructions=apply13(struct.pack("!HH4x", 18, 8)))),
    ("move without prerequisite", [1], 1, flow_mod10(actions=struct.pack("!HHIHHHHII", 0xffff, 24, 0x2320, 6, 32, 0, 0, 0x00000e04, 0x00010004))),
    ("bundle close unknown", [5], 5, bundle_ctrl(7, 2)),
    ("bundle commit unknown", [5], 5, bundle_ctrl(7, 4)),
    ("bundle discard unknown", [5], 5, bundle_ctrl(7, 6)),
    ("bundle reply type", [5], 5, bundle_ctrl(7, 1)),
    ("bundle open twice", [5], 5, bundle_ctrl(7, 0) + bundle_ctrl(7, 0)),
    ("bundle open, close, close", [5], 5, bundle_ctrl(7, 0) + bundle_ctrl(7, 2) + bundle_ctrl(7, 2)),
    ("bundle close with other flags", [5], 5, bundle_ctrl(7, 0) + bundle_ctrl(7, 2, flags=1)),
    ("bundle add xid mismatch", [5], 5, bundle_add(7, msg(5, 20, xid=5))),
    ("bundle add unbundlable", [5], 5, bundle_add(7, msg(5, 20))),
    ("bundle add wrong version", [5], 5, bundle_add(7, msg(4, 14))),
    ("bundle add inner too long", [5], 5, bundle_add(7, hdr(5, 14, 200, 0x11223344))),
    ("bundle add to closed", [5], 5, bundle_ctrl(7, 0) + bundle_ctrl(7, 2) + bundle_add(7, flow_mod13(OXM_ETH_IP, version=5))),
    ("bundle add then commit", [5], 5, bundle_add(7, flow_mod13(OXM_ETH_IP, version=5)) + bundle_ctrl(7, 4)),
    ("bundle commit failing", [5], 5, bundle_add(8, flow_mod13(b"", version=5)) + bundle_add(8, flow_mod13(b"", table=0xfe, version=5)) + bundle_ctrl(8, 4)),
    ("onf bundle 1.3", [4], 4, onf_bundle_ctrl(3, 0) + onf_bundle_ctrl(3, 4) + onf_bundle_ctrl(3, 4)),
    ("oxm valid flow then dump", [4], 4, flow_mod13(OXM_ETH_IP, instructions=apply13(output13(1))) + msg(4, 18, struct.pack("!HH4xB3xII4xQQ", 2, 0, 0xff, 0xffffffff, 0xffffffff, 0, 0) + struct.pack("!HH4x", 1, 4))),
]


def main():
    stock, ours = sys.argv[1], sys.argv[2]
    failed = 0
    for name, versions, version, payload in CASES:
        a = run_case(stock, versions, payload, version)
        b = run_case(ours, versions, payload, version)
        if a != b:
            failed += 1
            print("DIFF: %s" % name)
            print("  stock:   %s" % [x[:160] for x in a])
            print("  ferrovs: %s" % [x[:160] for x in b])
    # Connection-level cases: a length below the header size, a first
    # message that is not a hello, and no common version.
    for name, data in [
        ("length below header", None),
        ("no hello first", msg(1, 2, b"x")),
        ("no common version", hello([7])),
    ]:
        res = []
        for path in (stock, ours):
            c = Conn(path)
            h = c.recv_msg()
            if name == "length below header":
                c.send(hello([1]))
                c.send(hdr(1, 2, 4, 9))
            else:
                c.send(data)
            got = []
            while True:
                m = c.recv_msg()
                if not isinstance(m, bytes):
                    got.append(m)
                    break
                got.append(m.hex())
            c.close()
            res.append(got)
        if res[0] != res[1]:
            failed += 1
            print("DIFF: %s" % name)
            print("  stock:   %s" % res[0])
            print("  ferrovs: %s" % res[1])
    total = len(CASES) + 3
    print("hostile: %d cases, %d same, %d different" % (total, total - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
