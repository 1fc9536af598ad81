#!/usr/bin/env bash
# Renders a report's HTML in headless Chromium and checks the screenshot is not blank.
# Usage: scripts/check-report-html.sh REPORT.html OUT.png
# Installs chromium with apt when no Chromium is on PATH (idempotent). Exit status: 0 the page
# rendered with content; 1 the screenshot is missing or blank; 64 bad usage.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 64
fi
html="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
png="$2"
[ -f "$html" ] || { echo "$0: $1: no such file" >&2; exit 64; }

browser=""
for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null; then browser="$candidate"; break; fi
done
if [ -z "$browser" ]; then
    echo "check-report-html: installing chromium" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    browser=chromium
fi

rm -f "$png"
# --virtual-time-budget lets the page finish layout before the shot; no network is needed.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2000 \
    --virtual-time-budget=5000 --screenshot="$png" "file://$html" >/dev/null 2>&1 || true
[ -s "$png" ] || { echo "check-report-html: $browser wrote no screenshot for $html" >&2; exit 1; }

# A tiny PNG decoder (stdlib only): counts non-white pixels and distinct colours.
python3 - "$png" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"check-report-html: {path} is not a PNG")
pos, chunks = 8, {}
idat = b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
if depth != 8 or colour not in (2, 6):
    sys.exit(f"check-report-html: unsupported PNG (bit depth {depth}, colour type {colour})")
channels = 3 if colour == 2 else 4
stride = width * channels
raw = zlib.decompress(idat)
rows, previous = [], bytearray(stride)
for y in range(height):
    kind = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        corner = previous[i - channels] if i >= channels else 0
        if kind == 1: line[i] = (line[i] + left) & 255
        elif kind == 2: line[i] = (line[i] + up) & 255
        elif kind == 3: line[i] = (line[i] + (left + up) // 2) & 255
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
    rows.append(line)
    previous = line
inked, colours = 0, set()
for line in rows[::2]:
    for x in range(0, width, 2):
        pixel = tuple(line[x * channels:x * channels + 3])
        colours.add(pixel)
        if sum(pixel) < 720:
            inked += 1
sampled = ((height + 1) // 2) * ((width + 1) // 2)
share = inked / sampled
print(f"check-report-html: {path}: {width}x{height}, {share:.1%} of pixels not white, {len(colours)} colours")
if share < 0.02 or len(colours) < 8:
    sys.exit("check-report-html: the screenshot looks blank")
PY
