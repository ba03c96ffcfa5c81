#!/usr/bin/env python3
"""Writes a bug-fix suite for `aimos eval` from real open-source Python packages.

Each package is fetched as a source distribution with pip (pinned versions), keeping its own
pytest suite. Single-point bugs are injected into its code (a flipped comparison, an
off-by-one, a wrong default, swapped arguments, a dropped `not`, `and` for `or`, a changed
operator); a bug is kept when it makes 1 to 5 of the package's own tests fail. The problem
text of each task is the pytest failure as a user would paste it; the bug travels as the
task's setup_patch, applied to each copy of the package folder, and the task passes when the
patch a run returns makes the failing tests and the whole suite pass again.

Every kept task is checked before it is written: the bug applied with `git apply` fails its
tests, and the bug's reverse (the reference fix) passes both commands.

    scripts/bugfix-suite.py --out eval-suites/bugfix          # about 10 minutes on 2 cores
    aimos eval --suite eval-suites/bugfix/suite.jsonl --strategies cheap,smart --out eval/bugfix

Files written in --out: suite.jsonl (every task), dev.jsonl and heldout.jsonl (a fixed split:
every fourth task is held out), packages/ (the clean package folders the tasks copy), venv/
(pytest, which the tasks' commands name as {suite}/venv/bin/python) and bugs.jsonl (each
bug with its fix, for inspection).
"""

import argparse
import ast
import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PYTEST = "pytest==8.3.3"

# name, version, what of the unpacked source distribution the task folder keeps, the
# source files bugs go into, and PYTHONPATH for the tests (relative to the folder).
PACKAGES = [
    {
        "name": "inflection",
        "version": "0.5.1",
        "keep": ["inflection", "test_inflection.py", "setup.cfg"],
        "sources": ["inflection/__init__.py"],
        "pythonpath": ".",
    },
    {
        "name": "six",
        "version": "1.16.0",
        "keep": ["six.py", "test_six.py", "setup.cfg"],
        "sources": ["six.py"],
        "pythonpath": ".",
    },
    {
        "name": "semver",
        "version": "3.0.2",
        "keep": ["src", "tests", "setup.cfg"],
        "sources": ["src/semver/version.py", "src/semver/_deprecated.py"],
        "pythonpath": "src",
        # Its configuration asks for pytest-cov, and for doc tests not kept here.
        "options": ["-o", "addopts=", "--import-mode=importlib"],
        "paths": ["tests"],
    },
    {
        "name": "toolz",
        "version": "0.12.1",
        "keep": ["toolz", "tlz", "setup.cfg"],
        "sources": ["toolz/itertoolz.py", "toolz/dicttoolz.py", "toolz/functoolz.py"],
        "pythonpath": ".",
    },
]

TEST_TIMEOUT = 120
MAX_FAILING = 5
MAX_PER_KIND = 4
MAX_PER_FUNCTION = 2
PROBLEM_CHARS = 3500


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def run(cmd, cwd=None, env=None, timeout=None):
    return subprocess.run(
        cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True
    )


def make_venv(out):
    venv = out / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv} with {PYTEST}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", PYTEST], check=True
        )
    return python


def fetch(package, out):
    """The package's clean folder under out/packages, from its pinned source distribution."""
    name, version = package["name"], package["version"]
    folder = out / "packages" / name
    if folder.exists():
        return folder
    downloads = out / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    log(f"fetching {name}=={version}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--no-binary", ":all:", "-d", str(downloads), f"{name}=={version}"],
        check=True,
    )
    archive = next(downloads.glob(f"{name}-{version}.tar.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:
                tar.extractall(tmp)
        root = Path(tmp) / f"{name}-{version}"
        folder.mkdir(parents=True)
        for entry in package["keep"]:
            source = root / entry
            if source.is_dir():
                shutil.copytree(source, folder / entry,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, folder / entry)
    return folder


def pytest_command(package, python_ref, args):
    path = package["pythonpath"]
    options = " ".join(package.get("options", []))
    return (f"PYTHONPATH={path} {python_ref} -m pytest -q -p no:cacheprovider {options} "
            f"{args}").replace("  ", " ").strip()


def failing_tests(folder, package, python):
    """The ids of the tests that fail in `folder` (None when the run itself broke)."""
    env = dict(os.environ, PYTHONPATH=str(folder / package["pythonpath"]),
               PYTHONDONTWRITEBYTECODE="1")
    try:
        done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    *package.get("options", []), "--tb=no", "-rfE",
                    *package.get("paths", [])], cwd=folder, env=env, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode not in (0, 1):
        return None
    failed = []
    for line in done.stdout.splitlines():
        for prefix in ("FAILED ", "ERROR "):
            if line.startswith(prefix):
                failed.append(line[len(prefix):].split(" - ")[0].strip())
    return failed


class Sites(ast.NodeVisitor):
    """Places in a module where a single-point bug can go, each as (line, start, end, new
    text, kind): the characters [start, end) of that line become the new text."""

    def __init__(self, lines):
        self.lines = lines
        self.found = []

    def add(self, node_line, start, end, new, kind):
        text = self.lines[node_line - 1]
        if 0 <= start < end <= len(text) and text[start:end] != new:
            self.found.append((node_line, start, end, new, kind))

    def between(self, left, right):
        """The text between two nodes on one line, with its span."""
        if left.end_lineno != right.lineno:
            return None
        line = self.lines[left.end_lineno - 1]
        return left.end_col_offset, right.col_offset, line[left.end_col_offset:right.col_offset]

    def visit_Compare(self, node):
        flips = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==",
                 "is not": "is", "not in": "in"}
        if len(node.ops) == 1:
            gap = self.between(node.left, node.comparators[0])
            if gap:
                start, end, text = gap
                op = text.strip()
                if op in flips:
                    offset = text.index(op)
                    self.add(node.lineno, start + offset, start + offset + len(op), flips[op],
                             "flipped comparison")
        self.generic_visit(node)

    def visit_BinOp(self, node):
        swaps = {"+": "-", "-": "+", "*": "//", "//": "*", "%": "//"}
        gap = self.between(node.left, node.right)
        if gap:
            start, end, text = gap
            op = text.strip().strip("()").strip()
            if op in swaps and text.count(op) == 1:
                offset = text.index(op)
                self.add(node.left.end_lineno, start + offset, start + offset + len(op),
                         swaps[op], "wrong operator")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        word = "and" if isinstance(node.op, ast.And) else "or"
        other = "or" if word == "and" else "and"
        gap = self.between(node.values[0], node.values[1])
        if gap:
            start, end, text = gap
            if text.strip() == word:
                offset = text.index(word)
                self.add(node.values[0].end_lineno, start + offset, start + offset + len(word),
                         other, "and/or swapped")
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not) and node.lineno == node.operand.lineno:
            self.add(node.lineno, node.col_offset, node.operand.col_offset, "",
                     "dropped not")
        self.generic_visit(node)

    def visit_Constant(self, node):
        value = node.value
        if node.lineno == node.end_lineno and not isinstance(value, str):
            if value is True or value is False:
                self.add(node.lineno, node.col_offset, node.end_col_offset, str(not value),
                         "wrong boolean")
            elif isinstance(value, int) and 0 <= value <= 64:
                self.add(node.lineno, node.col_offset, node.end_col_offset, str(value + 1),
                         "off by one")
        self.generic_visit(node)

    def visit_arguments(self, node):
        for default in node.defaults + [d for d in node.kw_defaults if d is not None]:
            if isinstance(default, ast.Constant) and default.lineno == default.end_lineno:
                value = default.value
                if value is None:
                    self.add(default.lineno, default.col_offset, default.end_col_offset, "0",
                             "wrong default")
        self.generic_visit(node)

    def visit_Call(self, node):
        args = node.args
        if (len(args) >= 2 and not any(isinstance(a, ast.Starred) for a in args[:2])
                and args[0].lineno == args[0].end_lineno == args[1].lineno == args[1].end_lineno):
            line = self.lines[args[0].lineno - 1]
            first = line[args[0].col_offset:args[0].end_col_offset]
            second = line[args[1].col_offset:args[1].end_col_offset]
            middle = line[args[0].end_col_offset:args[1].col_offset]
            if first != second:
                self.add(args[0].lineno, args[0].col_offset, args[1].end_col_offset,
                         second + middle + first, "swapped arguments")
        self.generic_visit(node)


def candidate_bugs(folder, package):
    for source in package["sources"]:
        text = (folder / source).read_text()
        lines = text.split("\n")
        tree = ast.parse(text)
        # Docstrings and other bare strings are not code: sites inside them never arise, as
        # string constants are skipped; module-level `__all__` and version tuples are left out.
        sites = Sites(lines)
        sites.visit(tree)
        functions = [(n.lineno, n.end_lineno, n.name) for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for line_no, start, end, new, kind in sites.found:
            inside = [f for f in functions if f[0] <= line_no <= f[1]]
            # The innermost function holding the line (the module for top-level code).
            function = min(inside, key=lambda f: f[1] - f[0])[2] if inside else "<module>"
            line = lines[line_no - 1]
            stripped = line.strip()
            if stripped.startswith(("#", "__version__", "__all__", "import ", "from ")):
                continue
            changed = line[:start] + new + line[end:]
            yield source, function, line_no, line, changed, kind


def diff(path, before, after):
    out = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}",
    )
    text = "".join(out)
    if not text.endswith("\n"):
        text += "\n"
    return text


def git_apply(folder, patch, reverse=False):
    cmd = ["git", "apply", "--whitespace=nowarn"] + (["-R"] if reverse else []) + ["-"]
    done = subprocess.run(cmd, cwd=folder, input=patch, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git apply failed: {done.stderr.strip()}")


def problem_text(folder, package, python, failing):
    """The pytest output for the failing tests, as a user would paste it."""
    env = dict(os.environ, PYTHONPATH=str(folder / package["pythonpath"]),
               PYTHONDONTWRITEBYTECODE="1")
    done = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
                *package.get("options", []), "--tb=short", *failing],
               cwd=folder, env=env, timeout=TEST_TIMEOUT)
    # Paths as the user sees them from the package folder, not the scratch copy's.
    text = done.stdout.replace(f"{folder}/", "").strip()
    if len(text) > PROBLEM_CHARS:
        text = "…\n" + text[-PROBLEM_CHARS:]
    return text


def shell_quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


def sh(command, cwd):
    return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True,
                          timeout=TEST_TIMEOUT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="eval-suites/bugfix", type=Path,
                        help="where the suite goes (default: eval-suites/bugfix)")
    parser.add_argument("--per-package", type=int, default=12,
                        help="bugs kept per package (default: 12)")
    parser.add_argument("--seed", type=int, default=16, help="the order bugs are tried in")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    python = make_venv(out)
    python_ref = "{suite}/venv/bin/python"
    rng = random.Random(args.seed)
    tasks, bugs = [], []
    for package in PACKAGES:
        folder = fetch(package, out)
        baseline = failing_tests(folder, package, python)
        if baseline is None:
            sys.exit(f"{package['name']}: its test suite does not run; see {folder}")
        deselect = " ".join(f"--deselect {shell_quote(t)}" for t in baseline)
        if baseline:
            log(f"{package['name']}: {len(baseline)} tests fail before any bug; left out")
        candidates = list(candidate_bugs(folder, package))
        rng.shuffle(candidates)
        kept, tried, seen_lines = 0, 0, set()
        per_function, per_kind = {}, {}
        log(f"{package['name']}: {len(candidates)} places for a bug")
        for source, function, line_no, before_line, after_line, kind in candidates:
            if kept >= args.per_package:
                break
            # Variety: one bug per line, two per function, a few of each kind per package.
            if ((source, line_no) in seen_lines
                    or per_function.get((source, function), 0) >= MAX_PER_FUNCTION
                    or per_kind.get(kind, 0) >= MAX_PER_KIND):
                continue
            tried += 1
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp) / package["name"]
                shutil.copytree(folder, work)
                original = (work / source).read_text()
                lines = original.split("\n")
                lines[line_no - 1] = after_line
                buggy = "\n".join(lines)
                try:
                    compile(buggy, source, "exec")
                except SyntaxError:
                    continue
                (work / source).write_text(buggy)
                failing = failing_tests(work, package, python)
                if failing is None:
                    continue
                failing = [t for t in failing if t not in baseline]
                if not 1 <= len(failing) <= MAX_FAILING:
                    continue
                problem = problem_text(work, package, python, failing)
            setup_patch = diff(source, original, buggy)
            fix = diff(source, buggy, original)
            tests = pytest_command(package, python_ref,
                                   "-x " + " ".join(shell_quote(t) for t in failing))
            full_tests = pytest_command(
                package, python_ref, " ".join([deselect, *package.get("paths", [])]))
            # The grader's view: the bug fails `tests`; its reverse passes both commands.
            expanded = lambda c: c.replace("{suite}", str(out))
            with tempfile.TemporaryDirectory() as tmp:
                check = Path(tmp) / package["name"]
                shutil.copytree(folder, check)
                git_apply(check, setup_patch)
                if sh(expanded(tests), check).returncode == 0:
                    continue
                git_apply(check, fix)
                if sh(expanded(tests), check).returncode != 0 \
                        or sh(expanded(full_tests), check).returncode != 0:
                    continue
            seen_lines.add((source, line_no))
            per_function[(source, function)] = per_function.get((source, function), 0) + 1
            per_kind[kind] = per_kind.get(kind, 0) + 1
            kept += 1
            task_id = f"{package['name']}-{kept:02d}"
            tasks.append({
                "id": task_id,
                "problem": problem,
                "context_dir": f"packages/{package['name']}",
                "setup_patch": setup_patch,
                "grader": {"type": "patch", "tests": tests, "full_tests": full_tests},
            })
            bugs.append({"id": task_id, "kind": kind, "file": source, "function": function,
                         "line": line_no,
                         "before": before_line.strip(), "after": after_line.strip(),
                         "failing": failing, "fix": fix})
            log(f"  {task_id}: {kind} at {source}:{line_no}, {len(failing)} failing")
        log(f"{package['name']}: kept {kept} of {tried} tried")
    write_jsonl(out / "suite.jsonl", tasks)
    write_jsonl(out / "dev.jsonl", [t for i, t in enumerate(tasks) if i % 4 != 3])
    write_jsonl(out / "heldout.jsonl", [t for i, t in enumerate(tasks) if i % 4 == 3])
    write_jsonl(out / "bugs.jsonl", bugs)
    log(f"{len(tasks)} tasks from {len(PACKAGES)} packages in {out / 'suite.jsonl'}")
    if len(tasks) < 40:
        sys.exit(f"only {len(tasks)} tasks: fewer than the 40 the suite is meant to hold")


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
