"""Loading a profile's triage rule file: every section read, validated and assembled."""

from __future__ import annotations

import re
from pathlib import Path

from config.rulefile import check_known_keys, content_hash, read_toml, require, rule_error
from config.triage_rules import TriageRules
from config.triage_rules_checklists import read_checklists
from config.triage_rules_parts import (
    RuleContext,
    check_unique_cue_ids,
    read_acknowledge,
    read_automated,
    read_case_ref,
    read_kind,
    read_regulation,
    read_request_type,
    read_text,
    read_urgency,
    validate_token_patterns,
)

_TOP_KEYS = ("profile", "automated", "kind", "request_type", "regulation", "urgency",
             "case_ref", "acknowledge", "checklist", "text")


def load_triage_rules(path: Path) -> TriageRules:
    """Read and validate a triage rule file; raise ConfigError naming file, line and key."""
    data = read_toml(path)
    check_known_keys(data, _TOP_KEYS, path, "")
    ctx = RuleContext(path)
    text = read_text(ctx, data.get("text", {}))
    profile = ctx.table(data, "profile")
    check_known_keys(profile, ("authority", "request_types"), path, "profile")
    authority = require(profile, "authority", str, path, "profile")
    types = ctx.names(profile, "request_types", "profile", required=True)
    if not types:
        raise rule_error(path, "profile.request_types", "at least one request type is needed")
    rules = TriageRules(
        path=path,
        version=content_hash([path]),
        authority=authority,
        automated=read_automated(ctx, ctx.table(data, "automated")),
        kind=read_kind(ctx, ctx.table(data, "kind")),
        request_type=read_request_type(ctx, ctx.table(data, "request_type"), types),
        regulation=read_regulation(ctx, ctx.table(data, "regulation")),
        urgency=read_urgency(ctx, ctx.table(data, "urgency")),
        case_ref=read_case_ref(ctx, ctx.table(data, "case_ref")),
        acknowledge_kinds=read_acknowledge(ctx, ctx.table(data, "acknowledge")),
        checklists=read_checklists(ctx, ctx.table(data, "checklist"), types),
        max_text_chars=ctx.integer(text, "max_chars", "text", 50_000),
        quote_separators=ctx.regexes(ctx.names(text, "quote_separators", "text"),
                                     "text.quote_separators", multiline=True),
    )
    check_unique_cue_ids(ctx, rules.all_cues())
    validate_token_patterns(ctx, rules.all_cues())
    return rules


def load_case_ref_pattern(path: Path) -> re.Pattern[str]:
    """Read only the ``[case_ref]`` pattern of a triage rule file (no NLP stack loaded)."""
    data = read_toml(path)
    ctx = RuleContext(path)
    return read_case_ref(ctx, ctx.table(data, "case_ref"))
