"""The dial plan: when a dialled number is complete, and which dialled strings are feature codes.

A number is sent when the user presses ``#`` or pickup (the Phone does that), when the inter-digit timer
runs out (the Phone's deadline), or when it matches the digit map and cannot grow into a longer match.
Digit maps use the usual subset of RFC 3435 §2.1.5 / SIP phone digit maps: ``x`` any digit, ``[1-5]`` or
``[159]`` a set, ``.`` repeats the element before it zero or more times, anything else is literal
(``0``-``9``, ``*``, ``#``, ``A``-``D``). Example: ``("600", "1xx", "0[1-9]xxxxxxxx", "*xx")``.

Feature codes are exact strings (``*78``); the blind-transfer code is a prefix followed by the target.
Edit this module to change how dialled strings are read; the Phone's behaviour lives in machine.py.
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = "0123456789"


class DialPlanError(ValueError):
    """A digit map pattern or feature code that cannot be used (the message names it)."""


@dataclass(frozen=True)
class FeatureCodes:
    """Codes dialled off hook that act on the phone itself rather than calling someone ("" = off)."""

    redial: str = "*0"
    dnd_on: str = "*78"  # *78/*79: the common North American DND activation/deactivation codes
    dnd_off: str = "*79"
    dnd_toggle: str = "*76"
    blind_transfer: str = "*2"  # prefix: after flash (a call on hold), *2<number> transfers the held call

    def exact(self) -> dict[str, str]:
        """Exact-match codes → feature name."""
        out = {code: name for name, code in (("redial", self.redial), ("dnd_on", self.dnd_on),
                                             ("dnd_off", self.dnd_off), ("dnd_toggle", self.dnd_toggle)) if code}
        return out

    def validate(self) -> None:
        codes = [c for c in (self.redial, self.dnd_on, self.dnd_off, self.dnd_toggle, self.blind_transfer) if c]
        for code in codes:
            if any(ch not in "0123456789*#ABCD" for ch in code):
                raise DialPlanError(f"feature code {code!r} may only hold 0-9 * # A-D")
        if len(set(codes)) != len(codes):
            raise DialPlanError("two feature codes are the same")


# A pattern element: the set of characters it accepts, and whether it may repeat (".").
_Element = tuple[frozenset[str], bool]


def _compile(pattern: str) -> list[_Element]:
    out: list[_Element] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch in "xX":
            out.append((frozenset(DIGITS), False))
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise DialPlanError(f"digit map {pattern!r}: '[' without ']'")
            out.append((_char_set(pattern[i + 1 : end], pattern), False))
            i = end
        elif ch == ".":
            if not out or out[-1][1]:
                raise DialPlanError(f"digit map {pattern!r}: '.' must follow a digit, x or [set]")
            out[-1] = (out[-1][0], True)
        elif ch in "0123456789*#ABCD":
            out.append((frozenset(ch), False))
        else:
            raise DialPlanError(f"digit map {pattern!r}: unexpected {ch!r}")
        i += 1
    return out


def _char_set(body: str, pattern: str) -> frozenset[str]:
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if not (lo.isdigit() and hi.isdigit() and lo <= hi):
                raise DialPlanError(f"digit map {pattern!r}: bad range {body[i:i + 3]!r}")
            chars.update(str(d) for d in range(int(lo), int(hi) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    if not chars:
        raise DialPlanError(f"digit map {pattern!r}: empty set []")
    return frozenset(chars)


class DigitMap:
    """A compiled digit map: ``match(digits)`` says whether the digits are complete."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = ()) -> None:
        self.patterns = tuple(patterns)
        self._compiled = [_compile(p) for p in self.patterns]

    def _states(self, elements: list[_Element], digits: str) -> set[int]:
        states = self._closure(elements, {0})
        for ch in digits:
            nxt: set[int] = set()
            for s in states:
                if s < len(elements) and ch in elements[s][0]:
                    nxt.add(s if elements[s][1] else s + 1)
            states = self._closure(elements, nxt)
            if not states:
                break
        return states

    @staticmethod
    def _closure(elements: list[_Element], states: set[int]) -> set[int]:
        out = set(states)
        todo = list(states)
        while todo:
            s = todo.pop()
            if s < len(elements) and elements[s][1] and s + 1 not in out:
                out.add(s + 1)
                todo.append(s + 1)
        return out

    def match(self, digits: str) -> str:
        """``"complete"`` (a full match that cannot grow), ``"partial"`` (more digits could still match,
        possibly already a full match), or ``"none"``."""
        complete = partial = False
        for elements in self._compiled:
            states = self._states(elements, digits)
            if not states:
                continue
            full = len(elements) in states
            more = any(s < len(elements) for s in states)
            if more:
                partial = True
            elif full:
                complete = True
        if partial:
            return "partial"
        return "complete" if complete else "none"


@dataclass(frozen=True)
class Decision:
    """What to do with the digits dialled so far: ``action`` is "send", "feature" or "wait"."""

    action: str
    feature: str = ""
    argument: str = ""


class DialPlan:
    """Digit map + feature codes: ``decide(digits)`` while dialling, ``finish(digits)`` when sent."""

    def __init__(self, digit_map: tuple[str, ...] | list[str] = (), features: FeatureCodes | None = None) -> None:
        self.features = features or FeatureCodes()
        self.features.validate()
        self.map = DigitMap(digit_map)
        self._exact = self.features.exact()

    def _feature_prefix(self, digits: str) -> bool:
        return any(code != digits and code.startswith(digits) for code in self._exact)

    def decide(self, digits: str, *, held_call: bool = False) -> Decision:
        """Called after each digit: "feature"/"send" when the digits are already complete, else "wait"."""
        if digits in self._exact and not self._feature_prefix(digits):
            return Decision("feature", self._exact[digits])
        if held_call and self._blind_target(digits):
            return Decision("wait")  # the transfer target ends with # or the timer
        if self.map.match(digits) == "complete":
            return Decision("send")
        return Decision("wait")

    def finish(self, digits: str, *, held_call: bool = False) -> Decision:
        """Called when the user sends (``#``, pickup, timer): a feature, a blind transfer or a number."""
        if digits in self._exact:
            return Decision("feature", self._exact[digits])
        target = self._blind_target(digits)
        if held_call and target:
            return Decision("feature", "blind_transfer", target)
        return Decision("send")

    def _blind_target(self, digits: str) -> str:
        code = self.features.blind_transfer
        if code and digits.startswith(code) and len(digits) > len(code):
            return digits[len(code):]
        return ""
