#!/usr/bin/env python3
"""A scripted OpenFlow 1.3 controller that drives stock ovs-vswitchd and
ferrovs the same way over TCP and compares what each switch sends.

Usage: controller.py 'STOCK_CONNECT_CMD' 'STOCK_ADDPORT_CMD' 'STOCK_PACKET_CMD' \
                     'FERROVS_CONNECT_CMD' 'FERROVS_ADDPORT_CMD' 'FERROVS_PACKET_CMD'
Each *_CONNECT_CMD is a shell command with {target} standing for the
controller address (e.g. tcp:127.0.0.1:PORT); *_ADDPORT_CMD adds port 3;
*_PACKET_CMD makes a packet ({hex}) arrive on port 1 and hit a controller
action.
Inherited file descriptors stay open for the commands (the ferrovs test
daemon reads its commands from one).
"""
import os
import socket
import struct
import subprocess
import sys
import time

V = 4  # OpenFlow 1.3


def msg(mtype, body=b"", xid=0):
    return struct.pack("!BBHI", V, mtype, 8 + len(body), xid) + body


class Peer:
    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(0.2)
        self.buf = b""

    def recv(self, timeout):
        """Next message, or None after `timeout` seconds."""
        end = time.time() + timeout
        while True:
            if len(self.buf) >= 8:
                n = struct.unpack("!H", self.buf[2:4])[0]
                if n >= 8 and len(self.buf) >= n:
                    m, self.buf = self.buf[:n], self.buf[n:]
                    return m
            if time.time() >= end:
                return None
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                return None
            self.buf += d

    def send(self, data):
        self.s.sendall(data)


def normalize(m):
    """Hex of a message with the fields that legitimately differ blanked:
    durations, MAC addresses of ports, echo payloads."""
    b = bytearray(m)
    t = b[1]
    if t == 11 and len(b) >= 24:  # flow removed: duration_sec/nsec
        b[20:28] = b"\0" * 8
    if t == 12 and len(b) >= 32:  # port status: hw_addr
        b[24:30] = b"\0" * 6
    if t == 0:  # hello: the xid comes from a switch-wide counter
        b[4:8] = b"\0" * 4
    if t == 19 and len(b) >= 16 and struct.unpack("!H", b[8:10])[0] == 1:
        # flow stats: each entry's duration
        off = 16
        while off + 16 <= len(b):
            ln = struct.unpack("!H", b[off:off + 2])[0]
            if ln < 16:
                break
            b[off + 4:off + 12] = b"\0" * 8
            off += ln
    return bytes(b).hex()


FRAME = bytes.fromhex("ffffffffffff00000000000108060001080006040001000000000001c0a80001000000000000c0a80002")


def scenario(label, connect_cmd, addport_cmd, packet_cmd):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(15)
    target = "tcp:127.0.0.1:%d" % lsock.getsockname()[1]
    subprocess.run(connect_cmd.format(target=target), shell=True, check=True, close_fds=False)
    conn, _ = lsock.accept()
    p = Peer(conn)
    log = []

    def expect(label, timeout=8.0, want_type=None):
        while True:
            m = p.recv(timeout)
            if m is None:
                log.append((label, "NOTHING"))
                return
            if m[1] == 2:  # answer the switch's probes, but log nothing
                p.send(msg(3, m[8:], struct.unpack("!I", m[4:8])[0]))
                continue
            log.append((label, normalize(m)))
            if want_type is None or m[1] == want_type:
                return

    expect("hello")
    snoop = os.environ.get("SNOOP_CMD_" + label)
    
    p.send(struct.pack("!BBHIHHI", V, 0, 16, 1, 1, 8, 1 << V))
    p.send(msg(5, xid=2))
    expect("features")
    if snoop:
        # ovs-ofctl snoop watches this connection from now on.
        subprocess.Popen(snoop, shell=True, close_fds=False)
        time.sleep(1)
    p.send(msg(9, struct.pack("!HH", 0, 128), xid=3))
    p.send(msg(7, xid=4))
    expect("get_config")
    p.send(msg(24, struct.pack("!I4xQ", 2, 5), xid=5))
    expect("role master")
    p.send(msg(24, struct.pack("!I4xQ", 2, 3), xid=6))
    expect("stale role")
    flow_stats = struct.pack("!HH4xB3xII4xQQ", 1, 0, 0xff, 0xffffffff, 0xffffffff, 0, 0) + struct.pack("!HH4x", 1, 4)
    p.send(msg(18, flow_stats, xid=7))
    expect("flows after connect", want_type=19)
    oxm = struct.pack("!IH", 0x80000a02, 0x0800)
    match = struct.pack("!HH", 1, 4 + len(oxm)) + oxm
    match += bytes((8 - len(match) % 8) % 8)
    out = struct.pack("!HHIH6x", 0, 16, 1, 0)
    ins = struct.pack("!HH4x", 4, 8 + len(out)) + out
    fm = struct.pack("!QQBBHHHIIIH2x", 0x77, 0, 0, 0, 0, 1, 10, 0xffffffff, 0xffffffff, 0xffffffff, 1) + match + ins
    p.send(msg(14, fm, xid=8))
    p.send(msg(20, xid=9))
    expect("barrier after flow_mod")
    p.send(msg(18, flow_stats, xid=10))
    expect("flows after add", want_type=19)
    expect("flow removed", timeout=10.0)
    subprocess.run(addport_cmd, shell=True, check=True, close_fds=False)
    expect("port status (add)", timeout=8.0)
    expect("port status (link up)", timeout=8.0)
    # A packet hits "in_port=1 actions=controller(max_len=32)".
    ctl = struct.pack("!HHIH6x", 0, 16, 0xfffffffd, 32)
    ins_ctl = struct.pack("!HH4x", 4, 8 + len(ctl)) + ctl
    oxm_in = struct.pack("!II", 0x80000004, 1)
    match_in = struct.pack("!HH", 1, 4 + len(oxm_in)) + oxm_in
    match_in += bytes((8 - len(match_in) % 8) % 8)
    fm2 = struct.pack("!QQBBHHHIIIH2x", 0x99, 0, 0, 0, 0, 0, 20, 0xffffffff, 0xffffffff, 0xffffffff, 0) + match_in + ins_ctl
    p.send(msg(14, fm2, xid=20))
    p.send(msg(20, xid=21))
    expect("barrier after controller flow")
    subprocess.run(packet_cmd.format(hex=FRAME.hex()), shell=True, check=True, close_fds=False)
    expect("packet in", timeout=8.0)
    p.send(msg(2, b"abc", xid=11))
    expect("echo", want_type=3)
    p.send(msg(24, struct.pack("!I4xQ", 3, 6), xid=12))
    expect("role slave")
    p.send(msg(14, fm, xid=13))
    expect("flow_mod as slave")
    p.send(msg(26, xid=14))
    expect("get async (default)")
    p.send(msg(28, struct.pack("!6I", 0x1, 0x0, 0x3, 0x1, 0x7, 0x2), xid=15))
    p.send(msg(26, xid=16))
    expect("get async (after set)")
    conn.close()
    lsock.close()
    return log


def main():
    stock = scenario("STOCK", sys.argv[1], sys.argv[2], sys.argv[3])
    ours = scenario("FERROVS", sys.argv[4], sys.argv[5], sys.argv[6])
    failed = 0
    for i in range(max(len(stock), len(ours))):
        a = stock[i] if i < len(stock) else ("-", "MISSING")
        b = ours[i] if i < len(ours) else ("-", "MISSING")
        if a != b:
            failed += 1
            print("DIFF at %s:\n  stock:   %s\n  ferrovs: %s" % (a[0], a[1][:200], b[1][:200]))
    for label, m in stock:
        print("  %-24s %s" % (label, m[:72]))
    print("controller: %d exchanges, %d different" % (len(stock), failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
