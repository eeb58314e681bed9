"""What every `prism` command does around its library call: parse, set up, run, report.

`run(Config, fn, argv, prog)` parses the flags into the config dataclass with tyro (a value of the
wrong type ends in tyro's error box, exit code 2; one the config's checks reject, in one line), sets up
logging (our INFO lines, only warnings from absl/orbax/JAX) and the compilation cache (where
writable), calls `fn(config)` and hands its result to `show`. A user's mistake (a bad file, a
refused output, a locked output, a diverged run) ends with one line `prog: message` and exit
code 1, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from prism_jax.runs import check_all, unchecked
from prism_jax.runtime import enable_compilation_cache, setup_logging
from prism_jax.train.helptext import cli

T = TypeVar("T")


def user_error(err: BaseException) -> str | None:
    """The one-line message for an error caused by the user's input, or None for a bug."""
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and err.filename:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, (ValueError, OSError, FloatingPointError)):
        return str(err)
    return None


def call(fn: Callable[..., T], *args, prog: str, **kwargs) -> T:
    """`fn(*args, **kwargs)`, with user errors turned into `SystemExit("prog: message")`."""
    try:
        return fn(*args, **kwargs)
    except KeyboardInterrupt:
        raise SystemExit(f"{prog}: interrupted") from None
    except Exception as err:
        message = user_error(err)
        if message is None:
            raise
        raise SystemExit(f"{prog}: {message}") from None


def parse(config_type: type[T], argv: list[str] | None, prog: str, *,
          description: str | None = None, default: T | None = None) -> T:
    """tyro's parse of `argv`, then the configs' checks, failing with one line."""
    with unchecked():
        config = cli(config_type, args=sys.argv[1:] if argv is None else argv, prog=prog,
                          description=description, default=default)
    call(check_all, config, prog=prog)
    return config


def setup() -> None:
    """Logging and the compilation cache, as every command wants them."""
    setup_logging()
    enable_compilation_cache(required=False)


def print_json(result) -> None:
    """Show a command's summary dict as indented JSON."""
    print(json.dumps(result, indent=2, default=str))


def run(config_type: type[T], fn: Callable[[T], Any], argv: list[str] | None, prog: str, *,
        description: str | None = None, default: T | None = None,
        show: Callable[[Any], None] | None = None) -> int:
    """Parse `argv` into `config_type`, run `fn(config)`, show its result; returns 0."""
    config = parse(config_type, argv, prog, description=description, default=default)
    setup()
    result = call(fn, config, prog=prog)
    if show is not None:
        show(result)
    return 0
