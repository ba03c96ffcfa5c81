#!/usr/bin/env python3
"""Writes a long-context suite for `aimos eval` (JSONL on stdout) from this machine's Python
standard library: each task asks for one exact fact about one function — the default value of
one of its parameters — in a context of whole source files that holds the function's file and
enough files from the same package around it to reach a target size. The answer depends on a
few lines of a context of 4k to 64k tokens, and is checked exactly.

    python3 scripts/longctx-suite.py > longctx.jsonl
    python3 scripts/longctx-suite.py --sizes 4000,16000,64000 --per-size 10 --seed 7

Sizes are in tokens, estimated at four characters a token. The same seed on the same Python
gives the same suite.
"""

import argparse
import ast
import json
import os
import random
import sysconfig

CHARS_PER_TOKEN = 4


def candidates(path):
    """(function name, parameter, default as written) for simple literal defaults in a file."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []
    found = []
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = names.get(node.name, 0) + 1
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_") or names[node.name] > 1:
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        for arg, default in pairs:
            if not isinstance(default, ast.Constant) or default.value is None:
                continue
            if isinstance(default.value, bool) or isinstance(default.value, str) and len(default.value) < 2:
                continue
            written = ast.get_source_segment(source, default)
            if written and "\n" not in written:
                found.append((node.name, arg.arg, written))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4000,16000,64000", help="context sizes in tokens")
    parser.add_argument("--per-size", type=int, default=10, help="tasks per size")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = sysconfig.get_paths()["stdlib"]
    rng = random.Random(args.seed)

    packages = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("test", "tests", "idlelib", "site-packages", "__pycache__") and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                packages.setdefault(folder, []).append((path, os.path.getsize(path)))
    files = [f for group in packages.values() for f in group]

    tasks = []
    used = set()
    for size in sizes:
        budget = size * CHARS_PER_TOKEN
        made = 0
        order = files[:]
        rng.shuffle(order)
        for path, length in order:
            if made == args.per_size:
                break
            if length > budget * 0.6 or path in used:
                continue
            found = candidates(path)
            if not found:
                continue
            function, parameter, answer = rng.choice(found)
            # Fill the context up to the size with other files, the same package first.
            near = [f for f in packages[os.path.dirname(path)] if f[0] != path]
            far = [f for f in files if f[0] != path and f not in near]
            rng.shuffle(near)
            rng.shuffle(far)
            context, total = [path], length
            for other, other_length in near + far:
                if total >= budget * 0.9:
                    break
                if total + other_length <= budget:
                    context.append(other)
                    total += other_length
            if total < budget * 0.75:
                continue
            rng.shuffle(context)
            used.add(path)
            made += 1
            shown = os.path.relpath(path, root)
            tasks.append({
                "id": f"{size // 1000}k-{shown}:{function}:{parameter}",
                "problem": (
                    f"In {shown}, what is the default value of the parameter `{parameter}` of the "
                    f"function `{function}`? Answer with the value alone, as it is written in the source."
                ),
                # `{stdlib}` is expanded by aimos eval to this Python's standard library, so
                # that the suite holds no path of one machine.
                "context_files": ["{stdlib}/" + os.path.relpath(c, root) for c in context],
                "grader": {"type": "exact", "answer": answer},
            })
    for task in tasks:
        print(json.dumps(task))


if __name__ == "__main__":
    main()
