# Running leash in the shell tests that source this (after tap.sh), with $LEASH the
# binary and $T their scratch directory: run ARGS... (a 300 s limit; exit status in
# $status, stdout and stderr in $T/stdout and $T/err); refused NAME TEXT (the last run
# exited 2 with exactly the line TEXT, wrote no $T/out.json and left no temporary file);
# fingerprint DOC (rank 0's final digest and every epoch's losses and accuracy, exactly).
run() { status=0; timeout -k 5 300 "$LEASH" "$@" > "$T/stdout" 2> "$T/err" || status=$?; }
refused() {
    local name=$1 want=$2
    if [ "$status" -ne 2 ]; then not_ok "$name" "exit status $status, expected 2" "$(cat "$T/err")"
    elif [ "$(cat "$T/err")" != "$want" ]; then not_ok "$name" "got:" "$(cat "$T/err")" "want:" "$want"
    elif [ -e "$T/out.json" ]; then not_ok "$name" "a document was written"
    elif ls -A "$T" | grep -q '^\.leash-'; then not_ok "$name" "temporary file left: $(ls -A "$T")"
    else ok "$name"; fi
}
fingerprint() {
    /usr/bin/python3 - "$1" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["per_rank"][0]["params_digest"], *["(%.17g, %.17g, %.17g)" % (e["train_loss"], e["test_loss"], e["test_accuracy"]) for e in d["epochs"]])
PY
}
