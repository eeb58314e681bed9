"""The TextWorld engine as ALFWorld plays it, with its redundant work cached.

Where the time goes (bench/alfworld_games.py on the 2-core box): a step spends ~90% of its time
building the text of every admissible command, for which TextWorld re-parses each grammar rule
and query it derives with TatSu and deep-copies each derivation context (entity infos
included); a game load translates the PDDL to Fast Downward's SAS four times (for the state
`load` builds, again for the one `reset` builds, each with an "optimised" twin that only the
planner's `replan` reads) and parses the game's grammar.

`install_caches()` makes that work happen once per process:

* parsed grammar symbols are memoised (the caller gets a deep copy, since derivation writes
  contexts into them), and so are parsed queries (read-only);
* derivation contexts are copied shallowly: derivation only adds keys to their dicts;
* one SAS translation per (domain, problem) serves every state of that game, also where the
  optimised one was asked for (a valid translation of the same task; no plan is asked for);
* a game's parsed grammar (read-only once built) is shared by the envs of the process that
  load the same game (GRPO's groups, repeated evaluation), as is its translation.

Observations, admissible commands and rewards stay byte-identical to the uncached engine
(tests/test_alfworld_engine.py); only their cost changes.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

_INSTALLED = False
# Translations and grammars kept per process: one per game an env of it loaded recently.
_GAME_CACHE_SIZE = 16


def install_caches() -> None:
    """Memoise TextWorld's grammar/query parsing and the PDDL -> SAS translation (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    # lazy here and in make_engine: textworld costs ~1.4 s at import, paid only where games
    # are played (game generation and task listing import this module too)
    import fast_downward
    import textworld.envs.pddl.logic as pddl_logic
    import textworld.envs.pddl.textgen as textgen
    import textworld.logic as tw_logic

    parse_symbols = textgen._parse_and_convert
    symbols: dict = {}

    def cached_symbols(text, rule_name, **kwargs):
        key = (text, rule_name)
        if key not in symbols:
            symbols[key] = parse_symbols(text, rule_name=rule_name, **kwargs)
        return copy.deepcopy(symbols[key])

    parse_query = tw_logic.Rule.parse_conjunctive_query.__func__
    queries: dict = {}

    def cached_query(cls, expr):
        if expr not in queries:
            queries[expr] = parse_query(cls, expr)
        return queries[expr]

    def lru(fn, key_of):
        """``fn`` remembering its last `_GAME_CACHE_SIZE` results (one per recent game)."""
        results: OrderedDict = OrderedDict()

        def cached(*args, **kwargs):
            key = key_of(*args, **kwargs)
            if key not in results:
                results[key] = fn(*args, **kwargs)
                if len(results) > _GAME_CACHE_SIZE:
                    results.popitem(last=False)
            results.move_to_end(key)
            return results[key]
        return cached

    translate = fast_downward.pddl2sas
    cached_translation = lru(
        lambda domain, problem, verbose=False, optimize=False: translate(domain, problem, verbose=verbose),
        lambda domain, problem, verbose=False, optimize=False: (domain, problem))
    # A game's grammar (its actions and text rules, read-only once parsed), for envs of this
    # process that load the same game again (GRPO's group of rollouts, repeated evaluation).
    cached_logic = lru(pddl_logic._parse_and_convert, lambda text, rule_name: (text, rule_name))

    def shallow_context(context):
        # TextWorld deep-copies the variables and mapping of every derivation context, entity
        # infos included; derivation only adds keys to these dicts and reads the entities.
        return {"state": context["state"], "facts": context["facts"],
                "variables": dict(context["variables"]), "mapping": dict(context["mapping"]),
                "entity_infos": context["entity_infos"]}

    textgen._parse_and_convert = cached_symbols
    textgen.copy_context = shallow_context
    pddl_logic._parse_and_convert = cached_logic
    tw_logic.Rule.parse_conjunctive_query = classmethod(cached_query)
    fast_downward.pddl2sas = cached_translation
    _INSTALLED = True


def make_engine(cached: bool = True):
    """TextWorld's PDDL env wrapped as ALFWorld's `AlfredTWEnv` wraps it (object names such as
    "apple 1", the game file in the infos), asking for the admissible commands every step."""
    if cached:
        install_caches()
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs.pddl import PddlEnv

    infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    return AlfredInfos(AlfredDemangler(PddlEnv(infos)))
