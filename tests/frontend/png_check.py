#!/usr/bin/env python3
"""png_check.py FILE MIN_COLOURS - fail unless the PNG shows at least
MIN_COLOURS distinct colours (a blank or single-colour screenshot has 1).

A tiny PNG reader (8-bit RGB/RGBA, non-interlaced, as Chromium writes them)
with the standard library only: unfilters the scanlines and counts colours.
"""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise SystemExit(f'{path}: not a PNG')
    pos, idat, w = 8, b'', 0
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, inter = struct.unpack('>IIBBBBB', body)
            if depth != 8 or ctype not in (2, 6) or inter:
                raise SystemExit(f'{path}: unsupported PNG (depth {depth}, type {ctype})')
            bpp = 3 if ctype == 2 else 4
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    out = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(line))
        prev = line
    return w, h, bpp, out


def main():
    path, want = sys.argv[1], int(sys.argv[2])
    w, h, bpp, rows = pixels(path)
    colours = set()
    for r in rows[::2]:
        for x in range(0, len(r), bpp * 2):
            colours.add(r[x:x + 3])
    print(f'{path}: {w}x{h}, {len(colours)} colours')
    if len(colours) < want:
        raise SystemExit(f'{path}: only {len(colours)} colours, want >= {want}: blank?')


main()
