#!/usr/bin/env python3
"""Builds the labelled set of plain bug reports over three codebases, for the recall benchmark.

Every report describes behaviour in plain words and names neither the file, the module nor the
function it is about (the script checks that). Each is labelled with the definition whose code
must appear in the brief's evidence. The codebases:

- python: this Python's standard library (the folder of `os`);
- rust: the source of the `minijinja` 2.24.0 crate, from Cargo's registry (a dependency of this
  workspace, so a build has unpacked it);
- js: the `lib` folder of the npm package `eslint` 9.39.5, installed with npm into
  `$AIMOS_RECALL_JS` (default: a folder under the system's temporary directory).

All reports were written on 2026-11-27, before any change to the ranking was tried against
them. Within each codebase they alternate, in the order written, between the tuning half and
the held-out half; only the tuning half's misses may be looked at while changing the ranking.
Four reports in other human languages (over the standard library) check that nothing breaks.

Prints JSON lines: id, kind, problem, root, path (relative to root), start_line, end_line
(1-based, inclusive), label.

    python3 scripts/plain-reports.py > /tmp/plain.jsonl
"""

import glob
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile

ESLINT = "9.39.5"
MINIJINJA = "minijinja-2.24.0"

# (report, module:qualname)
PYTHON = [
    ("Truncating a sentence to fit a width adds the '[...]' placeholder even though the "
     "collapsed text would have fitted.", "textwrap:shorten"),
    ("Numeric character references such as &#x80; in markup are turned into the wrong "
     "character; code points in the Windows-1252 range should be mapped.",
     "html:_replace_charref"),
    ("Counting the leap years in a range of years gives one too many when the range ends on "
     "a leap year.", "calendar:leapdays"),
    ("The median of grouped continuous data uses the wrong class interval when the interval "
     "is not 1.", "statistics:median_grouped"),
    ("Parsing a query string silently drops the fields that have an empty value, and fails "
     "with too many fields even below the limit.", "urllib.parse:parse_qsl"),
    ("Formatting a display name and a mail address into one header value does not quote a "
     "name that contains a comma.", "email.utils:formataddr"),
    ("Creating an IPv4 network from '10.0.0.1/8' in strict mode complains that host bits are "
     "set; where is that checked?", "ipaddress:IPv4Network.__init__"),
    ("Looking up a program on the search path returns a directory that has the program's "
     "name instead of an executable file.", "shutil:which"),
    ("Matching paths with a double-star wildcard does not descend into subdirectories even "
     "when recursive matching is on.", "glob:_glob2"),
    ("Serialising text with only ASCII output escapes characters outside the basic plane as "
     "two surrogate escapes; where does the pure-Python fallback do that?",
     "json.encoder:py_encode_basestring_ascii"),
    ("Getting the three smallest items with a key function returns them in the wrong order "
     "when the input is an iterator.", "heapq:nsmallest"),
    ("Choosing k distinct elements from a population raises 'Sample larger than population "
     "or is negative' for a set.", "random:Random.sample"),
    ("The closest rational approximation with a bounded denominator is further from the "
     "value than another candidate with a smaller denominator.",
     "fractions:Fraction.limit_denominator"),
    ("Capitalising every word of a sentence collapses runs of whitespace into single spaces.",
     "string:capwords"),
    ("Creating nested folders raises an error that the leaf already exists even though "
     "exist_ok is true.", "pathlib:Path.mkdir"),
    ("Finding a writable folder for scratch files gives up with 'No usable temporary "
     "directory found' although one of the candidates can be written to.",
     "tempfile:_get_default_tempdir"),
    ("A log file that rotates at midnight every day computes its next rotation time wrongly "
     "around daylight saving changes.",
     "logging.handlers:TimedRotatingFileHandler.computeRollover"),
    ("A negative number given as the value of a positional argument is taken for an option "
     "flag on the command line.", "argparse:ArgumentParser._parse_optional"),
    ("Reading a cookie value that holds backslash escapes and octal sequences decodes it "
     "wrongly.", "http.cookies:_unquote"),
    ("Suggesting similar words for a misspelt name returns nothing although a word differs "
     "by one letter and the cutoff is 0.6.", "difflib:get_close_matches"),
    ("Adding a file whose modification time is before 1980 to an archive fails saying such "
     "timestamps are not supported.", "zipfile:ZipInfo.__init__"),
    ("A boolean option written as 'on' in a settings file is rejected with 'Not a boolean'.",
     "configparser:RawConfigParser._convert_to_boolean"),
]

# (report, path under the crate's src, a line that starts the definition)
RUST = [
    ("Turning a string into title case leaves a letter after an apostrophe in upper case.",
     "filters.rs", "pub fn title("),
    ("Sorting a mapping by its values instead of its keys in a template ignores the "
     "case-sensitivity argument.", "filters.rs", "pub fn dictsort("),
    ("Grouping a list into rows of three with a fill value leaves the last row short.",
     "filters.rs", "pub fn batch("),
    ("Indenting a multi-line string in a template also indents the blank lines, though "
     "blank lines should stay empty.", "filters.rs", "pub fn indent("),
    ("Percent-encoding a mapping for a query string encodes the keys in a different order "
     "each time.", "filters.rs", "pub fn urlencode("),
    ("Rounding a number to two decimals with the floor method rounds up.",
     "filters.rs", "pub fn round("),
    ("Removing duplicate items from a list in a template treats 'A' and 'a' as one item.",
     "filters.rs", "pub fn unique("),
    ("Converting the string '0x1A' to a whole number in a template fails instead of reading "
     "it as hexadecimal.", "filters.rs", "pub fn int("),
    ("Taking every second element of a list with a negative step gives the wrong elements.",
     "value/ops.rs", "pub fn slice("),
    ("Floor division of a negative number by a positive one rounds toward zero.",
     "value/ops.rs", "pub fn int_div("),
    ("Multiplying a string by a huge number exhausts memory instead of failing with a size "
     "limit.", "value/ops.rs", "pub fn mul("),
    ("Raising an integer to a large power overflows silently instead of giving an error.",
     "value/ops.rs", "pub fn pow("),
    ("With whitespace stripping before block tags turned on, spaces before a tag on a line "
     "that has other text are removed too.", "compiler/lexer.rs", "fn should_lstrip_block("),
    ("A string literal in a template holding an escaped surrogate pair gives a broken "
     "character.", "utils.rs", "fn unescape(mut self"),
    ("Auto-escaped output turns a quote into an entity but leaves the forward slash as it is.",
     "utils.rs", "fn write_with_html_escaping("),
    ("Including a template whose name has '..' in it lets it read files outside the template "
     "folder.", "loader.rs", "pub fn safe_join("),
    ("Templates whose names end in .j2 after .html are not auto-escaped.",
     "defaults.rs", "pub fn default_auto_escape_callback("),
    ("The loop helper that alternates between values picks the wrong one, and the helper "
     "that says whether a value changed since the last iteration always says yes.",
     "vm/loop_object.rs", "fn call_method("),
    ("Testing whether a number can be divided by zero in a template panics.",
     "tests.rs", "pub fn is_divisibleby("),
    ("Generating a sequence of numbers with a huge upper bound should be refused for having "
     "too many elements.", "functions.rs", "pub fn range("),
    ("Custom delimiters where the variable start is a prefix of the block start are accepted "
     "and then break parsing.", "syntax.rs", "fn validated_start_delims("),
    ("A macro that declares a parameter without a default after one with a default is "
     "accepted.", "compiler/parser.rs", "fn parse_macro_args_and_defaults("),
]

# (report, path under the package's lib, a line that starts the definition)
JS = [
    ("A loop whose counter moves away from its end condition is not reported when the update "
     "subtracts a negative number.", "rules/for-direction.js", "function getAssignmentDirection("),
    ("An object literal that has both a getter and a setter for one key is reported as "
     "having duplicate keys.", "rules/no-dupe-keys.js", "isPropertyDefined(node) {"),
    ("The strict equality rule still complains about comparisons with null when it is told "
     "to allow them.", "rules/eqeqeq.js", "function isNullCheck("),
    ("A switch statement over a not-a-number value is not reported although such cases can "
     "never match.", "rules/use-isnan.js", "function checkSwitchStatement("),
    ("A variable that is only read inside its own reassignment is counted as used.",
     "rules/no-unused-vars.js", "function isSelfReference("),
    ("The line length check counts a tab as one column whatever the tab width setting says.",
     "rules/max-len.js", "function computeLineLength("),
    ("Identifiers with a leading underscore and an upper-case constant style are reported as "
     "not being in camel case.", "rules/camelcase.js", "function isUnderscored("),
    ("A switch case that falls through is not reported when a comment saying it falls "
     "through is placed two lines above the next case.", "rules/no-fallthrough.js",
     "function getFallthroughComment("),
    ("Numbers used as array indexes are still reported as unexplained constants when indexes "
     "should be ignored.", "rules/no-magic-numbers.js", "function isArrayIndex("),
    ("A range check such as 0 <= x && x < 10 is reported for having the literal on the left "
     "side even with the exception for ranges.", "rules/yoda.js", "function isRangeTest("),
    ("A backslash before a dash inside a character class of a regular expression is "
     "reported as unnecessary.", "rules/no-useless-escape.js", "function validateRegExp("),
    ("Numeric literals that cannot be represented exactly as doubles are not reported when "
     "they are written in decimal with trailing zeros.", "rules/no-loss-of-precision.js",
     "function baseTenLosesPrecision("),
    ("Non-breaking spaces inside template literals are reported even with the option that "
     "skips templates.", "rules/no-irregular-whitespace.js",
     "function removeInvalidNodeErrorsInTemplateLiteral("),
    ("Calls that parse an integer without the base argument are not reported when the "
     "function is reached as a property of the global number object.", "rules/radix.js",
     "function isParseIntMethod("),
    ("When two automatic fixes overlap, both are applied and the output is corrupted.",
     "linter/source-code-fixer.js", "function attemptFix("),
    ("The cache of lint results is used even after the configuration changed.",
     "cli-engine/lint-result-cache.js", "function hashOfConfigFor("),
    ("Plugin names given with a scope such as @scope are expanded to the wrong package name.",
     "shared/naming.js", "function normalizePackageName("),
    ("A variable declared with let is reported as one that should never be reassigned even "
     "though it is assigned through a destructuring together with a reassigned one.",
     "rules/prefer-const.js", "function groupByDestructuring("),
    ("Comparing an expression with itself is not reported when the two sides differ only in "
     "spacing or comments.", "rules/no-self-compare.js", "function hasSameTokens("),
    ("Comparing against negative zero with a strict equality operator is not reported.",
     "rules/no-compare-neg-zero.js", "function isNegZero("),
    ("Giving the language version as the year 2015 instead of the edition number 6 selects "
     "the wrong syntax.", "linter/linter.js", "function normalizeEcmaVersion("),
    ("An inline comment that turns a rule off for one line and no longer suppresses anything "
     "is not flagged as unused.", "linter/apply-disable-directives.js",
     "function processUnusedDirectives("),
]

# Other human languages, over the standard library: (report, module:qualname).
OTHER_LANGUAGES = [
    ("Beim Zusammenführen mehrerer sortierter Eingaben mit einer Schlüsselfunktion kommen "
     "die Elemente in falscher Reihenfolge heraus.", "heapq:merge"),
    ("Al dividir una línea de órdenes con una comilla sin cerrar aparece el error 'No "
     "closing quotation'.", "shlex:shlex.read_token"),
    ("Le calcul de la moyenne d'une liste vide lève une erreur qui dit qu'il faut au moins "
     "un point de données.", "statistics:mean"),
    ("解析带有尾随逗号的 JSON 对象时报错 'Expecting property name enclosed in double quotes'。",
     "json.decoder:JSONObject"),
]


def python_root():
    return os.path.dirname(os.__file__)


def rust_root():
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(glob.glob(os.path.join(cargo_home, "registry", "src", "*", MINIJINJA, "src")))
    if not found:
        sys.exit(f"{MINIJINJA} is not unpacked under {cargo_home}/registry/src: "
                 "run `cargo fetch` in the aimos workspace first")
    return found[0]


def js_root():
    base = os.environ.get("AIMOS_RECALL_JS",
                          os.path.join(tempfile.gettempdir(), "aimos-recall-js"))
    lib = os.path.join(base, "node_modules", "eslint", "lib")
    package = os.path.join(base, "node_modules", "eslint", "package.json")
    installed = os.path.exists(package) and json.load(open(package))["version"] == ESLINT
    if not installed:
        os.makedirs(base, exist_ok=True)
        print(f"installing eslint {ESLINT} into {base} with npm", file=sys.stderr)
        subprocess.run(["npm", "install", "--prefix", base, "--no-audit", "--no-fund",
                        "--ignore-scripts", "--loglevel=error", f"eslint@{ESLINT}"],
                       check=True, stdout=sys.stderr)
    return lib


def locate_python(label):
    module, qualname = label.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = inspect.unwrap(getattr(obj, "__func__", obj))
    path = inspect.getsourcefile(obj)
    lines, start = inspect.getsourcelines(obj)
    return os.path.relpath(path, python_root()), start, start + len(lines) - 1


def locate_braced(root, path, needle):
    """The lines of the definition that starts on the one line holding `needle`, to the brace
    that closes its body."""
    lines = open(os.path.join(root, path), encoding="utf-8").read().split("\n")
    starts = [i for i, line in enumerate(lines) if needle in line]
    if len(starts) != 1:
        sys.exit(f"{path}: {needle!r} is on {len(starts)} lines, not one")
    depth, opened = 0, False
    for i in range(starts[0], len(lines)):
        # Braces inside strings and comments are rare enough in these definitions' bodies.
        for c in re.sub(r"//.*", "", lines[i]):
            if c == "{":
                depth, opened = depth + 1, True
            elif c == "}":
                depth -= 1
        if opened and depth <= 0:
            return path, starts[0] + 1, i + 1
    sys.exit(f"{path}: the definition at {needle!r} never closes")


def check_plain(report, names):
    """A report may use a one-word name as an ordinary word ("title case"), but never a
    compound identifier, a module or a file name as such."""
    for name in names:
        compound = "_" in name or "-" in name or re.search(r"[a-z][A-Z]", name)
        if (compound or len(name) > 3) and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])",
                                                     report, re.IGNORECASE):
            sys.exit(f"the report for {name} names it: {report!r}")


def compounds(name):
    """The name when it is a compound identifier; a one-word name may be an ordinary word."""
    return [name] if "_" in name.strip("_") or re.search(r"[a-z][A-Z]", name) else []


def main():
    n = 0

    def emit(kind, problem, root, located, label):
        nonlocal n
        n += 1
        path, start, end = located
        print(json.dumps({"id": n, "kind": kind, "problem": problem, "root": root, "path": path,
                          "start_line": start, "end_line": end, "label": label},
                         ensure_ascii=False))

    halves = ("tuning", "held-out")
    root = python_root()
    for i, (report, label) in enumerate(PYTHON):
        module, qualname = label.split(":")
        check_plain(report, [module.split(".")[-1], *compounds(qualname.split(".")[-1])])
        emit(f"python ({halves[i % 2]})", report, root, locate_python(label), label)
    root = rust_root()
    for i, (report, path, needle) in enumerate(RUST):
        name = re.search(r"fn (\w+)", needle).group(1)
        check_plain(report, [*compounds(name), os.path.splitext(os.path.basename(path))[0]])
        emit(f"rust ({halves[i % 2]})", report, root, locate_braced(root, path, needle),
             f"{path}:{name}")
    root = js_root()
    for i, (report, path, needle) in enumerate(JS):
        name = re.search(r"(\w+)\(", needle).group(1)
        check_plain(report, [*compounds(name), os.path.splitext(os.path.basename(path))[0]])
        emit(f"js ({halves[i % 2]})", report, root, locate_braced(root, path, needle),
             f"{path}:{name}")
    root = python_root()
    for report, label in OTHER_LANGUAGES:
        emit("other language", report, root, locate_python(label), label)


main()
