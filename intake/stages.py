"""The pipeline's stages: each takes the Work record and returns it with one more part filled.

Stage order is data. The *prepare* stages are pure (bytes and rules in, records out) and may
run in a worker process; the *decide* stages read the database and run where the case is
filed, one message at a time in mailbox order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from config.errors import IntakeError, StorageUnavailable
from config.profiles import ReadingRules
from intake.work import Work
from parsers.extract import extract_message
from parsers.mime import message_to_parts
from parsers.records import Limits


class StageContext(Protocol):
    """What a stage may use: the attachment limits and the loaded profiles."""

    @property
    def limits(self) -> Limits:
        """Limits for reading attachments."""
        ...

    def profile(self, name: str) -> ReadingRules:
        """Return a loaded authority profile (what reading a message needs of it)."""
        ...


Stage = Callable[[StageContext, Work], Work]
C = TypeVar("C")


class StageError(IntakeError):
    """A stage failed on one message; the message goes to Needs-attention."""

    def __init__(self, stage: str, detail: str) -> None:
        self.stage = stage
        self.detail = detail
        super().__init__(f"{stage} failed: {detail}")

    def __reduce__(self) -> tuple[type[StageError], tuple[str, str]]:
        # Raised in a worker process, it must cross back to the parent intact.
        return (StageError, (self.stage, self.detail))


def parse_stage(ctx: StageContext, work: Work) -> Work:
    """Split the raw bytes into headers, body text and attachments."""
    raw = work.raw_blob.read() if work.raw_blob is not None else work.raw
    return replace(work, parsed=message_to_parts(raw, ctx.limits))


def extract_stage(ctx: StageContext, work: Work) -> Work:
    """Read every attachment's form fields and kind with the profile's rules."""
    assert work.parsed is not None
    profile = ctx.profile(work.profile)
    extraction = extract_message(work.parsed, profile.extraction, ctx.limits)
    return replace(work, extraction=replace(extraction, rules_version=profile.version))


def drop_payloads(ctx: StageContext, work: Work) -> Work:
    """Forget the raw and attachment bytes once read: they are in the blob store."""
    assert work.parsed is not None
    light = tuple(replace(a, data=b"") for a in work.parsed.attachments)
    return replace(work, raw=b"", raw_blob=None,
                   parsed=replace(work.parsed, attachments=light))


PREPARE_STAGES: tuple[tuple[str, Stage], ...] = (
    ("parse", parse_stage),
    ("extract", extract_stage),
    ("drop_payloads", drop_payloads),
)


def run_stages(ctx: C, work: Work, stages: Sequence[tuple[str, Callable[[C, Work], Work]]]) -> Work:
    """Run stages in order; any error becomes a StageError naming the stage.

    Except a passing storage fault: that is not the message's, and is retried as such.
    """
    for name, stage in stages:
        try:
            work = stage(ctx, work)
        except (StageError, StorageUnavailable):
            raise
        except IntakeError as exc:
            raise StageError(name, str(exc)) from exc
        except Exception as exc:  # a parser bug must not stop the batch
            raise StageError(name, f"{type(exc).__name__}: {exc}") from exc
    return work
