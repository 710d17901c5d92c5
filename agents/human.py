"""The human seat: agent type ``human``, whose decisions come from outside the program.

The agent is an ordinary agent for the runner (``govsim run --agents 'human,sustainable*4'``
needs nothing else). When its seat acts, it builds a ``Request``: what the seat sees
(``View``: the observation's text, the mayor's report, the talk it heard, the summary, the
numbers) and the phase's question as a list of ``Field``s, one per action key the phase
reads. It hands the request to its *channel* and awaits the answer; an answer that does
not fit (not a number, out of range, an empty utterance, a name it may not give) is asked
again with the one-line reason in ``Request.error``, never replaced by a default.

=============  ===========================================================================
phase          fields asked (action keys)
=============  ===========================================================================
harvest        ``harvest``: a whole number from 0 to the stock
discussion     ``utterance`` (not empty), ``end_conversation`` (yes/no), ``next_speaker``
               (one of ``info["names"]``; not asked when the talk ends)
summary        ``summary`` (not empty), ``agreed_limit`` (0 to capacity, or "none")
reflection     ``reflection`` (may be empty: the seat may say nothing)
agenda         ``agenda_limit`` (0 to capacity, or "none"), ``agenda`` (not empty)
vote           ``vote`` (one of the candidates who stated an agenda; none stand: not asked)
sanction       ``sanction`` (none, one or more of ``info["sanctionable"]``, comma-separated;
               nobody to fine: not asked, nobody fined)
=============  ===========================================================================

Channels (``params.channel``):

- ``terminal`` (the default): prints the view and asks field by field on stdin; ``/quit``
  or end of input leaves the seat.
- ``files`` (``params.folder``): the browser's. The request is ``request.json`` in the
  folder, the front-end writes ``answer.json`` with the request's id (both atomically);
  ``view.json`` holds what the seat saw last while others act. ``pending``, ``answer``
  and ``leave`` are the front-end's side. Any process, any browser tab, can answer.

A channel is any object with ``async ask(request) -> values`` and ``show(view)``;
``register_channel`` adds one. Leaving the seat raises ``SeatLeft``: the run stops where
it is, unfinished, and running it again resumes from the start of the month (the runner's
checkpoint), asking the person again.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

from pydantic import field_validator

from agents.base import Agent, AgentContext
from agents.params import AgentParams
from govsim.institutions.election import AGENDA, AGENDA_LIMIT, VOTE
from govsim.institutions.sanctions import SANCTION, amount_text
from govsim.phases import (
    AGREED_LIMIT,
    END_CONVERSATION,
    HARVEST,
    NEXT_SPEAKER,
    NO_LIMIT,
    REFLECTION,
    SUMMARY,
    UTTERANCE,
    Phase,
)
from govsim.runlog import write_json_atomic
from govsim.strict import Strict
from govsim.wording import listing

MAX_TEXT = 2000  # characters of an utterance, summary or reflection (commons_v0 cuts longer ones)
NO_LIMIT_WORDS = ("none", "no limit", "n/a", "-1")
YES, NO = ("y", "yes", "true", "1"), ("n", "no", "false", "0")
NOBODY = ("none", "nobody", "no one", "-")
QUIT = "/quit"


class Invalid(ValueError):
    """An answer that does not fit its field; the message is the one line shown when asking again."""


class SeatLeft(BaseException):
    """The person left the seat. A BaseException, so the runner does not record it as the
    agent's error and carry on: the run stops unfinished (resumable)."""


class _Model(Strict, frozen=True):
    """The seat's messages (requests, views, fields): unknown keys refused, read-only."""


class Field(_Model):
    """One action key the phase asks for, and how an answer to it is read."""

    key: str
    kind: Literal["amount", "text", "flag", "name", "names"]
    label: str
    low: int = 0
    high: int = 0
    no_limit: bool = False  # an amount that may be "none" (NO_LIMIT)
    optional: bool = False  # a text that may be empty
    choices: list[str] = []  # the names a "name" or "names" field takes
    unless: str | None = None  # a flag's key: when it is yes, this field is not asked

    def hint(self) -> str:
        """What the field takes, in a few words (shown beside the prompt)."""
        if self.kind == "amount":
            return f"{self.low}-{self.high}" + (", or none" if self.no_limit else "")
        if self.kind == "flag":
            return "y/n"
        if self.kind in ("name", "names"):
            numbered = ", ".join(f"{i}: {n}" for i, n in enumerate(self.choices, start=1))
            return numbered + ("; several comma-separated, Enter for nobody" if self.kind == "names" else "")
        return "Enter to say nothing" if self.optional else f"at most {MAX_TEXT} characters"

    def read(self, raw: Any) -> Any:
        """The answer as the action's value, or ``Invalid`` saying what was wrong and what it takes."""
        return getattr(self, f"_read_{self.kind}")(raw.strip() if isinstance(raw, str) else raw)

    def _read_amount(self, raw: Any) -> int:
        takes = f"a whole number from {self.low} to {self.high}" + (" or none" if self.no_limit else "")
        if raw is None or raw == "":
            raise Invalid(f"{self.key}: give {takes}")
        if self.no_limit and isinstance(raw, str) and raw.lower() in NO_LIMIT_WORDS:
            return NO_LIMIT
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise Invalid(f"{self.key}: {raw!r:.40} is not a whole number; give {takes}")
        try:
            number = int(raw)
        except ValueError:
            raise Invalid(f"{self.key}: {raw!r:.40} is not a whole number; give {takes}") from None
        if self.no_limit and number == NO_LIMIT:
            return NO_LIMIT
        if not self.low <= number <= self.high:
            raise Invalid(f"{self.key}: {number} is out of range; give {takes}")
        return number

    def _read_text(self, raw: Any) -> str:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise Invalid(f"{self.key}: give text, not a {type(raw).__name__}")
        if not raw and not self.optional:
            raise Invalid(f"{self.key}: say something; it may not be empty")
        if len(raw) > MAX_TEXT:
            raise Invalid(f"{self.key}: {len(raw)} characters is too long; say it in at most {MAX_TEXT}")
        return raw

    def _read_flag(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        text = str(raw).lower() if isinstance(raw, str) else None
        if text in YES or text in NO:
            return text in YES
        raise Invalid(f"{self.key}: answer yes or no" + (f" (got {raw!r:.40})" if raw not in (None, "") else ""))

    def _read_name(self, raw: Any) -> str:
        takes = "; choose one of " + ", ".join(self.choices)
        if raw is None or raw == "":
            raise Invalid(f"{self.key}: name {self.label.rstrip('?')}{takes}")
        if isinstance(raw, str):
            for name in self.choices:
                if raw.lower() == name.lower():
                    return name
            if raw.isdecimal() and 1 <= int(raw) <= len(self.choices):
                return self.choices[int(raw) - 1]
        raise Invalid(f"{self.key}: {raw!r:.40} is not someone you may name{takes}")

    def _read_names(self, raw: Any) -> list[str]:
        """None, one or several of ``choices`` (names or their numbers, comma-separated, or a list), each once."""
        if raw is None or raw == "" or (isinstance(raw, str) and raw.lower() in NOBODY):
            return []
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise Invalid(f"{self.key}: give names, not a {type(raw).__name__}; choose from " + ", ".join(self.choices))
        names = [self._read_name(item.strip() if isinstance(item, str) else item) for item in items if item != ""]
        return list(dict.fromkeys(names))


class Turn(_Model):
    speaker: str
    text: str


class View(_Model):
    """What the seat sees at a step: the observation's numbers and texts, and the talk it heard."""

    agent: str
    month: int
    phase: str
    date: str
    acting: bool
    stock: int
    wanted: int
    caught: int
    agreed_limit: int  # NO_LIMIT (-1): none agreed
    threshold: int | None = None  # the universalization hint, when the experiment gives it
    present: list[str]
    text: str  # the observation's text: everything the seat may see, in the scenario's words
    report: str  # the mayor's report (empty before the talk)
    conversation: list[Turn]  # the turns this seat heard
    summary: str

    @classmethod
    def of(cls, name: str, observation: Mapping[str, Any], info: Mapping[str, Any]) -> View:
        threshold = int(observation["threshold"][0])
        return cls(
            agent=name, month=int(info["month"]), phase=str(info["phase"]), date=str(info["date"]),
            acting=bool(info["acting"]), stock=int(observation["stock"][0]), wanted=int(observation["wanted"][0]),
            caught=int(observation["caught"][0]), agreed_limit=int(observation["agreed_limit"][0]),
            threshold=None if threshold < 0 else threshold, present=list(info["present"]),
            text=str(observation["text"]), report=str(observation["report"]),
            conversation=[Turn(speaker=t["speaker"], text=t["text"]) for t in info["conversation"]],
            summary=str(info.get("summary") or ""),
        )


class Request(_Model):
    """One question to the person: what the seat sees, what is asked, and why it is asked again."""

    id: str
    view: View
    question: str
    fields: list[Field]
    error: str | None = None  # the reason the previous answer was refused

    @field_validator("fields")
    @classmethod
    def _some(cls, fields: list[Field]) -> list[Field]:
        if not fields:
            raise ValueError("a request asks at least one field")
        return fields


def read_answer(fields: list[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every asked field's value (``Invalid`` for the first that does not fit); a field whose
    ``unless`` flag is yes is not read."""
    out: dict[str, Any] = {}
    for field in fields:
        if field.unless is not None and out.get(field.unless):
            continue
        out[field.key] = field.read(values.get(field.key))
    return out


def questions(ctx: AgentContext, observation: Mapping[str, Any], info: Mapping[str, Any]) -> tuple[str, list[Field]]:
    """The phase's question and its fields, in the scenario's words; no fields when there is
    nothing to ask (a vote where nobody stands, a sanction where nobody may be fined)."""
    v = ctx.scenario.vocabulary
    phase = Phase(int(observation["phase"]))
    if phase == Phase.HARVEST:
        stock = int(observation["stock"][0])
        return (
            f"Month {info['month']}: {stock} {v.unit} of {v.resource} are in {v.place}. How many {v.unit} do you {v.verb}?",
            [Field(key=HARVEST, kind="amount", label=f"{v.unit} to {v.verb}", low=0, high=stock)],
        )
    if phase == Phase.DISCUSSION:
        names = list(info["names"])
        fields = [
            Field(key=UTTERANCE, kind="text", label="what you say"),
            Field(key=END_CONVERSATION, kind="flag", label="end the talk after you speak?"),
        ]
        if names:
            fields.append(Field(key=NEXT_SPEAKER, kind="name", label="who speaks next?", choices=names,
                                unless=END_CONVERSATION))
        return f"Your turn to speak at the meeting of the {v.harvesters}.", fields
    if phase == Phase.SUMMARY:
        return (
            "You are the scribe: sum the talk up in one sentence and name the per-person limit it agreed on "
            "(none if it agreed on none).",
            [
                Field(key=SUMMARY, kind="text", label="the summary"),
                Field(key=AGREED_LIMIT, kind="amount", label=f"agreed limit ({v.unit} per {v.harvester})", low=0,
                      high=ctx.config.capacity, no_limit=True),
            ],
        )
    if phase == Phase.REFLECTION:
        return (
            "The month is over. What did you learn from it? (You may say nothing.)",
            [Field(key=REFLECTION, kind="text", label="your reflection", optional=True)],
        )
    if phase == Phase.AGENDA:
        return (
            f"You stand in the election of the {v.harvesters}: name the per-person limit you would set "
            "(none if you would set none) and say in one sentence why they should vote for you.",
            [
                Field(key=AGENDA_LIMIT, kind="amount", label=f"your limit ({v.unit} per {v.harvester})", low=0,
                      high=ctx.config.capacity, no_limit=True),
                Field(key=AGENDA, kind="text", label="your sentence to the voters"),
            ],
        )
    if phase == Phase.VOTE:
        candidates = [a["candidate"] for a in info["agendas"]]
        fields = [Field(key=VOTE, kind="name", label="whom you vote for", choices=candidates)] if candidates else []
        return f"Vote for one of the candidates: {listing(candidates)}.", fields
    if phase == Phase.SANCTION:
        catches = dict(info["sanction_catches"])
        caught = "; ".join(f"{name} caught {amount} {v.unit}" for name, amount in catches.items())
        return (
            f"{caught}: over the limit of {info['sanction_limit']}. Each fine costs you "
            f"{amount_text(info['sanction_cost'])} and takes {amount_text(info['sanction_fine'])} from the one fined. "
            "Whom do you fine?",
            [Field(key=SANCTION, kind="names", label="whom you fine", choices=list(catches))] if catches else [],
        )
    raise RuntimeError(f"the human seat has no question for phase {phase.label!r}")


# ---------------------------------------------------------------------------- channels


class Channel(Protocol):
    async def ask(self, request: Request) -> Mapping[str, Any]:
        """The person's answer to the request: raw values by action key."""

    def show(self, view: View) -> None:
        """What the seat sees while others act (a channel may ignore it)."""


ChannelFactory = Callable[["HumanParams", AgentContext], Channel]
CHANNELS: dict[str, ChannelFactory] = {}


def register_channel(name: str) -> Callable[[ChannelFactory], ChannelFactory]:
    def deco(factory: ChannelFactory) -> ChannelFactory:
        CHANNELS[name] = factory
        return factory

    return deco


async def read_line(stream: TextIO) -> str:
    """One line of ``stream`` without blocking the event loop (the LLM seats keep going);
    read on a daemon thread so a person who never answers cannot keep the process alive."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def reader() -> None:
        try:
            line = stream.readline()
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, line, None)

    threading.Thread(target=reader, daemon=True, name="human-seat-stdin").start()
    return await future


def _settle(future: asyncio.Future, value: Any, exc: BaseException | None) -> None:
    if not future.done():
        future.set_exception(exc) if exc is not None else future.set_result(value)


class TerminalChannel:
    """Prints the seat's view and asks field by field; a bad answer is asked again at once."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin, self.stdout = stdin, stdout  # None: sys.stdin/stdout when asked (tests replace them)

    def _say(self, text: str) -> None:
        out = self.stdout or sys.stdout
        out.write(text + "\n")
        out.flush()

    async def ask(self, request: Request) -> dict[str, Any]:
        view = request.view
        if request.error is None:
            self._say(f"\n== {view.agent} · month {view.month} · {view.phase} · {view.date} ==")
            self._say(view.text or "(nothing to see yet)")
            self._say(f"? {request.question}   ({QUIT} leaves the seat)")
        else:
            self._say(f"! {request.error}")
        values: dict[str, Any] = {}
        for field in request.fields:
            if field.unless is not None and values.get(field.unless):
                continue
            while True:
                out = self.stdout or sys.stdout
                out.write(f"{field.label} [{field.hint()}]: ")
                out.flush()
                line = await read_line(self.stdin or sys.stdin)
                if not line or line.strip() == QUIT:
                    raise SeatLeft(f"{view.agent} left the seat in month {view.month} ({view.phase})")
                try:
                    values[field.key] = field.read(line.rstrip("\n"))
                    break
                except Invalid as exc:
                    self._say(f"! {exc}")
        return values

    def show(self, view: View) -> None:
        pass  # the next question prints everything the seat saw meanwhile


REQUEST_FILE, ANSWER_FILE, VIEW_FILE = "request.json", "answer.json", "view.json"
POLL_S = 0.2


class FileChannel:
    """The request, the answer and the latest view as JSON files in one folder."""

    def __init__(self, folder: str | Path, poll_s: float = POLL_S) -> None:
        self.folder = Path(folder)
        self.poll_s = poll_s

    async def ask(self, request: Request) -> Mapping[str, Any]:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / ANSWER_FILE).unlink(missing_ok=True)  # an answer to an earlier request
        write_json_atomic(self.folder / REQUEST_FILE, {**request.model_dump(mode="json"), "pid": os.getpid()})
        while True:
            got = _read_json(self.folder / ANSWER_FILE)
            if got is not None and got.get("id") == request.id:
                (self.folder / REQUEST_FILE).unlink(missing_ok=True)
                (self.folder / ANSWER_FILE).unlink(missing_ok=True)
                if got.get("leave"):
                    raise SeatLeft(f"{request.view.agent} left the seat in month {request.view.month}")
                values = got.get("values")
                return values if isinstance(values, dict) else {}
            await asyncio.sleep(self.poll_s)

    def show(self, view: View) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / VIEW_FILE, view.model_dump(mode="json"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pending(folder: str | Path) -> tuple[Request, int | None] | None:
    """The request waiting in a files channel's folder and the pid of the process asking, or None."""
    data = _read_json(Path(folder) / REQUEST_FILE)
    if data is None:
        return None
    pid = data.pop("pid", None)
    try:
        return Request.model_validate(data), pid if isinstance(pid, int) else None
    except ValueError:
        return None


def last_view(folder: str | Path) -> View | None:
    data = _read_json(Path(folder) / VIEW_FILE)
    try:
        return View.model_validate(data) if data is not None else None
    except ValueError:
        return None


def answer(folder: str | Path, request_id: str, values: Mapping[str, Any]) -> bool:
    """Answer the pending request; False (nothing written) when it is no longer the one pending."""
    return _reply(Path(folder), request_id, {"values": dict(values)})


def leave(folder: str | Path, request_id: str) -> bool:
    """Leave the seat at the pending request: the run stops unfinished (resumable)."""
    return _reply(Path(folder), request_id, {"leave": True})


def _reply(folder: Path, request_id: str, body: dict[str, Any]) -> bool:
    now = pending(folder)
    if now is None or now[0].id != request_id:
        return False
    write_json_atomic(folder / ANSWER_FILE, {"id": request_id, **body})
    return True


# ---------------------------------------------------------------------------- the agent


class HumanParams(AgentParams):
    channel: str = "terminal"
    folder: str | None = None  # the files channel's folder

    @field_validator("channel")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in CHANNELS:
            raise ValueError(f"unknown channel {name!r}; known: {', '.join(sorted(CHANNELS))}")
        return name


@register_channel("terminal")
def _terminal(params: HumanParams, ctx: AgentContext) -> Channel:
    return TerminalChannel()


@register_channel("files")
def _files(params: HumanParams, ctx: AgentContext) -> Channel:
    if not params.folder:
        raise ValueError(f"agent {ctx.name}: channel 'files' needs params.folder (where requests and answers go)")
    return FileChannel(params.folder)


class HumanAgent(Agent):
    """A seat played by a person through a channel (see the module docstring)."""

    Params = HumanParams
    params: HumanParams

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.channel = CHANNELS[self.params.channel](self.params, ctx)

    async def act(self, observation: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        view = View.of(self.name, observation, info)
        if not info["acting"]:
            self.channel.show(view)
            return {}
        question, fields = questions(self.ctx, observation, info)
        if not fields:  # nobody stands (the env records the missing vote), nobody to fine
            self.channel.show(view)
            return {SANCTION: []} if Phase(int(observation["phase"])) == Phase.SANCTION else {}
        error = None
        while True:
            request = Request(id=uuid.uuid4().hex[:12], view=view, question=question, fields=fields, error=error)
            try:
                return self._action(read_answer(fields, await self.channel.ask(request)))
            except Invalid as exc:
                error = str(exc)

    def _action(self, values: dict[str, Any]) -> dict[str, Any]:
        """Read values in the action space's own forms: a flag as 0/1; names (the next speaker,
        the vote, those fined) as given, which the env's seat spaces take (``envs/spaces.py``)."""
        if END_CONVERSATION in values:
            values[END_CONVERSATION] = int(values[END_CONVERSATION])
        return values
