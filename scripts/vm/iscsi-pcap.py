#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Summarise the SCSI commands in an iSCSI pcap (qemu -object filter-dump).

  scripts/vm/iscsi-pcap.py FILE.pcap PORT [--all]

Reassembles each TCP direction to/from PORT (no digests assumed; the guest
uses the stock iscsid.conf, which asks for none), walks the iSCSI PDUs and
prints, per distinct CDB "shape" (opcode + service action / page), how often
the initiator sent it and what the target answered: status, and for CHECK
CONDITION the sense key/ASC/ASCQ. --all prints every command with timings.
Only the standard library is used.
"""
import bisect
import struct
import sys
from collections import OrderedDict, defaultdict

OPS = {
    0x00: "TEST UNIT READY", 0x03: "REQUEST SENSE", 0x08: "READ(6)",
    0x0A: "WRITE(6)", 0x12: "INQUIRY", 0x15: "MODE SELECT(6)",
    0x1A: "MODE SENSE(6)", 0x1B: "START STOP UNIT", 0x1E: "PREVENT ALLOW",
    0x25: "READ CAPACITY(10)", 0x28: "READ(10)", 0x2A: "WRITE(10)",
    0x2F: "VERIFY(10)", 0x35: "SYNCHRONIZE CACHE(10)", 0x41: "WRITE SAME(10)",
    0x42: "UNMAP", 0x4D: "LOG SENSE", 0x55: "MODE SELECT(10)",
    0x5A: "MODE SENSE(10)", 0x5E: "PERSISTENT RESERVE IN", 0x88: "READ(16)",
    0x8A: "WRITE(16)", 0x91: "SYNCHRONIZE CACHE(16)", 0x93: "WRITE SAME(16)",
    0x9E: "SERVICE ACTION IN(16)", 0xA0: "REPORT LUNS", 0xA3: "MAINTENANCE IN",
    0xA8: "READ(12)", 0xAA: "WRITE(12)", 0x89: "COMPARE AND WRITE",
    0x83: "EXTENDED COPY", 0x84: "RECEIVE COPY RESULTS",
}
RW = {0x08, 0x0A, 0x28, 0x2A, 0x88, 0x8A, 0xA8, 0xAA}


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        yield sec + usec / 1e6, linktype, data[off:off + incl]
        off += incl


def tcp_segments(path, port):
    for ts, linktype, frame in packets(path):
        if linktype != 1 or len(frame) < 14:
            continue
        if struct.unpack(">H", frame[12:14])[0] != 0x0800:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6:
            continue
        tot = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        payload = tcp[doff:]
        if port not in (sport, dport):
            continue
        yield ts, (sport, dport), seq, flags, payload


def streams(path, port):
    """Per (conn, direction): list of (ts, bytes) in sequence order."""
    out = defaultdict(list)
    nxt = {}
    for ts, key, seq, flags, payload in tcp_segments(path, port):
        if flags & 0x02:  # SYN
            nxt[key] = (seq + 1) & 0xFFFFFFFF
            out[key] = []
            continue
        if not payload or key not in nxt:
            continue
        exp = nxt[key]
        delta = (seq - exp) & 0xFFFFFFFF
        if delta >= 0x80000000:  # retransmission of old data
            skip = (exp - seq) & 0xFFFFFFFF
            if skip >= len(payload):
                continue
            payload = payload[skip:]
        elif delta:
            print("warning: %d bytes missing in %s" % (delta, key), file=sys.stderr)
        out[key].append((ts, payload))
        nxt[key] = (exp + len(payload)) & 0xFFFFFFFF
    return out


def pdus(chunks):
    ends = []
    stamps = []
    total = 0
    for ts, b in chunks:
        total += len(b)
        ends.append(total)
        stamps.append(ts)
    buf = b"".join(b for _, b in chunks)
    pos = 0

    def time_at(i):
        k = bisect.bisect_right(ends, i)
        return stamps[min(k, len(stamps) - 1)]

    while pos + 48 <= len(buf):
        bhs = buf[pos:pos + 48]
        ahs = bhs[4] * 4
        dsl = int.from_bytes(bhs[5:8], "big")
        total = 48 + ahs + ((dsl + 3) & ~3)
        if pos + total > len(buf):
            break
        yield time_at(pos + total - 1), bhs, buf[pos + 48 + ahs:pos + 48 + ahs + dsl]
        pos += total


def shape(cdb):
    op = cdb[0]
    name = OPS.get(op, "opcode 0x%02x" % op)
    if op == 0x12:
        return "%s evpd=%d page=0x%02x" % (name, cdb[1] & 1, cdb[2])
    if op in (0x1A, 0x5A):
        return "%s page=0x%02x pc=%d dbd=%d" % (name, cdb[2] & 0x3F, cdb[2] >> 6, (cdb[1] >> 3) & 1)
    if op in (0x9E, 0xA3):
        return "%s sa=0x%02x" % (name, cdb[1] & 0x1F)
    if op in RW:
        return "%s%s" % (name, " FUA" if cdb[1] & 0x08 else "")
    return name


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    show_all = "--all" in sys.argv
    st = streams(path, port)
    cmds = {}
    rows = OrderedDict()
    log = []
    events = []
    for key, chunks in st.items():
        out = key[1] == port
        conn = key if out else (key[1], key[0])
        for ts, bhs, data in pdus(chunks):
            events.append((ts, 0 if out else 1, conn, bhs, data))
    events.sort(key=lambda e: (e[0], e[1]))
    for ts, inbound, conn, bhs, data in events:
        op = bhs[0] & 0x3F
        itt = bhs[16:20]
        if not inbound:
            if op == 0x01:
                cmds[(conn, itt)] = (ts, bhs[32:48])
            continue
        if op == 0x21:
            status = bhs[3]
        elif op == 0x25 and bhs[1] & 0x01:
            status = bhs[3]
        else:
            continue
        c = cmds.pop((conn, itt), None)
        if c is None:
            continue
        t0, cdb = c
        sense = ""
        if status == 0x02 and len(data) >= 2 + 14:
            s = data[2:]
            if s[0] & 0x7F in (0x70, 0x71):
                sense = " sense %x/%02x/%02x" % (s[2] & 15, s[12], s[13])
            elif s[0] & 0x7F in (0x72, 0x73):
                sense = " sense %x/%02x/%02x" % (s[1] & 15, s[2], s[3])
        res = "status 0x%02x%s" % (status, sense)
        if op == 0x21 and bhs[2]:
            res = "response 0x%02x" % bhs[2]
        sh = shape(cdb)
        rows.setdefault((sh, res), [0, cdb.hex()])
        rows[(sh, res)][0] += 1
        log.append((t0, ts - t0, cdb.hex(), sh, res))
    for (sh, res), (n, cdb) in rows.items():
        print("%6d  %-40s %-28s e.g. %s" % (n, sh, res, cdb))
    if cmds:
        print("%d command(s) without a status in the capture" % len(cmds))
    if show_all:
        log.sort()
        base = log[0][0] if log else 0
        for t0, dt, cdb, sh, res in log:
            print("%9.3f %7.1fms %s %s %s" % (t0 - base, dt * 1e3, cdb, sh, res))


if __name__ == "__main__":
    main()
