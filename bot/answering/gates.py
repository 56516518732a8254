"""Cheap preconditions of regular expressions: characters a text must contain for a pattern to
match anywhere in it, read off the pattern itself (used by urgency.py to skip patterns that
cannot match a message)."""
from __future__ import annotations

import re
import re._constants as C   # the parse tree of a pattern, read by gate_of
import re._parser as P
from dataclasses import dataclass
from functools import lru_cache

# urgency.py's rules run some seventy patterns over every message, and almost all of them find
# nothing. Most need characters a message usually lacks: ``被骗了|上当了|…`` cannot match
# a text without 骗 or 当. ``gate_of`` derives such a necessary condition from the pattern's parse
# tree, once per pattern; ``Gate.admits(set(text))`` is then a set operation or two instead of a
# scan of the text, and a pattern whose gate does not admit the text is not run at all. The gate
# is only ever necessary, never sufficient: what the pattern matches where it runs is unchanged.
#
# Derivation (``re._parser``'s tree; the parser ships with CPython and ``sre_parse`` is its
# deprecated alias): a literal needs its character; a set of a few characters ``[转汇付]`` needs
# one of them; a sequence needs what each of its parts needs; a repeat needs what its body needs if
# it must occur at least once; a group or a positive lookaround needs what its body needs (a
# lookaround reads the text too); an alternation needs one of the characters its alternatives
# need, one from each (the rarest, by jieba's character frequencies, so the union stays rare);
# the first alternation a pattern cannot do without also keeps each alternative's own gate
# (``any_of``: one of them must admit the text). Everything else (``.``, ``[^…]``, ``\d``, a
# negative lookaround, a case-insensitive part) needs nothing. Compiled together for all the
# tables' patterns: ``Gates``, used by urgency.py's ``_gates``.

_GATE_MAX_SET = 64     # a character class larger than this (a range such as [一-龥]) needs nothing
_GATE_MAX_CLAUSES = 3  # one-of-these conditions kept per pattern, the rarest first


@dataclass(frozen=True)
class Gate:
    """A text can match only if it contains every character of ``every`` and at least one
    character of each set in ``some``."""
    every: frozenset = frozenset()
    some: tuple[frozenset, ...] = ()
    any_of: tuple["Gate", ...] = ()   # a pattern a|b|c: the gates of a, b and c (one admits)

    def admits(self, chars: set | frozenset) -> bool:
        """May the pattern match a text whose characters are ``chars``?"""
        if not self.every <= chars:
            return False
        for one_of in self.some:
            if chars.isdisjoint(one_of):
                return False
        if self.any_of:
            return any(alternative.admits(chars) for alternative in self.any_of)
        return True


class Gates:
    """Gates of many patterns compiled together for speed: a text's characters become one
    integer (a bit per character some gate names: ``mask``), and ``admitted(mask)`` is a tuple
    with a value per gate, true when ``gates[i].admits`` the same text, from one generated
    expression (a call per gate costs as much as the test; ``itertools.compress`` reads the
    tuple)."""

    def __init__(self, gates: list[Gate]):
        self.gates = list(gates)
        named = sorted({c for g in self.gates for c in _characters(g)})
        self.bit = {c: 1 << i for i, c in enumerate(named)}
        self._named = frozenset(named)
        self.admitted = eval(   # noqa: S307 - an expression of our own integers only
            "lambda m: (" + "".join(f"{self._expression(g)}, " for g in self.gates) + ")")

    def mask(self, text: str) -> int:
        """The bits of the characters of ``text`` that some gate names."""
        return sum(map(self.bit.__getitem__, self._named.intersection(text)))

    def _expression(self, gate: Gate) -> str:
        expression = self._condition(gate)
        if gate.any_of:
            expression += " and (" + " or ".join(
                f"({self._condition(a)})" for a in gate.any_of) + ")"
        return f"({expression})"

    def _condition(self, gate: Gate) -> str:
        parts = []
        if gate.every:
            every = self._bits(gate.every)
            parts.append(f"(m & {every}) == {every}")
        parts += [f"m & {self._bits(s)}" for s in gate.some]
        return " and ".join(parts) or "True"

    def _bits(self, chars) -> int:
        return sum(self.bit[c] for c in chars)


def _characters(gate: Gate) -> set:
    out = set(gate.every).union(*gate.some)
    for alternative in gate.any_of:
        out |= _characters(alternative)
    return out


def gate_of(pattern: re.Pattern, frequency=None) -> Gate:
    """The gate of a compiled pattern. ``frequency``: a character's commonness (higher is more
    common), which picks the rarest character of each alternative; default jieba's."""
    frequency = frequency or _jieba_frequency()
    if pattern.flags & re.IGNORECASE:
        return Gate()
    tree = P.parse(pattern.pattern, pattern.flags)
    gate = _gate(_needs(tree, frequency), frequency)
    for op, av in _items(tree):   # the first alternation the pattern cannot do without
        if op is C.BRANCH:
            alternatives = tuple(_gate(_needs(a, frequency), frequency) for a in av[1])
            if all(a.every or a.some for a in alternatives):
                return Gate(gate.every, gate.some, alternatives)
    return gate


def _items(sub):
    """The items of a sequence (a group that is all of it opened), an item that is a group of
    one alternation ((?:a|b)) as that alternation."""
    items = list(sub)
    while len(items) == 1 and items[0][0] is C.SUBPATTERN and \
            not items[0][1][1] & re.IGNORECASE:
        items = list(items[0][1][3])
    return [av[3][0] if op is C.SUBPATTERN and not av[1] & re.IGNORECASE and
            len(av[3]) == 1 and av[3][0][0] is C.BRANCH else (op, av) for op, av in items]


def _gate(clauses: list[frozenset], frequency) -> Gate:
    every = frozenset(c for clause in clauses if len(clause) == 1 for c in clause)
    some = {clause for clause in clauses if len(clause) > 1 and not clause & every}
    # a clause that contains another is implied by it
    some = [s for s in some if not any(t < s for t in some)]
    some.sort(key=lambda s: (_cost(s, frequency), sorted(s)))
    return Gate(every, tuple(some[:_GATE_MAX_CLAUSES]))


def _cost(clause, frequency) -> float:
    return sum(frequency(c) for c in clause)


def _needs(sub, frequency) -> list[frozenset]:
    """Clauses (sets of characters, one of each must be in the text) of a sequence."""
    out: list[frozenset] = []
    for op, av in sub:
        out += _needs_op(op, av, frequency)
    return out


def _needs_op(op, av, frequency) -> list[frozenset]:
    if op is C.LITERAL:
        return [frozenset(chr(av))]
    if op is C.IN:
        chars = _set_chars(av)
        return [chars] if chars else []
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _, body = av
        return _needs(body, frequency) if low >= 1 else []
    if op is C.SUBPATTERN:
        _, add_flags, _, body = av
        return [] if add_flags & re.IGNORECASE else _needs(body, frequency)
    if op is C.ATOMIC_GROUP:
        return _needs(av, frequency)
    if op is C.ASSERT:
        return _needs(av[1], frequency)
    if op is C.BRANCH:
        union: set = set()
        for alternative in av[1]:
            clauses = _needs(alternative, frequency)
            if not clauses:
                return []   # one alternative needs nothing: the alternation needs nothing
            union |= min(clauses, key=lambda s: (_cost(s, frequency), sorted(s)))
        return [frozenset(union)]
    return []   # ANY, NOT_LITERAL, AT, ASSERT_NOT, GROUPREF...: nothing required


def _set_chars(items) -> frozenset | None:
    """The characters of a small positive character class, or None."""
    chars: set = set()
    for op, av in items:
        if op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE and av[1] - av[0] < _GATE_MAX_SET:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        else:   # NEGATE, CATEGORY (\d, \s), a large range
            return None
    return frozenset(chars) if len(chars) <= _GATE_MAX_SET else None


@lru_cache(maxsize=1)
def _jieba_frequency():
    from .text import _base_dictionary   # jieba's dictionary, loaded once per process

    freq = _base_dictionary().FREQ
    return lambda ch: freq.get(ch, 0)
