#!/usr/bin/env python3
"""Raw-frame sender and receiver for the setup and restart scenarios, run
inside a benchmark namespace (`ip netns exec NS python3 pktgen.py ...`).

Frames are Ethernet/IPv4/UDP to port 9999 with a payload of b"FVB1" and a
32-bit sequence number. Both sides record CLOCK_MONOTONIC, which all
namespaces share, so one-way delays can be computed from the two records.

The MODE of a run says which frames belong to one flow: `unique` gives
each frame a source MAC made from its number (a switch doing MAC
learning, NORMAL, needs a new datapath flow for each one) and the UDP
source port 40000 + number % 20000; `same` keeps A's own MAC but still
varies the port; `oneflow` keeps A's MAC and UDP source port 39999 (no
numbered frame has it): one flow for every frame, whatever the switch
matches on. (bench/src/pktgen_window.rs builds the same frames.)

  pktgen.py send IFACE FIRST COUNT INTERVAL_S MODE
      COUNT frames numbered from FIRST, one every INTERVAL_S (0: as fast as
      possible).
      Prints {"tx": [times...]}.
  pktgen.py recv IFACE DEADLINE_S
      Prints "ready", then records frames until SIGTERM or DEADLINE_S.
      Prints {"seq": [...], "rx": [...]}.
  pktgen.py window NS_A IFACE_A NS_B IFACE_B FIRST COUNT WINDOW MODE
                   FRAME_TIMEOUT_S MAX_S
      Run from the root namespace: holds a sending socket in NS_A and a
      receiving one in NS_B (and, as `sink` does, the frames' UDP port in
      NS_B, never read), and keeps at most WINDOW frames in flight (a
      frame not back within FRAME_TIMEOUT_S counts as lost), for COUNT
      frames or MAX_S seconds. One process, one clock: prints
      {"completed": N, "lost": N, "seconds": S, "delays": [...]}.
      (bench/src/pktgen_window.rs, binary `pktgen-window` with the same
      arguments, does the same without Python's cost per frame.)
  pktgen.py flood IFACE SECONDS FLOWS
      Sends 60-byte frames as fast as one core can for SECONDS, 64 per
      sendmmsg call, cycling through FLOWS UDP source ports (FLOWS
      distinct datapath keys). Prints {"sent": N, "failed": N, "seconds": S}.
      It offers more than a switch can forward (the switch pays more per
      frame: a receive, a lookup and a send into the receiver's stack),
      so what arrives measures the switch.
  pktgen.py sink SECONDS
      Holds a UDP socket bound to port 9999 with the smallest buffer,
      never read, until SIGTERM or SECONDS: flood frames reaching the
      receiving namespace are then dropped at that full socket, the
      cheapest way a stack takes a datagram. (To a closed port, every
      one would cost a route lookup for an ICMP error, which would weigh
      more than the switch.)
"""

import ctypes
import json
import os
import select
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
MODES = ("unique", "same", "oneflow")
ONEFLOW_PORT = 39999  # below every numbered frame's (40000-59999)


def ip_checksum(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(seq, mode):
    payload = MAGIC + struct.pack("!I", seq) + bytes(10)
    sport = ONEFLOW_PORT if mode == "oneflow" else 40000 + (seq % 20000)
    udp = struct.pack("!HHHH", sport, UDP_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                     SRC_IP, DST_IP)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    src = b"\x0e" + struct.pack("!xI", seq) if mode == "unique" else SRC_MAC_NS_A
    return DST_MAC_NS_B + src + b"\x08\x00" + ip + udp


def send(iface, first, count, interval, mode):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    frames = [frame(first + n, mode) for n in range(count)]
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
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        seq = our_seq(data)
        if seq is not None:
            seqs.append(seq)
            times.append(now)
    print(json.dumps({"seq": seqs, "rx": times}))


CLONE_NEWNET = 0x40000000


def socket_in_netns(ns, iface, receive):
    """An AF_PACKET socket bound to iface inside namespace ns; the calling
    thread returns to its own namespace afterwards (sockets keep theirs).
    iface None: a UDP socket bound to the frames' port there instead, with
    the smallest receive buffer, for holding unread (see `sink`)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        try:
            if iface is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
                sock.bind(("", UDP_PORT))
                return sock
            if receive:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
            else:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((iface, 0))
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)
    return sock


def our_seq(data):
    """The sequence number of one of our frames, else None."""
    if len(data) < 50 or data[12:14] != b"\x08\x00" or data[23] != 17:
        return None
    if struct.unpack("!H", data[36:38])[0] != UDP_PORT or data[42:46] != MAGIC:
        return None
    return struct.unpack("!I", data[46:50])[0]


def window(ns_a, iface_a, ns_b, iface_b, first, count, in_flight, mode, frame_timeout,
           max_s):
    tx = socket_in_netns(ns_a, iface_a, receive=False)
    rx = socket_in_netns(ns_b, iface_b, receive=True)
    rx.setblocking(False)
    port_sink = socket_in_netns(ns_b, None, receive=True)  # held, never read
    outstanding = {}
    delays = []
    lost = 0
    nxt, end = first, first + count
    start = time.monotonic()
    last_done = start
    while (nxt < end or outstanding) and time.monotonic() - start < max_s:
        while len(outstanding) < in_flight and nxt < end:
            data = frame(nxt, mode)
            outstanding[nxt] = time.monotonic()
            try:
                tx.send(data)
            except OSError:  # the local queue was full: the frame never left
                del outstanding[nxt]
                lost += 1
            nxt += 1
        select.select([rx], [], [], 0.005)
        while True:
            try:
                data = rx.recv(2048)
            except BlockingIOError:
                break
            now = time.monotonic()
            seq = our_seq(data)
            sent = outstanding.pop(seq, None)
            if sent is not None:
                delays.append(now - sent)
                last_done = now
        now = time.monotonic()
        for seq in [s for s, t in outstanding.items() if now - t > frame_timeout]:
            del outstanding[seq]
            lost += 1
    lost += len(outstanding)
    print(json.dumps({"completed": len(delays), "lost": lost,
                      "seconds": last_done - start, "delays": delays}))
    port_sink.close()


FLOOD_BATCH = 64


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(_Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def flood(iface, seconds, flows):
    libc = ctypes.CDLL(None, use_errno=True)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    # Frames padded to the 60-byte minimum, so the wire size is known.
    datas = [ctypes.create_string_buffer(frame(n % max(flows, 1), "same").ljust(60, b"\0"), 60)
             for n in range(FLOOD_BATCH)]
    iovs = (_Iovec * FLOOD_BATCH)()
    msgs = (_Mmsghdr * FLOOD_BATCH)()
    for i, d in enumerate(datas):
        iovs[i].base = ctypes.addressof(d)
        iovs[i].len = 60
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    fd = sock.fileno()
    sendmmsg = libc.sendmmsg
    sent = failed = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for _ in range(16):
            r = sendmmsg(fd, msgs, FLOOD_BATCH, 0)
            if r < 0:
                failed += 1  # a full queue: back off a moment
                time.sleep(0.0001)
            else:
                sent += r
    print(json.dumps({"sent": sent, "failed": failed, "seconds": time.monotonic() - start}))


def sink(seconds):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    sock.bind(("", UDP_PORT))
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while not stop and time.monotonic() < end:
        time.sleep(0.05)
    sock.close()


def main(argv):
    if len(argv) == 7 and argv[1] == "send" and argv[6] in MODES:
        send(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), argv[6])
    elif len(argv) == 4 and argv[1] == "recv":
        recv(argv[2], float(argv[3]))
    elif len(argv) == 12 and argv[1] == "window" and argv[9] in MODES:
        window(argv[2], argv[3], argv[4], argv[5], int(argv[6]), int(argv[7]), int(argv[8]),
               argv[9], float(argv[10]), float(argv[11]))
    elif len(argv) == 3 and argv[1] == "sink":
        sink(float(argv[2]))
    elif len(argv) == 5 and argv[1] == "flood":
        flood(argv[2], float(argv[3]), int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
