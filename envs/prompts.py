"""The one chat format every stage uses: data generation, SFT, rollouts and evaluation.

A trajectory is a multi-turn chat:

* ``system``: the agent's role in the environment and the required output format;
* ``user``: the first one states the task and the first observation; later ones carry the
  observation that followed the previous action. Only the latest user turn lists the
  admissible actions (older turns keep just their observation, so that long episodes fit the
  token budget: ALFWorld rooms have 30-60 admissible commands per step);
* ``assistant``: ``<action>...</action>``, optionally preceded by ``<think>...</think>``.

Action parsing follows verl-agent: the text between the first ``<action>`` and the following
``</action>``, stripped and lower-cased; missing tags make the step invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENVS = ("alfworld", "webshop")

_ROLES = {
    "alfworld": (
        "You are a household robot in ALFWorld, a text simulation of a home. You move between "
        "receptacles (tables, cabinets, fridges, ...), open and close them, pick up and put "
        "down objects, and use appliances: a microwave to heat, a fridge to cool, a sink to "
        "clean, a lamp to look at something in its light. You can hold one object at a time. "
        "Complete the task you are given in as few steps as you can."
    ),
    "webshop": (
        "You are a shopping assistant on WebShop, a simulated online store. Find the product "
        "that best matches the customer's instruction (type, attributes, options such as size "
        "or color, and the price limit), select its options and buy it. Use search[keywords] "
        "where a search box is offered and click[element] on the buttons and links shown on "
        "the page."
    ),
}

_FORMAT = (
    "Each turn you see the result of your last action; the latest turn also lists the actions "
    "available now. Answer with exactly one of them, written inside <action></action>, for "
    "example {example}."
)
_FORMAT_THINK = (
    "Each turn you see the result of your last action; the latest turn also lists the actions "
    "available now. First reason briefly about what to do inside <think></think>, then answer "
    "with exactly one of the available actions inside <action></action>, for example "
    "<think>...</think>\n{example}."
)
_EXAMPLES = {"alfworld": "<action>go to countertop 1</action>",
             "webshop": "<action>click[buy now]</action>"}


def _check_env(env: str) -> None:
    if env not in ENVS:
        raise ValueError(f"unknown environment {env!r}: expected one of {', '.join(ENVS)}")


def system_prompt(env: str, think: bool = False) -> str:
    """The system message for ``env`` ("alfworld" | "webshop"): role and output format.

    With ``think=True`` the model is asked to reason inside ``<think></think>`` before the
    ``<action></action>`` part.
    """
    _check_env(env)
    fmt = _FORMAT_THINK if think else _FORMAT
    return f"{_ROLES[env]}\n\n{fmt.format(example=_EXAMPLES[env])}"


def format_response(action: str, think: str | None = None) -> str:
    """An assistant turn: ``<action>go to fridge 1</action>``, with ``<think>..</think>\\n`` first
    when ``think`` is given."""
    body = f"<action>{action}</action>"
    return body if think is None else f"<think>{think}</think>\n{body}"


def _well_formed_think(text: str, action_start: int) -> bool:
    """One ``<think>`` followed by one ``</think>``, both before the action."""
    if text.count("<think>") != 1 or text.count("</think>") != 1:
        return False
    start, end = text.find("<think>"), text.find("</think>")
    return start < end <= action_start


def parse_action(text: str, require_think: bool = False) -> tuple[str, bool]:
    """Extract the action from a model response with verl-agent's rules.

    Returns ``(action, valid)``: ``action`` is the text between the first ``<action>`` and the
    ``</action>`` after it, stripped and lower-cased. Invalid steps (``valid=False``): a tag is
    missing (action ``""``), the action is empty, a ``<think>`` part is present but malformed
    (not exactly one ``<think>`` then one ``</think>`` before the action), or
    ``require_think`` is set and there is no ``<think>`` part (verl-agent's rule when the model
    is asked to reason).
    """
    start = text.find("<action>")
    end = text.find("</action>", start + len("<action>")) if start >= 0 else -1
    if start < 0 or end < 0:
        return "", False
    action = text[start + len("<action>"):end].strip().lower()
    valid = bool(action)
    if require_think or "<think>" in text or "</think>" in text:
        valid = valid and _well_formed_think(text, start)
    return action, valid


def _admissible_block(admissible: list[str]) -> str:
    lines = "\n".join(admissible)
    return f"Available actions:\n{lines}\n\nReply with one of them inside <action></action>."


@dataclass
class _Turn:
    observation: str
    admissible: list[str]
    response: str | None = None


@dataclass
class Conversation:
    """A growing agent-environment chat.

    ``messages`` is the prompt for the next step: ``[system, user, assistant, user, ...,
    user]``; the first user turn holds the task and the first observation, and only the last
    user turn lists the admissible actions. ``add_step`` appends the model's response and the
    environment's answer to it. ``to_record`` gives the finished trajectory for training.
    """

    env: str
    task: str
    observation: str
    admissible: list[str]
    think: bool = False
    _turns: list[_Turn] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_env(self.env)
        self._turns = [_Turn(self.observation, list(self.admissible))]

    def add_step(self, response: str, observation: str, admissible: list[str]) -> None:
        """Record the assistant ``response`` to the latest prompt and the next observation."""
        self._turns[-1].response = response
        self._turns.append(_Turn(observation, list(admissible)))

    @property
    def n_steps(self) -> int:
        """Number of assistant responses so far."""
        return len(self._turns) - 1

    def _user_text(self, i: int, with_actions: bool) -> str:
        turn = self._turns[i]
        text = f"Task: {self.task}\n\nObservation:\n{turn.observation}" if i == 0 else (
            f"Observation:\n{turn.observation}")
        if with_actions and turn.admissible:
            text = f"{text}\n\n{_admissible_block(turn.admissible)}"
        return text

    def _render(self, n_turns: int) -> list[dict]:
        """System message and the first ``n_turns`` user turns with their responses."""
        out = [{"role": "system", "content": system_prompt(self.env, self.think)}]
        for i in range(n_turns):
            out.append({"role": "user", "content": self._user_text(i, i == n_turns - 1)})
            if self._turns[i].response is not None:
                out.append({"role": "assistant", "content": self._turns[i].response})
        return out

    @property
    def messages(self) -> list[dict]:
        """The prompt for the next step, ending with the latest user turn (a fresh list)."""
        return self._render(len(self._turns))

    def to_turns(self) -> list[dict]:
        """The raw steps, JSON-ready: ``[{"observation", "admissible", "response"}, ...]``, one per
        user turn; the last one's ``response`` is None when the episode ended after an action.

        With ``task`` and ``think`` this rebuilds the conversation (`from_turns`), including the
        admissible lists that `to_record` drops from all but the last user turn.
        """
        return [{"observation": t.observation, "admissible": list(t.admissible),
                 "response": t.response} for t in self._turns]

    @classmethod
    def from_turns(cls, env: str, task: str, turns: list[dict], think: bool = False) -> "Conversation":
        """The conversation whose `to_turns()` is ``turns``."""
        if not turns:
            raise ValueError("a conversation needs at least its first turn")
        conv = cls(env, task, turns[0]["observation"], turns[0]["admissible"], think=think)
        for prev, turn in zip(turns, turns[1:]):
            if prev.get("response") is None:
                raise ValueError("only the last turn may lack a response")
            conv.add_step(prev["response"], turn["observation"], turn["admissible"])
        if turns[-1].get("response") is not None:
            conv._turns[-1].response = turns[-1]["response"]
        return conv

    def step_chats(self) -> list[list[dict]]:
        """One chat per step that has a response: the exact prompt the policy saw at that step
        (`messages` at the time, its latest user turn listing the admissible actions) followed by
        the response. Training on the last assistant turn of each reproduces the inference format.
        """
        return [self._render(i + 1) for i, t in enumerate(self._turns) if t.response is not None]

    def record_fields(self) -> dict:
        """The trajectory-schema keys of a finished episode: ``messages`` (`to_record`), and
        ``task``, ``think`` and ``turns`` (`to_turns`), from which `prism_jax.data.expand_steps`
        rebuilds the per-step prompts for SFT."""
        return {"messages": self.to_record(), "task": self.task, "think": self.think,
                "turns": self.to_turns()}

    def to_record(self) -> list[dict]:
        """The finished trajectory: every assistant turn, ending with the last one.

        The observation after the final action (nothing was asked of the model there) is left
        out, so the last user turn is the prompt of the final action and keeps its admissible
        list, exactly as the model saw it. Without any step, it is the opening prompt.
        """
        return self._render(max(1, self.n_steps))
