"""A batch of ALFWorld envs in worker processes that survive faults.

Each worker process hosts several envs (one TextWorld engine each: a worker costs ~400 MB, an
extra env in it much less), so 128 envs need only as many processes as there are cores to use.
Env ``i`` lives in worker ``i % workers``; a call sends each worker the requests of its envs
and waits for all answers against one deadline.

A worker that dies or does not answer within ``timeout`` seconds (counted from the call; a new
worker first imports TextWorld and says it is ready) is killed and restarted; every
env it hosted loses its episode: those in the call answer with ``info["error"]`` (the reason),
the others do so at their next step. A Python error inside an env (a missing game file) is
reported the same way for that env alone. So a fault costs episodes, never the run.

Workers start with the 'forkserver' context: the parent may hold JAX or other threads that
make a plain fork unsafe.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback

from prism_jax.envs.alfworld.engine import install_caches
from prism_jax.envs.alfworld.env import AlfworldEnv

DEFAULT_TIMEOUT = 300.0
# A fresh worker imports TextWorld before it says it is ready; the call timeout starts after.
STARTUP_TIMEOUT = 300.0


def _worker(conn, max_steps: int, cached: bool) -> None:
    if cached:
        install_caches()
    else:
        import textworld.envs.pddl  # noqa: F401  (the import a first game load would pay)
    conn.send("ready")
    envs: dict[int, AlfworldEnv] = {}
    final: dict[int, tuple] = {}  # slot -> result repeated for steps after its episode ended

    def one(cmd: str, slot: int, arg):
        if cmd == "reset":
            game, seed = arg
            env = envs.setdefault(slot, AlfworldEnv(max_steps=max_steps, cached=cached))
            final.pop(slot, None)
            return env.reset(seed=seed, options={"game": game})
        if slot in final:
            obs, _, term, trunc, info = final[slot]
            return obs, 0.0, term, trunc, info
        if slot not in envs:
            raise RuntimeError("step() before reset()")
        result = envs[slot].step(arg)
        if result[2] or result[3]:
            final[slot] = result
        return result

    try:
        while True:
            cmd, items = conn.recv()
            if cmd == "close":
                conn.send([])
                return
            replies = []
            for slot, arg in items:
                try:
                    replies.append((slot, "ok", one(cmd, slot, arg)))
                except Exception as err:  # reported for this env; the worker carries on
                    replies.append((slot, "error", f"{type(err).__name__}: {err}\n"
                                                   f"{traceback.format_exc(limit=3)}"))
            conn.send(replies)
    finally:
        for env in envs.values():
            env.close()
        conn.close()


class AlfworldVecEnv:
    """``n`` ALFWorld envs hosted by ``workers`` processes (default: min(n, CPU count)), on the
    cached engine unless ``cached`` is False (`prism_jax.envs.alfworld.engine`).

    ``reset(task_ids, seeds=None, indices=None) -> (obs, infos)`` loads one game per env (task
    id = game path); ``indices`` resets a subset, with ``task_ids`` lined up with it.
    ``step(actions, indices=None) -> (obs, rewards, terminated, truncated, infos)`` for all envs
    or the given subset. An env whose episode has ended repeats its last observation and flags
    with reward 0. A failed env answers ``("", 0.0, False, True, {"error": reason})`` (reset:
    ``("", {"error": reason})``) until it is reset.
    """

    def __init__(self, n: int, max_steps: int = 50, workers: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT, cached: bool = True, context: str = "forkserver"):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.n, self.max_steps, self.timeout, self.cached = n, max_steps, timeout, cached
        self.workers = max(1, min(n, workers or os.cpu_count() or 1))
        self._ctx = mp.get_context(context)
        self._conns: list = [None] * self.workers
        self._procs: list = [None] * self.workers
        self._ready = [False] * self.workers
        self._lost: dict[int, str] = {}  # env -> why its episode was lost
        self.restarts = 0
        for w in range(self.workers):
            self._start(w)

    def _start(self, w: int) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker, args=(child, self.max_steps, self.cached), daemon=True)
        proc.start()
        child.close()
        self._conns[w], self._procs[w], self._ready[w] = parent, proc, False

    def _await_ready(self, w: int) -> str | None:
        """Wait for worker ``w``'s start-up; the reason when it fails."""
        if self._ready[w]:
            return None
        try:
            if self._conns[w].poll(STARTUP_TIMEOUT) and self._conns[w].recv() == "ready":
                self._ready[w] = True
                return None
        except (EOFError, OSError):
            pass
        return f"worker {w} did not start (exit code {self._procs[w].exitcode})"

    def _restart(self, w: int, reason: str) -> None:
        proc = self._procs[w]
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=10)
        self._conns[w].close()
        self.restarts += 1
        for slot in range(w, self.n, self.workers):
            self._lost[slot] = reason
        self._start(w)

    def worker_pid(self, i: int) -> int:
        """Process id of the worker hosting env ``i``."""
        return self._procs[i % self.workers].pid

    def _call(self, cmd: str, items: list[tuple[int, object]]) -> dict[int, tuple[str, object]]:
        """Send each worker its envs' requests; collect ``{env: (status, payload)}``."""
        by_worker: dict[int, list] = {}
        for slot, arg in items:
            by_worker.setdefault(slot % self.workers, []).append((slot, arg))
        out: dict[int, tuple[str, object]] = {}
        failed: dict[int, str] = {}
        for w, batch in by_worker.items():
            failed_start = self._await_ready(w)
            if failed_start:
                failed[w] = failed_start
                continue
            try:
                self._conns[w].send((cmd, batch))
            except (BrokenPipeError, OSError) as err:
                failed[w] = f"worker {w} died before the call ({type(err).__name__})"
        deadline = time.monotonic() + self.timeout
        for w, batch in by_worker.items():
            if w in failed:
                continue
            conn = self._conns[w]
            try:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    failed[w] = f"worker {w} did not answer within {self.timeout:g} s"
                    continue
                for slot, status, payload in conn.recv():
                    out[slot] = (status, payload)
            except (EOFError, OSError) as err:
                self._procs[w].join(timeout=1)
                code = self._procs[w].exitcode
                failed[w] = f"worker {w} died (exit code {code}, {type(err).__name__})"
        for w, reason in failed.items():
            self._restart(w, reason)
            for slot, _ in by_worker[w]:
                out[slot] = ("error", reason)
        return out

    def reset(self, task_ids: list[str], seeds: list[int] | None = None,
              indices: list[int] | None = None):
        indices = list(range(self.n)) if indices is None else list(indices)
        if len(task_ids) != len(indices):
            raise ValueError(f"{len(task_ids)} task ids for {len(indices)} envs")
        seeds = [None] * len(indices) if seeds is None else list(seeds)
        if len(seeds) != len(indices):
            raise ValueError(f"{len(seeds)} seeds for {len(indices)} envs")
        for i in indices:
            self._lost.pop(i, None)
        results = self._call("reset", [(i, (str(t), s)) for i, t, s in zip(indices, task_ids, seeds)])
        obs, infos = [], []
        for i in indices:
            status, payload = results[i]
            if status == "ok":
                obs.append(payload[0])
                infos.append(payload[1])
            else:
                self._lost[i] = payload   # its steps fail the same way until the next reset
                obs.append("")
                infos.append({"error": payload})
        return obs, infos

    def step(self, actions: list[str], indices: list[int] | None = None):
        indices = list(range(self.n)) if indices is None else list(indices)
        if len(actions) != len(indices):
            raise ValueError(f"{len(actions)} actions for {len(indices)} envs")
        live = [(i, a) for i, a in zip(indices, actions) if i not in self._lost]
        results = self._call("step", live) if live else {}
        columns = ([], [], [], [], [])
        for i in indices:
            status, payload = results.get(i, ("error", self._lost.get(i)))
            if status != "ok":
                payload = ("", 0.0, False, True, {"error": payload})
            for column, value in zip(columns, payload):
                column.append(value)
        return columns

    def close(self) -> None:
        for conn, proc, ready in zip(self._conns, self._procs, self._ready):
            if proc is None:
                continue
            if proc.is_alive() and ready:
                try:
                    conn.send(("close", None))
                    if conn.poll(5):
                        conn.recv()
                except (BrokenPipeError, EOFError, OSError):
                    pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
            conn.close()
        self._conns, self._procs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
