#!/usr/bin/env python3
"""Raw Ethernet frames in and out of a network device, for the hostile
frame tests (netdev_hostile.rs). Run inside a namespace:

  rawframes.py send DEV          frames as hex lines on stdin; prints a JSON
                                 list: "ok" or the error of each send
  rawframes.py recv DEV SECS MAC prints "ready", then for SECS seconds
                                 collects incoming frames whose source MAC
                                 is MAC (hex, no colons); prints them as a
                                 JSON list of hex strings
"""
import json
import select
import socket
import sys
import time

ETH_P_ALL = 3


def send(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    results = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            s.send(bytes.fromhex(line))
            results.append("ok")
        except OSError as e:
            results.append(e.strerror or str(e))
        time.sleep(0.005)
    print(json.dumps(results))


def recv(dev, secs, mac):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((dev, 0))
    marker = bytes.fromhex(mac)
    print("ready", flush=True)
    got = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        ready, _, _ = select.select([s], [], [], 0.05)
        if not ready:
            continue
        data, addr = s.recvfrom(70000)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if data[6:12] == marker:
            got.append(data.hex())
    print(json.dumps(got))


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2])
    else:
        recv(sys.argv[2], float(sys.argv[3]), sys.argv[4])
