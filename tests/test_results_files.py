"""The committed results files back what the README and the docs say.

Every JSON under ``docs/results/`` and ``benchmarks/results/`` names the command that wrote it,
the commit it measured (from a clean tree), the machine and the date; every results file the
README or the docs cite is committed; and every number in a README table row that cites a
results file is one of that file's numbers, as a percentage or as it stands, to the digits shown.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted([*ROOT.glob("docs/results/*.json"), *ROOT.glob("benchmarks/results/*.json")])
#: A results file as the README and the docs cite it.
CITED = re.compile(r"(?:docs|benchmarks)/results/[\w.-]+\.json")
#: A number as the README's tables print it: decimals, an optional sign.
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


#: Per-frame records and per-epoch curves: hundreds of numbers that the README never quotes and
#: that would back a wrong number by chance.
UNQUOTED = frozenset({"predictions", "history"})


def _leaves(data: Any) -> Iterator[float]:
    """Every number in a JSON document but its per-frame records and per-epoch curves
    (booleans are not numbers)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key not in UNQUOTED:
                yield from _leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value)
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield float(data)


def _commit(data: dict[str, Any]) -> Any:
    """The commit a results file measured (one older file keeps it beside the machine)."""
    return data["machine"].get("git_commit") or data.get("commit")


def backs(number: str, values: list[float]) -> bool:
    """Whether ``number`` (as printed, e.g. ``"65.99"``) is one of ``values`` rounded to its
    digits, taken as it stands or as a fraction shown in percent."""
    digits = len(number.split(".")[1])
    shown = {f"{v:.{digits}f}" for v in values} | {f"{100 * v:.{digits}f}" for v in values}
    return number in shown


def table_rows(markdown: str) -> Iterator[tuple[int, list[str]]]:
    """The body rows of the Markdown tables in ``markdown``: (line number, cells)."""
    for number, line in enumerate(markdown.splitlines(), start=1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and not all(set(c) <= set("-: ") for c in cells):
            yield number, cells


@pytest.mark.parametrize("path", RESULTS, ids=_id)
def test_results_file_names_command_commit_machine_and_date(path: Path) -> None:
    data = json.loads(path.read_text())
    command = data.get("command")
    assert isinstance(command, str), command
    runner, program = command.split()[:2]
    if runner == "make":
        makefile = (ROOT / "Makefile").read_text()
        assert re.search(rf"^{re.escape(program)}:", makefile, re.M), f"no make target {program}"
    elif runner == "freqforensics":
        from freqforensics.cli import COMMANDS

        assert program in {name for name, _, _ in COMMANDS}, f"no subcommand {program}"
    else:
        assert runner == "python", command
        assert (ROOT / program).is_file(), f"the command's script {program} is not in the repo"
    machine = data["machine"]
    assert machine.get("cpu") and machine.get("torch"), machine
    commit = _commit(data)
    assert isinstance(commit, str) and re.fullmatch(r"[0-9a-f]{7,40}", commit), commit
    assert machine.get("git_dirty") is False, f"{_id(path)} was measured on a modified tree"
    date = machine.get("date") or data.get("date")
    assert isinstance(date, str) and re.match(r"20\d\d-\d\d-\d\d", date), date


def test_results_commits_are_in_the_history() -> None:
    """The commit each results file measured is one of this repository's commits."""
    git = ["git", "-C", str(ROOT)]
    probe = subprocess.run([*git, "rev-parse", "--is-shallow-repository"], capture_output=True,
                           text=True)
    if probe.returncode != 0 or probe.stdout.strip() != "false":
        pytest.skip("needs a full git checkout (this is not one, or a shallow one)")
    missing = []
    for path in RESULTS:
        commit = _commit(json.loads(path.read_text()))
        found = subprocess.run([*git, "cat-file", "-e", f"{commit}^{{commit}}"],
                               capture_output=True)
        if found.returncode != 0:
            missing.append(f"{_id(path)}: {commit}")
    assert not missing, missing


def test_every_cited_results_file_is_committed() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]
    cited = {(_id(text), name) for text in texts for name in CITED.findall(text.read_text())}
    assert len(cited) > 20  # the README and reproducing.rst cite dozens
    absent = sorted(f"{text} cites {name}" for text, name in cited if not (ROOT / name).is_file())
    assert not absent, absent


#: The processors the README and the docs name, as ``machine.cpu`` records them.
CPUS = {"AMD EPYC": "AMD EPYC", "Intel Xeon": "Intel(R) Xeon(R) Processor"}


def test_the_named_machine_is_the_one_each_cited_file_records() -> None:
    """A paragraph that names a processor and cites results files names each file's own."""
    checked, wrong = 0, []
    for text in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]:
        for paragraph in re.split(r"\n\s*\n", text.read_text()):
            flat = " ".join(paragraph.split())
            named = {cpu for label, cpu in CPUS.items() if label in flat}
            if not named:
                continue
            for name in set(CITED.findall(flat)):
                cpu = json.loads((ROOT / name).read_text())["machine"]["cpu"]
                checked += 1
                if cpu not in named:
                    wrong.append(f"{_id(text)}: {name} was measured on {cpu}, not {named}")
    assert checked >= 10, checked
    assert not wrong, wrong


def test_readme_table_numbers_are_in_their_results_files() -> None:
    """A README table row that cites results files holds only numbers found in them."""
    checked, unbacked = 0, []
    for line, cells in table_rows((ROOT / "README.md").read_text()):
        files = CITED.findall(" ".join(cells))
        if not files:
            continue
        values = [v for name in files for v in _leaves(json.loads((ROOT / name).read_text()))]
        for cell in cells:
            if CITED.search(cell):
                continue
            for number in NUMBER.findall(cell):
                checked += 1
                if not backs(number, values):
                    unbacked.append(f"README.md:{line}: {number} not in {', '.join(files)}")
    assert checked >= 40, checked  # the demo and real-faces tables
    assert not unbacked, unbacked


def test_backs_and_table_rows_on_made_up_input() -> None:
    """The checks above can fail: a number off in its last digit is not backed."""
    assert backs("65.99", [0.6598588]) and backs("65.99", [65.986])
    assert not backs("66.00", [0.6598588]) and not backs("65.9", [0.6598588])
    assert backs("100.0", [1.0]) and backs("0.07", [0.0712])
    table = "| a | b |\n|---|:-:|\n| x 1.5 | `docs/results/r.json` |\n\n| not | a |x"
    assert list(table_rows(table)) == [(1, ["a", "b"]), (3, ["x 1.5", "`docs/results/r.json`"]),
                                       (5, ["not", "a", "x"])]
    assert NUMBER.findall("7.9x, 2026-12-01, v1.2.3, 0.5 and -3.25") == ["0.5", "-3.25"]
    record = {"auc": 0.6599, "flag": True, "predictions": [{"fake_probability": 0.4321}],
              "history": [{"train_loss": 0.5}]}
    assert list(_leaves(record)) == [0.6599]
