"""No input path may deserialize with something that runs code: pickle, eval, exec, or
yaml.load without the SafeLoader. A grep over the package and the command line keeps it so."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UNSAFE = [
    (
        re.compile(r"\bimport\s+(c?pickle|marshal|shelve|dill)\b|\bfrom\s+(c?pickle|dill)\b"),
        "pickle",
    ),
    (re.compile(r"\bpickle\.loads?\("), "pickle.load"),
    (re.compile(r"(?<![\w.])eval\("), "eval("),
    (re.compile(r"(?<![\w.])exec\("), "exec("),
    (re.compile(r"\byaml\.load\((?![^)]*SafeLoader)"), "yaml.load( without SafeLoader"),
    (re.compile(r"\byaml\.unsafe_load\("), "yaml.unsafe_load("),
]

ALLOWED = {
    ("kstreamy/runtime/fusion.py", "exec("): "compiles a chain function from the library's own "
    "statement templates, chosen by node kind when the topology is built; no record, file or "
    "argument reaches the source",
}
"""Sites that run generated code on purpose, each with why no input can reach it."""


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines of code, without comments (docstrings may name what is avoided)."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.strip():
            out.append((number, code))
    return out


def test_no_input_path_uses_pickle_eval_exec_or_unsafe_yaml() -> None:
    found = []
    for folder in ("kstreamy", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, code in _code_lines(path):
                for pattern, what in UNSAFE:
                    rel = str(path.relative_to(ROOT))
                    if (rel, what) in ALLOWED:
                        continue
                    if pattern.search(code) and "``" not in code:
                        found.append(f"{rel}:{number}: {what}: {code.strip()}")
    assert not found, "unsafe deserialization on an input path:\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for() -> None:
    for line, what in [
        ("import pickle", "pickle"),
        ("x = pickle.loads(data)", "pickle.load"),
        ("eval(text)", "eval("),
        ("exec(code)", "exec("),
        ("yaml.load(fh)", "yaml.load( without SafeLoader"),
    ]:
        assert any(p.search(line) and w == what for p, w in UNSAFE), line
    assert not any(p.search("yaml.load(fh, Loader=yaml.SafeLoader)") for p, _ in UNSAFE)
    assert not any(p.search("app.evaluate(x); literal_eval(y)") for p, _ in UNSAFE)
