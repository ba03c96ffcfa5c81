#!/usr/bin/env python3
"""Builds the distiller's labelled recall set over this Python's standard library.

Two kinds of task, each labelled with the function whose code must appear in the evidence:
- traceback: faulty code is really run, and its traceback (with a one-line question) is the
  problem;
- report: a bug report written in plain words, naming neither the file nor the module.

Prints JSON lines: id, kind, problem, root (the standard library folder, the context), path
(relative to root), start_line, end_line (1-based, inclusive), label.

    python3 scripts/recall-set.py > /tmp/recall.jsonl
"""

import importlib
import inspect
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.__file__)

# (faulty code, the function that must be in the evidence)
TRACEBACKS = [
    ("import json; json.loads('{\"a\": 1,}')", "json.decoder:JSONDecoder.raw_decode"),
    ("import base64; base64.b64decode('abc')", "base64:b64decode"),
    ("import ipaddress; ipaddress.ip_address('300.1.1.1')", "ipaddress:ip_address"),
    ("import fractions; fractions.Fraction('1/0')", "fractions:Fraction.__new__"),
    ("import statistics; statistics.mean([])", "statistics:mean"),
    ("import textwrap; textwrap.TextWrapper(width=0).wrap('hello world')", "textwrap:TextWrapper._wrap_chunks"),
    ("import shlex; shlex.split('a \"b')", "shlex:shlex.read_token"),
    ("import urllib.parse; urllib.parse.urlsplit('http://[::1')", "urllib.parse:urlsplit"),
    ("import configparser; configparser.ConfigParser().read_string('[a]\\nx=1\\n[a]\\n')", "configparser:RawConfigParser._read"),
    ("import zipfile, io; zipfile.ZipFile(io.BytesIO(b'not a zip'))", "zipfile:ZipFile._RealGetContents"),
    ("import tarfile, io; tarfile.open(fileobj=io.BytesIO(b'junk' * 200))", "tarfile:TarFile.open"),
    ("import string; string.Template('cost: $').substitute()", "string:Template._invalid"),
    ("import plistlib; plistlib.loads(b'garbage')", "plistlib:loads"),
    ("import email.utils; email.utils.parsedate_to_datetime('not a date')", "email.utils:parsedate_to_datetime"),
    ("import uuid; uuid.UUID('1234')", "uuid:UUID.__init__"),
    ("import gettext; gettext.translation('nosuchdomain')", "gettext:translation"),
    ("import argparse; argparse.ArgumentParser().add_argument('x', nargs=0)", "argparse:_StoreAction.__init__"),
    ("import pathlib; pathlib.PurePath('a').relative_to('b')", "pathlib:PurePath.relative_to"),
    ("import calendar; calendar.month_name[13]", "calendar:_localized_month.__getitem__"),
    ("import wave, io; wave.open(io.BytesIO(b'RIFF\\x00\\x00\\x00\\x00JUNK'))", "wave:Wave_read.initfp"),
    ("import locale; locale.setlocale(locale.LC_ALL, 'xx_XX.nothing')", "locale:setlocale"),
    ("import inspect; inspect.getsource(len)", "inspect:getfile"),
    ("import dataclasses\n@dataclasses.dataclass\nclass A:\n    x: list = []\n", "dataclasses:_get_field"),
    ("import collections; collections.namedtuple('P', ['_x'])", "collections:namedtuple"),
]

# (plain report naming neither file nor module, the function that must be in the evidence)
REPORTS = [
    ("Decoding a JSON object that has a trailing comma after its last member reports "
     "'Expecting property name enclosed in double quotes'. Where are an object's members parsed?",
     "json.decoder:JSONObject"),
    ("Splitting a shell-like command line with an unterminated quote raises 'No closing quotation'. "
     "Which code reads the tokens and decides the quote never closed?", "shlex:shlex.read_token"),
    ("Wrapping paragraphs of text to a width of zero fails with 'invalid width'. Where are the "
     "chunks of words put into lines?", "textwrap:TextWrapper._wrap_chunks"),
    ("Taking the arithmetic mean of an empty list raises an error saying it requires at least one "
     "data point.", "statistics:mean"),
    ("Converting the string '3/0' to a rational number raises a division by zero error; where is "
     "the numerator and denominator string parsed?", "fractions:Fraction.__new__"),
    ("Reading an INI configuration with the same section twice raises a duplicate section error "
     "while parsing.", "configparser:RawConfigParser._read"),
    ("Opening a bytes buffer that is not an archive complains it is not a zip file; where is the "
     "end of central directory record looked for?", "zipfile:_EndRecData"),
    ("Substituting into a template with a lone dollar sign raises 'Invalid placeholder'.",
     "string:Template._invalid"),
    ("Converting an RFC 2822 date header that is not a date to a datetime gives a ValueError.",
     "email.utils:parsedate_to_datetime"),
    ("Constructing a universally unique identifier from a short hexadecimal string fails as badly "
     "formed.", "uuid:UUID.__init__"),
    ("Computing a path relative to another pure path that does not share its prefix raises "
     "'is not in the subpath of'.", "pathlib:PurePath.relative_to"),
    ("An IPv6 URL with a missing closing bracket raises 'Invalid IPv6 URL' when the URL is split "
     "into its components.", "urllib.parse:urlsplit"),
    ("Decoding radix-64 text whose length is not a multiple of four fails with incorrect padding; "
     "where does the decoder validate its input characters?", "base64:b64decode"),
    ("Merging several sorted inputs into one sorted iterator yields items out of order when a "
     "key function is given.", "heapq:merge"),
    ("A class decorator that fills in the missing rich comparison methods from __lt__ raises "
     "'must define at least one ordering operation'.", "functools:total_ordering"),
    ("A least-recently-used cache decorator misses when the same call is made with keyword "
     "arguments in another order; where is the cache key built from args and kwargs?",
     "functools:_make_key"),
    ("Copying a directory tree fails when the destination already exists unless dirs_exist_ok "
     "is set.", "shutil:copytree"),
    ("Finding the longest matching block between two sequences for a diff ignores popular "
     "elements; where is the longest match searched?", "difflib:SequenceMatcher.find_longest_match"),
    ("Percent-encoding a query from a dict of lists does not repeat the key for each value unless "
     "doseq is true.", "urllib.parse:urlencode"),
    ("Creating a named tuple class with a field name that starts with an underscore raises an "
     "error unless rename is set.", "collections:namedtuple"),
    ("A dataclass field with a list as its default raises 'mutable default ... is not allowed: "
     "use default_factory'.", "dataclasses:_get_field"),
    ("Enumerations should refuse members with duplicate values when asked to, and report the "
     "aliases found.", "enum:unique"),
    ("Cleaning up a temporary directory fails when a file inside it is read-only; the rmtree "
     "error handler should fix permissions and retry.", "tempfile:TemporaryDirectory._rmtree"),
    ("Guessing the media type of a file from its extension returns None for upper-case "
     "extensions unless strict is off.", "mimetypes:MimeTypes.guess_type"),
    ("Sniffing the dialect of comma-separated data guesses the wrong delimiter when quotes are "
     "present; where is the quote character guessed?", "csv:Sniffer._guess_quote_and_delimiter"),
]


# Written after the heuristics were settled and never tuned on: the held-out check.
HELD_OUT = [
    ("Formatting a number with thousands separators for the regional settings groups digits wrongly; "
     "where are the digits grouped?", "locale:_group"),
    ("Pretty-printing a nested dict sorts its keys even when I pass sort_dicts=False.",
     "pprint:PrettyPrinter._pprint_dict"),
    ("Quoting a string for a shell command line leaves it unquoted when it only has safe "
     "characters; where is the unsafe character check?", "shlex:quote"),
    ("Removing the common leading whitespace from a block of lines keeps the indentation when "
     "some lines hold only spaces.", "textwrap:dedent"),
    ("Reading a compressed .gz stream that was truncated raises 'Compressed file ended before "
     "the end-of-stream marker was reached'.", "gzip:_GzipReader.read"),
    ("Case-insensitive matching of file names against a wildcard pattern behaves differently "
     "on Windows; where is the name normalised before matching?", "fnmatch:fnmatch"),
    ("The context manager that suppresses given exceptions swallows exceptions it was not "
     "asked to suppress when they are subclasses.", "contextlib:suppress.__exit__"),
    ("Getting the n most common elements of a counter returns them in insertion order for "
     "ties; where is the ordering decided?", "collections:Counter.most_common"),
    ("Reading a source file whose first line declares a coding cookie fails when a byte order "
     "mark is present too, with 'encoding problem: utf-8'.", "tokenize:detect_encoding"),
    ("Building a query URL by joining a relative reference with a base drops the last path "
     "segment of the base; where are the two resolved?", "urllib.parse:urljoin"),
]


def locate(label):
    module, qualname = label.split(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = inspect.unwrap(getattr(obj, "__func__", obj))
    path = inspect.getsourcefile(obj)
    lines, start = inspect.getsourcelines(obj)
    return os.path.relpath(path, ROOT), start, start + len(lines) - 1


def main():
    n = 0
    kinds = [("report", REPORTS), ("held-out report", HELD_OUT)]
    for code, label in TRACEBACKS:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        trace = run.stderr.strip()
        if "Traceback" not in trace:
            sys.exit(f"no traceback from {code!r}: {trace!r}")
        path, start, end = locate(label)
        n += 1
        problem = f"This fails and I don't see why:\n\n{trace}\n"
        print(json.dumps({"id": n, "kind": "traceback", "problem": problem, "root": ROOT,
                          "path": path, "start_line": start, "end_line": end, "label": label}))
    for kind, reports in kinds:
      for report, label in reports:
        path, start, end = locate(label)
        module = label.split(":")[0].split(".")[-1]
        if re.search(rf"\b{re.escape(module)}\b", report, re.IGNORECASE):
            sys.exit(f"the report for {label} names its module: {report!r}")
        n += 1
        print(json.dumps({"id": n, "kind": kind, "problem": report, "root": ROOT,
                          "path": path, "start_line": start, "end_line": end, "label": label}))


main()
