#!/usr/bin/env python3
"""bench/enumeration.py: do known and unknown users cost the same?

Sends PAP Access-Requests with wrong passwords of several shapes for an
unknown user, a user without a PIN, a user with a PIN and a disabled user,
interleaved, and prints the median round trip of each, and per shape the
ratio of the slowest median to the fastest (the README's promise: within
20%). bench/enumeration.sh starts the server it measures.

    enumeration.py HOST:PORT SECRET ROUNDS
"""
import hashlib, hmac, os, random, socket, statistics, struct, sys, time

def pap(secret, auth, password):
    p = password.encode()
    p += b"\0" * (-len(p) % 16 or (16 if not p else 0))
    out, prev = b"", auth
    for i in range(0, len(p), 16):
        b = hashlib.md5(secret + prev).digest()
        c = bytes(x ^ y for x, y in zip(p[i:i + 16], b))
        out += c
        prev = c
    return out

def request(secret, ident, user, password):
    auth = os.urandom(16)
    attrs = b""
    for t, v in ((1, user.encode()), (2, pap(secret, auth, password))):
        attrs += bytes([t, len(v) + 2]) + v
    ma = bytes([80, 18]) + b"\0" * 16
    body = attrs + ma
    pkt = bytearray(struct.pack("!BBH", 1, ident, 20 + len(body)) + auth + body)
    pkt[-16:] = hmac.new(secret, bytes(pkt), hashlib.md5).digest()
    return bytes(pkt)

def main():
    host, port = sys.argv[1].rsplit(":", 1)
    secret, rounds = sys.argv[2].encode(), int(sys.argv[3])
    users = {"unknown": "nobody-here", "no PIN": "plain", "PIN": "pinned", "disabled": "off"}
    shapes = {"6 digits": "000000", "10 characters": "9999000000", "16 characters": "abcdefghij000000"}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((host, int(port)))
    times = {(u, sh): [] for u in users for sh in shapes}
    ident = 0
    cases = [(u, name, sh, pw) for u, name in users.items() for sh, pw in shapes.items()]
    for r in range(rounds):
        # A new order each round: a PIN hash allocates 19 MiB, and a fixed
        # order would leave the garbage collection to the same case.
        random.shuffle(cases)
        for u, name, sh, pw in cases:
            ident = (ident + 1) % 256
            pkt = request(secret, ident, name, pw)
            t0 = time.perf_counter()
            s.send(pkt)
            reply = s.recv(4096)
            t1 = time.perf_counter()
            if reply[0] != 3:
                sys.exit(f"{u}/{sh}: reply code {reply[0]}, want Access-Reject")
            if r > 0:  # the first round warms caches
                times[(u, sh)].append(t1 - t0)
    worst = 1.0
    print(f"{'password':15} " + " ".join(f"{u:>10}" for u in users) + "   slowest/fastest")
    for sh in shapes:
        med = [statistics.median(times[(u, sh)]) * 1e3 for u in users]
        ratio = max(med) / min(med)
        worst = max(worst, ratio)
        print(f"{sh:15} " + " ".join(f"{m:9.2f}ms" for m in med) + f"   x{ratio:.2f}")
    print(f"largest ratio x{worst:.2f} ({'within' if worst <= 1.2 else 'NOT within'} 20%)")

main()
