#!/usr/bin/env python3
"""bench/floods.py: floods against a running radmfa, a real user logging in
throughout. bench/floods.sh starts the server and reads its memory.

    floods.py KIND HOST:PORT SECRET REAL_USER REAL_SEED_B32 COUNTER_FILE

KIND: sources (20,000 packets/s from 30,000 unknown loopback addresses,
10 s), spoofed (100,000 packets with a wrong Message-Authenticator from
the client's address), push (50,000 empty-password requests for user
"pushy" in 5 s). Prints one line: packets sent, the real user's accepted
logins out of those tried.
"""
import base64, hashlib, hmac, os, socket, struct, sys, threading, time

def pap(secret, auth, password):
    p = password.encode()
    p += b"\0" * ((-len(p)) % 16 if p else 16)
    out, prev = b"", auth
    for i in range(0, len(p), 16):
        c = bytes(x ^ y for x, y in zip(p[i:i + 16], hashlib.md5(secret + prev).digest()))
        out += c
        prev = c
    return out

def request(secret, ident, user, password, calling="198.51.100.7", good_ma=True):
    auth = os.urandom(16)
    attrs = bytes([1, len(user) + 2]) + user.encode()
    if password is not None:
        v = pap(secret, auth, password)
        attrs += bytes([2, len(v) + 2]) + v
    attrs += bytes([31, len(calling) + 2]) + calling.encode()
    body = attrs + bytes([80, 18]) + b"\0" * 16
    pkt = bytearray(struct.pack("!BBH", 1, ident, 20 + len(body)) + auth + body)
    mac = hmac.new(secret, bytes(pkt), hashlib.md5).digest()
    pkt[-16:] = mac if good_ma else bytes(b ^ 0xFF for b in mac)
    return bytes(pkt)

def hotp(secret_b32, c):
    k = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    h = hmac.new(k, struct.pack(">Q", c), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)

def real_user(addr, secret, user, seed, counter_file, stop, result):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.3", 0))
    s.settimeout(5)
    c = int(open(counter_file).read()) if os.path.exists(counter_file) else 0
    tried = ok = 0
    while not stop.is_set():
        s.sendto(request(secret, tried % 256, user, hotp(seed, c), calling="203.0.113.5"), addr)
        tried += 1
        c += 1
        try:
            if s.recv(4096)[0] == 2:
                ok += 1
        except socket.timeout:
            pass
        time.sleep(0.5)
    open(counter_file, "w").write(str(c))
    result.extend([ok, tried])

def main():
    kind, hp, secret, user, seed, counter_file = sys.argv[1:7]
    host, port = hp.rsplit(":", 1)
    addr, secret = (host, int(port)), secret.encode()
    stop, result = threading.Event(), []
    t = threading.Thread(target=real_user, args=(addr, secret, user, seed, counter_file, stop, result))
    t.start()
    sent = 0
    if kind == "sources":
        # 30 batches of 1,000 addresses (within the open-files limit), each
        # address sending about 7 packets, 20,000 packets a second in all.
        pkt = request(secret, 1, "nobody", "123456")
        start = time.time()
        for batch in range(30):
            socks = []
            for k in range(1000):
                n = batch * 1000 + k
                so = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                so.bind(("127.5.%d.%d" % (n >> 8, n & 255), 0))
                socks.append(so)
            for r in range(7):
                for so in socks:
                    so.sendto(pkt, addr)
                    sent += 1
                    if sent % 200 == 0:
                        lag = start + sent / 20000 - time.time()
                        if lag > 0:
                            time.sleep(lag)
            for so in socks:
                so.close()
    elif kind == "spoofed":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))
        for i in range(100000):
            s.sendto(request(secret, i % 256, "alice", "123456", good_ma=False), addr)
            sent += 1
    elif kind == "push":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.2", 0))
        start = time.time()
        for i in range(50000):
            s.sendto(request(secret, i % 256, "pushy", ""), addr)
            sent += 1
            if sent % 100 == 0:
                lag = start + sent / 10000 - time.time()
                if lag > 0:
                    time.sleep(lag)
    time.sleep(2)
    stop.set()
    t.join()
    print(f"{kind}: {sent} packets sent; the real user {result[0]}/{result[1]} accepted")

main()
