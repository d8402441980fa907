"""Fault injection: a FIFO queue of faults per (provider, phase).

A fault is consumed by the next request of that provider in that phase whose processing reaches
the fault's *stage*:

* ``before``: transport-level, checked right after authentication, before validation
  (``status``, ``drop``, ``reset``, ``slow``; not paid).
* ``provider``: applied by the provider emulation once the request is valid
  (``content_refusal``, ``job_failed``, ``no_image`` on submit; ``expired``, ``unknown`` on poll).
* ``after``: applied to a successful (2xx) response, i.e. after the generation was accepted and
  paid (``malformed_json``, ``truncated_image``, ``wrong_content_type``, ``tamper``, ``garble``,
  the hostile ``trickle``, ``endless`` and ``huge``, and ``status``/``drop``/``reset`` when
  injected with ``after=True``). ``garble`` waits for the first answer whose JSON holds its field.
* ``image``: taken when the provider emulation makes an image (a paid generation): the file
  served for it, by URL or inline, is bad for good (``bomb``, ``wrong_size``, ``undecodable``).

``redirect`` (a ``before`` fault) answers with a redirect to the same path on the foreign origin
(foreign.py); ``tamper`` rewrites fields of a JSON answer (see handler.py).

Only the head of a queue is looked at, so faults fire in the order they were injected, and a
request consumes at most one fault.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

PROVIDERS = ("runware", "cloudflare", "pixeldojo", "recraft")
PHASES = ("submit", "poll", "download")

Stage = Literal["before", "provider", "after", "image"]

# fault name -> {param name: allowed types}
FAULT_PARAMS: dict[str, dict[str, tuple[type, ...]]] = {
    "status": {
        "status": (int,),
        "retry_after": (int, float),
        "code": (int, str),
        "message": (str,),
        "after": (bool,),
    },
    "drop": {"after": (bool,)},
    "reset": {"after": (bool,)},
    "slow": {"seconds": (int, float)},
    "malformed_json": {},
    "truncated_image": {},
    "wrong_content_type": {},
    "job_failed": {"code": (str,), "message": (str,), "paid": (bool,), "in_data": (bool,)},
    "expired": {},
    "unknown": {},
    "content_refusal": {"code": (int, str), "message": (str,), "at_submit": (bool,)},
    "no_image": {},
    "redirect": {"status": (int,)},
    "tamper": {"fields": (dict,)},
    "trickle": {"interval": (int, float), "seconds": (int, float), "headers": (bool,)},
    "endless": {"interval": (int, float), "seconds": (int, float), "chunk": (int,)},
    "huge": {"mb": (int, float), "declare": (bool,)},
    "bomb": {"side": (int,)},
    "wrong_size": {"width": (int,), "height": (int,)},
    "undecodable": {},
    "hostile_svg": {},
    "not_svg": {"body": (str,)},
    "garble": {"field": (str,), "value": (str, int, float, bool, list, dict, type(None))},
}
FAULTS = tuple(FAULT_PARAMS)
REDIRECTS = (301, 302, 303, 307, 308)

DEFAULT_PHASE = {
    "truncated_image": "download",
    "wrong_content_type": "download",
    "expired": "poll",
    "unknown": "poll",
}
_PROVIDER_STAGE = {"content_refusal", "job_failed", "expired", "unknown", "no_image"}
_AFTER_STAGE = {
    "malformed_json",
    "truncated_image",
    "wrong_content_type",
    "tamper",
    "trickle",
    "endless",
    "huge",
    "garble",
}
IMAGE_FAULTS = ("bomb", "wrong_size", "undecodable", "hostile_svg", "not_svg")


@dataclass
class Fault:
    provider: str
    kind: str
    on: str
    remaining: int | None  # None = never runs out
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> Stage:
        if self.kind in _PROVIDER_STAGE:
            return "provider"
        if self.kind in IMAGE_FAULTS:
            return "image"
        if self.kind in _AFTER_STAGE or self.params.get("after"):
            return "after"
        return "before"

    def describe(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "fault": self.kind,
            "on": self.on,
            "times": self.remaining,
            **self.params,
        }


def make_fault(
    provider: str, fault: str, times: int | None = 1, on: str | None = None, **params: Any
) -> Fault:
    """Validate arguments and build a Fault (raises ValueError on bad input)."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
    if fault not in FAULT_PARAMS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
    if fault == "no_image" and provider not in ("cloudflare", "recraft"):
        raise ValueError("fault 'no_image' is for the synchronous providers (cloudflare, recraft)")
    phase = on or DEFAULT_PHASE.get(fault, "submit")
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer or None (unlimited)")
    allowed = FAULT_PARAMS[fault]
    for name, value in params.items():
        if name not in allowed:
            raise ValueError(f"fault {fault!r} takes no parameter {name!r}")
        types = allowed[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"parameter {name!r} of fault {fault!r} has the wrong type")
    if fault == "status":
        status = params.setdefault("status", 500)
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
    if fault == "slow":
        params.setdefault("seconds", 1.0)
    if fault == "garble" and ("field" not in params or "value" not in params):
        raise ValueError("fault 'garble' needs a field and a value")
    if fault == "redirect" and params.setdefault("status", 302) not in REDIRECTS:
        raise ValueError(f"status must be a redirect ({', '.join(map(str, REDIRECTS))})")
    return Fault(provider, fault, phase, times, params)


class FaultQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], deque[Fault]] = {}

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queues.setdefault((fault.provider, fault.on), deque()).append(fault)

    def take(self, provider: str, phase: str, stage: Stage, accept: Any = None) -> Fault | None:
        """Consume one use of the head fault for (provider, phase) if it belongs to `stage`
        (and `accept(fault)`, when given, says this request is one it applies to)."""
        with self._lock:
            queue = self._queues.get((provider, phase))
            if not queue or queue[0].stage != stage:
                return None
            if accept is not None and not accept(queue[0]):
                return None
            fault = queue[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
            return fault

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for queue in self._queues.values() for fault in queue]

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
