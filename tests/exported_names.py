"""The functions the public headers declare (static inline ones aside), marked with
LEASH_API or not, one per line: what tests/test_exports.sh expects libleash.so to export."""
import re
import sys

names = set()
for path in sys.argv[1:]:
    text = re.sub(r"/\*.*?\*/", " ", open(path).read(), flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    for stmt in re.split(r"[;{}]", text):
        m = re.search(r"\b(leash_\w+)\s*\(", stmt)
        if m and not re.search(r"\b(typedef|static)\b", stmt) and "(*" not in stmt[:m.start()]:
            names.add(m.group(1))
print("\n".join(sorted(names)))
