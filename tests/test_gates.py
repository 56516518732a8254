"""The gates of the urgency patterns (gates.py) are necessary conditions: a text a pattern
matches is always admitted by its gate, on every line of the bank (and the development sets'
messages), on those lines cut down around each match, and on random texts; the compiled gates
answer as the plain ones; and small patterns get the gates the derivation promises."""
from __future__ import annotations

import random
import re

import pytest

from bot.answering import urgency
from bot.answering.gates import Gate, Gates, gate_of
from bot.answering.text import Normalizer
from conftest import bank_and_dev_texts

PATTERNS = urgency.gated_patterns()


def _freq(ch: str) -> int:   # a fixed commonness for the small patterns below
    return {"了": 100, "我": 90}.get(ch, 1)


@pytest.fixture(scope="module")
def lines(content_dir):
    """Every document of the bank and the development sets' messages, normalised as queries."""
    normalizer = Normalizer.from_file(content_dir / "engine" / "normalize.tsv")
    return [normalizer(t)[:2000] for t in bank_and_dev_texts(content_dir)]


def _cut_downs(text: str, m: re.Match):
    """The text around a match with one character of the match dropped, each in turn, and
    the match alone: texts near the edge of what the pattern needs."""
    yield m.group()
    for i in range(m.start(), m.end()):
        yield text[:i] + text[i + 1:]


def test_every_match_is_admitted_on_the_bank_and_near_it(lines):
    gates = {name: gate_of(p) for name, p in PATTERNS}
    matched = 0
    for text in lines:
        for name, pattern in PATTERNS:
            m = pattern.search(text)
            if m is None:
                continue
            matched += 1
            assert gates[name].admits(set(text)), (name, text)
            for variant in _cut_downs(text, m):
                if pattern.search(variant):
                    assert gates[name].admits(set(variant)), (name, variant)
    assert matched > 1000   # the bank does exercise the patterns


def test_random_texts_from_the_patterns_own_characters():
    """Texts of the characters the patterns name (and some others), at random: whatever a
    pattern matches, its gate admits."""
    rng = random.Random(19)
    gates = [(p, gate_of(p)) for _, p in PATTERNS]
    alphabet = sorted(set("".join(p.pattern for _, p in PATTERNS)) | set("我他她了的钱 ，。1230"))
    pieces = [w for _, p in PATTERNS for w in re.findall(r"[\u4e00-\u9fff]{2,4}", p.pattern)]
    matched = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) if rng.random() < 0.5 else rng.choice(alphabet)
                       for _ in range(rng.randint(1, 30)))
        chars = set(text)
        for pattern, gate in gates:
            if pattern.search(text):
                matched += 1
                assert gate.admits(chars), (pattern.pattern[:40], text)
    assert matched > 100


def test_compiled_gates_answer_as_the_plain_ones(lines):
    plain = [gate_of(p) for _, p in PATTERNS]
    compiled = Gates(plain)
    for text in lines[::7] + ["", "x", "今天天气不错"]:
        assert tuple(map(bool, compiled.admitted(compiled.mask(text)))) == \
            tuple(g.admits(set(text)) for g in plain)


def test_most_lines_skip_most_patterns(lines):
    """The point of the gates: on the bank, a pattern is run on a minority of lines."""
    gates = Gates([gate_of(p) for _, p in PATTERNS])
    admitted = sum(sum(map(bool, gates.admitted(gates.mask(t)))) for t in lines)
    assert admitted < 0.25 * len(lines) * len(PATTERNS)


@pytest.mark.parametrize("pattern, admitted, refused", [
    ("被骗了|上当", ["我被骗了", "上当", "当上了"], ["被骗", "骗了", "当"]),   # characters, not order
    ("(?:转|汇)了", ["转了", "汇了"], ["转过", "了"]),
    ("[转汇付]钱", ["付钱"], ["钱", "打钱"]),
    ("钱?转了", ["转了"], ["钱"]),
    ("(?=.*警察).{0,3}电话", ["警察 电话"], ["电话"]),         # a lookahead reads the text too
    ("(?!骗子)电话", ["电话"], ["骗子"]),                       # a negative one needs nothing
    ("[^钱]转", ["转"], ["钱"]),
    (r"\d+块", ["块"], ["5"]),
])
def test_small_patterns(pattern, admitted, refused):
    gate = gate_of(re.compile(pattern), _freq)
    for text in admitted:
        assert gate.admits(set(text)), text
    for text in refused:
        assert not gate.admits(set(text)), text


def test_what_needs_nothing_is_never_refused():
    for pattern in (r"\d+", ".", "[^a]", "a?", "(?i)app", "(?:a|b?)", r"\bx?"):
        assert gate_of(re.compile(pattern), _freq) == Gate(), pattern


def test_an_alternative_picks_its_rarest_character():
    """转了 needs 转 and 了; the union over alternatives takes 转 (了 is common): a text with
    了 but no 转 or 汇 is refused."""
    gate = gate_of(re.compile("转了|汇了"), _freq)
    assert gate.some == (frozenset("转汇"),)
    assert not gate.admits(set("我了"))
