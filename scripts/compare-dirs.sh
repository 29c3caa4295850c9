# Sourced by scripts/bitwise*.sh: `compare DIR_A DIR_B LABEL` compares every file of two output
# directories byte for byte (run logs aside) and counts differences in $failures.
failures=0
compare() {
    local a=$1 b=$2 label=$3 n=0
    while IFS= read -r -d '' f; do
        rel=${f#"$a"/}
        n=$((n + 1))
        if ! cmp -s "$f" "$b/$rel"; then
            echo "DIFFERENT  $label: $rel"
            failures=$((failures + 1))
        fi
    done < <(find "$a" -type f ! -name '*.log' -print0 | sort -z)
    if [ "$(find "$a" -type f ! -name '*.log' | wc -l)" != "$(find "$b" -type f ! -name '*.log' | wc -l)" ]; then
        echo "DIFFERENT  $label: not the same set of files"
        failures=$((failures + 1))
    fi
    if [ "$n" -eq 0 ]; then
        echo "DIFFERENT  $label: no output to compare"
        failures=$((failures + 1))
    fi
    echo "compared   $label: $n files"
}
