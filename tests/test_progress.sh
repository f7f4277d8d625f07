#!/bin/bash
# Progress inside epochs (README, --progress-every): a live line redrawn on a terminal, plain
# lines with --progress-every, and nothing but the epoch lines in a log.
set -u
LEASH=${LEASH:-./leash}
T=$(mktemp -d "${TMPDIR:-/tmp}/leash-progress.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/tap.sh"
echo "1..4"
# Epochs of 12000 updates: a second or more, several live redraws (every 0.25 s) each.
R=(-a LSH -n 2 -D SYNTH --synth-train 8000 --synth-test 400 -b 16 -l 0.05 -r 12000 -e 2
   --output "$T/r.json")
EPOCH='epoch [12]/2  train_loss [0-9.]+  test_loss [0-9.]+  test_acc [0-9.]+  time [0-9.]+ s  updates/s [0-9.]+'
LINE='epoch ([12])/2  updates ([0-9]+)/12000  updates/s [0-9.]+  loss (?:-|[0-9.]+)  eta (?:-|[0-9]+ s)'

# Under a pseudo-terminal: redrawn lines ("\r...\e[K"), each erased before the epoch's line.
status=0
/usr/bin/python3 - "$T/tty.out" "$LEASH" "${R[@]}" <<'EOF' || status=$?
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child has closed the terminal
        break
    if not chunk:
        break
    out += chunk
open(sys.argv[1], "wb").write(out)
sys.exit(p.wait())
EOF
why=$(/usr/bin/python3 - "$T/tty.out" "$LINE" "$EPOCH" <<'EOF'
import re, sys
out = open(sys.argv[1], "rb").read().decode()
live = re.findall("\r" + sys.argv[2] + "\x1b\\[K", out)
if len(live) < 2: sys.exit(f"{len(live)} live lines in {out!r}")
done = [(int(e), int(u)) for e, u in live]
if done != sorted(done) or not all(0 <= u <= 12000 for e, u in done): sys.exit(f"updates {done}")
# The terminal turns \n into \r\n; every epoch line starts a clean line.
for m in re.finditer(sys.argv[3], out):
    if not out[:m.start()].endswith(("\r\x1b[K", "\n")): sys.exit(f"epoch line not on a clean line: {out[max(0, m.start() - 40):m.end()]!r}")
if len(re.findall(sys.argv[3], out)) != 2: sys.exit(f"epoch lines: {out!r}")
print(f"{len(live)} redraws")
EOF
)
if [ $status -eq 0 ] && [ -n "$why" ]; then ok "on a terminal: a live progress line, redrawn and erased before each epoch's line ($why)"
else not_ok "on a terminal: a live progress line" "exit $status" "$why"; fi

# In a log (stderr to a file): the start-up lines and the epoch lines, nothing else.
status=0
"$LEASH" "${R[@]}" 2> "$T/log" || status=$?
why=$(/usr/bin/python3 - "$T/log" "$EPOCH" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
if lines[-1] != "" or "\r" in "".join(lines): sys.exit(f"not plain lines: {lines!r}")
start = [l for l in lines[:-1] if l.startswith(("leash 0", "placement: "))]
epochs = [l for l in lines[:-1] if re.fullmatch(sys.argv[2], l)]
if len(start) != 2 or len(epochs) != 2 or len(start) + len(epochs) != len(lines) - 1:
    sys.exit(f"lines: {lines!r}")
EOF
)
if [ $status -eq 0 ] && [ -z "$why" ]; then ok "in a log: exactly the start-up lines and one line per epoch"
else not_ok "in a log: exactly the start-up lines and one line per epoch" "exit $status" "$why"; fi

# --progress-every S: plain lines in a log too.
status=0
"$LEASH" "${R[@]}" --progress-every 0.2 2> "$T/every" || status=$?
why=$(/usr/bin/python3 - "$T/every" "$LINE" "$EPOCH" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
lines = [l for l in text.split("\n")[:-1] if not l.startswith(("leash 0", "placement: "))]
plain = [re.fullmatch(sys.argv[2], l) for l in lines]
epochs = [l for l in lines if re.fullmatch(sys.argv[3], l)]
if "\r" in text or "\x1b" in text: sys.exit(f"terminal codes in a log: {text!r}")
if len(epochs) != 2 or sum(1 for m in plain if m) < 2 or len(epochs) + sum(1 for m in plain if m) != len(lines):
    sys.exit(f"lines: {lines!r}")
print(f"{sum(1 for m in plain if m)} progress lines")
EOF
)
if [ $status -eq 0 ] && [ -n "$why" ]; then ok "--progress-every 0.2: plain progress lines between the epoch lines ($why)"
else not_ok "--progress-every 0.2: plain progress lines" "exit $status" "$why"; fi

status=0
err=$("$LEASH" "${R[@]}" --progress-every 0 2>&1 > /dev/null) || status=$?
expected="leash: --progress-every 0: must be greater than 0"
if [ $status -eq 2 ] && [ "$err" = "$expected" ]; then ok "--progress-every 0 is refused in one line, exit 2"
else not_ok "--progress-every 0 is refused in one line, exit 2" "exit $status" "$err"; fi
[ $failed -eq 0 ]
