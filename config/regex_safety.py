"""Rule expressions that backtrack catastrophically are refused when a rule file is loaded.

Python's ``re`` backtracks: a nested quantifier (``(a+)+``, ``(\\w+\\s?)+``), an alternation
under a repetition whose branches can begin alike (``(a|ab)*``), or an unanchored ``.*`` that
must reach the end (``x.*y$`` searched in a long subject) can take minutes on a hostile
subject line. The check reads the parsed expression, so it judges structure, not spelling;
it is deliberately cautious, and a refused expression can nearly always be rewritten
(anchor it with ``\\A``, make the group atomic ``(?>...)`` or the repetition possessive).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

with warnings.catch_warnings():
    # The parser behind ``re`` is the only reader of an expression's structure.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants as sc
    import sre_parse

# Repetitions bounded this low cannot multiply into a catastrophe.
_SMALL_REPEAT = 10
# Characters an expression's first-character sets are compared on.
_SAMPLE = "".join(chr(c) for c in range(32, 127)) + "\t\n éÄß–—0٣"
_GREEDY = (sc.MAX_REPEAT, sc.MIN_REPEAT)
_ANCHOR_END = (sc.AT_END, sc.AT_END_STRING)


def backtracking_risk(text: str, flags: int = 0) -> str | None:
    """Why an expression may backtrack catastrophically, or None when it looks safe."""
    try:
        tree = sre_parse.parse(text, flags)
    except (sc.error, OverflowError, RecursionError):
        return None  # the compiler reports a bad expression itself
    items: list[Any] = list(tree.data)
    return _nested(items) or _end_after_dot_star(items)


def _nested(items: Sequence[Any]) -> str | None:
    """A repetition inside a repetition, or alike alternatives under one."""
    for op, av in items:
        if op in _GREEDY:
            body = list(av[2])
            repeats = av[1] > _SMALL_REPEAT
            if repeats and _has_repeat(body):
                return "nests a repetition inside a repetition (like (a+)+): it can " \
                       "backtrack catastrophically"
            if repeats and (_overlapping_branches(body) or _optional_tail_overlaps(body)):
                return "repeats alternatives that can begin with the same character " \
                       "(like (a|ab)*): it can backtrack catastrophically"
            found = _nested(body)
        else:
            found = _nested_in(op, av)
        if found:
            return found
    return None


def _nested_in(op: Any, av: Any) -> str | None:
    for sub in _children(op, av):
        found = _nested(sub)
        if found:
            return found
    return None


def _children(op: Any, av: Any) -> Iterable[list[Any]]:
    """The sub-expressions of a group, a branch, a look-around or a conditional."""
    if op == sc.SUBPATTERN:
        yield list(av[-1])
    elif op == sc.BRANCH:
        yield from (list(b) for b in av[1])
    elif op in (sc.ASSERT, sc.ASSERT_NOT):
        yield list(av[1])
    elif op == sc.GROUPREF_EXISTS:
        yield from (list(b) for b in av[1:] if b is not None)
    elif op == sc.ATOMIC_GROUP:
        return  # an atomic group never gives back what it matched
    elif op == sc.POSSESSIVE_REPEAT:
        return


def _has_repeat(items: Sequence[Any]) -> bool:
    """Whether a variable-length repetition lies anywhere in the items (not atomic)."""
    for op, av in items:
        if op in _GREEDY and av[1] > 1 and av[1] != av[0]:
            return True
        if op in _GREEDY and _has_repeat(list(av[2])):
            return True
        if any(_has_repeat(sub) for sub in _children(op, av)):
            return True
    return False


def _overlapping_branches(items: Sequence[Any]) -> bool:
    """A repeated body that is one alternation whose branches can start with one character."""
    while len(items) == 1 and items[0][0] == sc.SUBPATTERN:
        items = list(items[0][1][-1])
    if len(items) != 1 or items[0][0] != sc.BRANCH:
        return False
    firsts = [_first_chars(list(b)) for b in items[0][1][1]]
    return any(a & b for i, a in enumerate(firsts) for b in firsts[i + 1:])


def _optional_tail_overlaps(body: Sequence[Any]) -> bool:
    """A repeated body ending in an optional part that can begin the next round: (aa?)*."""
    while len(body) == 1 and body[0][0] == sc.SUBPATTERN:
        body = list(body[0][1][-1])
    if not body:
        return False
    op, av = body[-1]
    if op == sc.BRANCH and any(len(b) == 0 for b in av[1]):  # (a|aa) is parsed as a(?:|a)
        tail = set().union(*(_first_chars(list(b)) for b in av[1] if len(b)))
    elif op in _GREEDY and av[0] != av[1]:
        tail = _first_chars(list(av[2]))
    else:
        return False
    return bool(tail & _first_chars(body))


def _first_chars(items: Sequence[Any]) -> set[str]:
    """Sample characters a sequence can begin with (approximate, errs on 'any')."""
    found: set[str] = set()
    for op, av in items:
        if op == sc.AT:
            continue
        if op in _GREEDY or op == sc.POSSESSIVE_REPEAT:
            found |= _first_chars(list(av[2]))
            if av[0] > 0:
                return found
            continue
        if op == sc.SUBPATTERN:
            return found | _first_chars(list(av[-1]))
        if op == sc.BRANCH:
            return found.union(*(_first_chars(list(b)) for b in av[1]))
        return found | {c for c in _SAMPLE if _matches_one(op, av, c)}
    return found | set(_SAMPLE)


def _matches_one(op: Any, av: Any, char: str) -> bool:
    """Whether one character item (literal, class, category, any) accepts a character."""
    if op == sc.LITERAL:
        return bool(ord(char) == av or chr(av).lower() == char.lower())
    if op == sc.NOT_LITERAL:
        return bool(ord(char) != av)
    if op == sc.IN:
        return _in_class(av, char)
    return True  # ANY, categories outside a class and the rest: assume the worst


def _in_class(items: Sequence[Any], char: str) -> bool:
    negate = bool(items) and items[0][0] == sc.NEGATE
    hit = any(_class_item(op, av, char) for op, av in items if op != sc.NEGATE)
    return hit != negate


def _class_item(op: Any, av: Any, char: str) -> bool:
    if op == sc.LITERAL:
        return bool(ord(char) == av)
    if op == sc.RANGE:
        return bool(av[0] <= ord(char) <= av[1])
    if op == sc.CATEGORY:
        return _category(av, char)
    return True


def _category(category: Any, char: str) -> bool:
    name = str(category).lower()
    test = (char.isdigit() if "digit" in name else char.isspace() if "space" in name
            else (char.isalnum() or char == "_"))
    return test != ("not_" in name)


def _end_after_dot_star(items: Sequence[Any]) -> str | None:
    """An unanchored search whose unbounded .* must reach the end: quadratic in the line."""
    if items and items[0][0] == sc.AT and items[0][1] in (sc.AT_BEGINNING_STRING,
                                                          sc.AT_BEGINNING):
        return None  # tried at the start only (of the text, or of each line)
    if not any(op == sc.AT and av in _ANCHOR_END for op, av in _flat(items)):
        return None
    if any(op in _GREEDY and av[1] == sc.MAXREPEAT and _is_any(list(av[2]))
           for op, av in _flat(items)):
        return "lets an unbounded .* run to a $ anchor without a \\A anchor at the start: " \
               "searching a long line takes quadratic time (start it with \\A(?>.*?...))"
    return None


def _flat(items: Sequence[Any]) -> Iterable[tuple[Any, Any]]:
    """Every item at the top level and inside plain groups (not atomic ones)."""
    for op, av in items:
        yield op, av
        if op == sc.SUBPATTERN:
            yield from _flat(list(av[-1]))


def _is_any(items: Sequence[Any]) -> bool:
    return len(items) == 1 and items[0][0] in (sc.ANY, sc.NOT_LITERAL)
