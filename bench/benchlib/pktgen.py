#!/usr/bin/env python3
"""Raw-frame sender and receiver for the setup and restart scenarios, run
inside a benchmark namespace (`ip netns exec NS python3 pktgen.py ...`).

Frames are Ethernet/IPv4/UDP to port 9999 with a payload of b"FVB1" and a
32-bit sequence number. Both sides record CLOCK_MONOTONIC, which all
namespaces share, so one-way delays can be computed from the two records.

  pktgen.py send IFACE FIRST COUNT INTERVAL_S {unique|same}
      COUNT frames numbered from FIRST, one every INTERVAL_S (0: as fast as
      possible); with `unique` each frame has a source MAC made from its
      number, so that a switch doing MAC learning (NORMAL) needs a new
      datapath flow for each one.
      Prints {"tx": [times...]}.
  pktgen.py recv IFACE DEADLINE_S
      Prints "ready", then records frames until SIGTERM or DEADLINE_S.
      Prints {"seq": [...], "rx": [...]}.
"""

import json
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
MAGIC = b"FVB1"
UDP_PORT = 9999
SRC_MAC_NS_A = bytes.fromhex("02000afb0001")
DST_MAC_NS_B = bytes.fromhex("02000afb0002")
SRC_IP = socket.inet_aton("10.251.0.1")
DST_IP = socket.inet_aton("10.251.0.2")


def ip_checksum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(seq, unique):
    payload = MAGIC + struct.pack("!I", seq) + bytes(10)
    udp = struct.pack("!HHHH", 40000 + (seq % 20000), UDP_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     SRC_IP, DST_IP)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    src = b"\x0e" + struct.pack("!xI", seq) if unique else SRC_MAC_NS_A
    return DST_MAC_NS_B + src + b"\x08\x00" + ip + udp


def send(iface, first, count, interval, unique):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    frames = [frame(first + n, unique) for n in range(count)]
    tx = []
    start = time.monotonic()
    for n, data in enumerate(frames):
        if interval:
            due = start + n * interval
            while time.monotonic() < due:
                pass
        tx.append(time.monotonic())
        try:
            sock.send(data)
        except OSError:
            tx[-1] = None  # the local queue was full: never left
    print(json.dumps({"first": first, "tx": tx}))


def recv(iface, deadline_s):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.settimeout(0.05)
    print("ready", flush=True)
    seqs, times = [], []
    end = time.monotonic() + deadline_s
    while not stop and time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(2048)
        except socket.timeout:
            continue
        now = time.monotonic()
        # addr[2] is the packet type: skip our own outgoing frames.
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 50:
            continue
        if data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        if struct.unpack("!H", data[36:38])[0] != UDP_PORT or data[42:46] != MAGIC:
            continue
        seqs.append(struct.unpack("!I", data[46:50])[0])
        times.append(now)
    print(json.dumps({"seq": seqs, "rx": times}))


def main(argv):
    if len(argv) == 7 and argv[1] == "send":
        send(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), argv[6] == "unique")
    elif len(argv) == 4 and argv[1] == "recv":
        recv(argv[2], float(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
