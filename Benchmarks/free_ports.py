#!/usr/bin/env python3
"""Prints N loopback ports free for both UDP and TCP, below the kernel's ephemeral range
(32768-60999), so no socket another process opens meanwhile takes one between this choice
and the caller's bind. Usage: free_ports.py N"""

import random
import socket
import sys


def free_ports(count):
    chosen = []
    while len(chosen) < count:
        port = random.randrange(20000, 32000)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                with socket.socket(socket.AF_INET, kind) as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        if port not in chosen:
            chosen.append(port)
    return chosen


if __name__ == "__main__":
    print(*free_ports(int(sys.argv[1])))
