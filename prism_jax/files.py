"""Writing outputs so that a failure never leaves a half-written one and nothing is clobbered.

The one mechanism behind every writer here: fill a temporary sibling of the target, then rename
it onto the target (a rename within a directory is atomic), so readers see the old version or
the new one, never a mix, and a killed process leaves at most a hidden temporary.

* `atomic_write(path)` / `write_text` / `write_json` / `write_jsonl`: one file.
* `staged_outputs(dir)`: several files of one directory, all or none.
* `atomic_dir(path)`: a whole directory (model exports, evaluation results).

Temporaries are created private (mkstemp: 0600, mkdtemp: 0700) and opened up to what the user's
umask allows before they are renamed, so outputs are as shareable as any other file they create.

`check_output` is the rule every command applies before writing a directory it replaces: an
existing non-empty directory is refused unless the caller passes overwrite=True (`--overwrite`),
and the current directory, a directory that holds it, or one that holds an input is never
replaced at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

# Files of a Hugging Face model directory that belong to its tokenizer / generation set-up.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "generation_config.json", "vocab.json", "merges.txt")


class OutputError(ValueError):
    """An output path a command refuses to write (it would clobber something, or cannot be written)."""


def umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _open_up(path: Path, directory: bool) -> None:
    """Give a mkstemp / mkdtemp temporary the mode a plain open / mkdir would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse (OutputError) a path whose nearest existing directory this process cannot write."""
    out = Path(path).absolute()
    base = _nearest_existing(out.parent if not out.is_dir() else out)
    if not base.is_dir():
        raise OutputError(f"{out}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: cannot write to {base} (permission denied)")
    return out


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output(path: str | os.PathLike, *, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike | None] = (), flag: str = "--overwrite") -> Path:
    """Check a directory a command is about to replace; returns its absolute path.

    Refused (OutputError): a path that is a file; one this process cannot write; the current
    directory or a directory holding it; a directory holding (or being) one of `inputs`; and,
    unless `overwrite`, an existing directory that is not empty (`flag` is named in the message).
    """
    out = check_writable(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a directory")
    real = out.resolve()
    if _contains(real, Path.cwd().resolve()):
        raise OutputError(f"{out}: is the current directory or holds it; name a new directory")
    for source in inputs:
        if source is not None and _contains(real, Path(source).resolve()):
            raise OutputError(f"{out}: holds the input {source}; name another directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out}: exists and is not empty; pass {flag} to replace it")
    return out


def check_output_files(out_dir: str | os.PathLike, names: Iterable[str], *, overwrite: bool = False,
                       inputs: Iterable[str | os.PathLike | None] = (),
                       flag: str = "--overwrite") -> Path:
    """Check the files `names` a command is about to write into `out_dir` (other files there are
    left alone); returns the directory's absolute path.

    Refused (OutputError): `out_dir` a file or not writable; an output that is one of `inputs`;
    unless `overwrite`, an output that exists already.
    """
    out = check_writable(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file, not a directory")
    sources = {Path(s).resolve() for s in inputs if s is not None}
    for name in names:
        target = out / name
        if target.resolve() in sources:
            raise OutputError(f"{target}: is also an input; write the outputs elsewhere")
        if target.exists() and not overwrite:
            raise OutputError(f"{target}: exists; pass {flag} to replace it")
    return out


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False,
               inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to fill; on success it takes the place of `path`.

    `path` is checked by `check_output` first (so without `overwrite` an existing non-empty
    directory is refused before any work is done). The old directory, if any, is renamed
    aside, the new one renamed in, and only then is the old one deleted. On error the
    temporary goes and `path` is untouched.
    """
    inputs = list(inputs)
    out = check_output(path, overwrite=overwrite, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        _open_up(tmp, directory=True)
        check_output(out, overwrite=overwrite, inputs=inputs)   # nothing appeared meanwhile
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_outputs(out_dir: str | os.PathLike) -> Iterator:
    """Write several files so that either all appear or none is touched.

    `with staged_outputs(d) as stage: path = stage("x.png")` hands out a temporary path in d (same
    suffix, so writers that infer the format still work); when the block exits normally every
    temporary is renamed onto its final name, and on an exception all temporaries are deleted and
    existing files in d are left as they were.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []

    def stage(name: str) -> Path:
        final = out / name
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{final.stem}.", suffix=final.suffix)
        os.close(fd)
        staged.append((Path(tmp), final))
        return Path(tmp)

    try:
        yield stage
        for tmp, _ in staged:
            _open_up(tmp, directory=False)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (created with its parents)."""
    path = Path(path)
    with staged_outputs(path.parent) as stage:
        yield stage(path.name)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj) -> Path:
    """Replace `path` with `obj` as indented JSON atomically (Paths and other objects as str)."""
    return write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict], *,
                ensure_ascii: bool = True) -> Path:
    """Replace `path` with one JSON line per record atomically (``ensure_ascii=False`` keeps
    non-ASCII text as UTF-8 instead of escapes)."""
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=ensure_ascii) + "\n")
    return Path(path)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[str, dict]]:
    """Yield ("<path>:<line>", object) for each non-blank line of a JSONL file of JSON objects.

    Malformed lines raise ValueError naming the file and line; callers prefix their own checks
    with the same location string.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
            yield where, rec


def copy_tokenizer_files(src: str | os.PathLike | None, dst: str | os.PathLike) -> None:
    """Copy the tokenizer files present in `src` (if any) into `dst`."""
    if src is None:
        return
    for name in TOKENIZER_FILES:
        if (Path(src) / name).is_file():
            shutil.copy2(Path(src) / name, Path(dst) / name)
