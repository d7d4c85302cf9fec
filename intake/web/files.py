"""Downloads: an attachment or the original message, always as a file, never shown inline."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from config.errors import IntakeError
from config.vocabulary import Role
from intake.web.auth import page, refused
from intake.web.context import Identity, Workspace, workspace_of
from parsers.mime import message_to_parts
from storage.cases import case_by_ref
from storage.ledger import ledger_raw
from storage.models import Ledger
from storage.workspace import document_by_id, message_by_id

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(data: bytes, filename: str) -> Response:
    """Return bytes as a download: octet-stream, attachment disposition, no sniffing."""
    fallback = _UNSAFE.sub("_", filename).strip("._") or "download"
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type="application/octet-stream", headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store"})


def _raw_of(ws: Workspace, ref: str, message_id: int) -> tuple[bytes, str]:
    """Return the kept bytes of a filed message and a file name for them."""
    with ws.database.session() as s:
        case = case_by_ref(s, ref)
        if case is None:
            raise LookupError(f"There is no case {ref}.")
        message = message_by_id(s, case, message_id)
        row = s.get(Ledger, message.ledger_id) if message.ledger_id else None
        if row is None:
            raise LookupError("This message was not received from a mailbox.")
        return ledger_raw(s, row, ws.blobs), f"{case.ref}-message-{message.id}.eml"


def _document_of(ws: Workspace, ref: str, document_id: int) -> tuple[bytes, str]:
    """Return an attachment's bytes, read again from the message that carried it."""
    with ws.database.session() as s:
        case = case_by_ref(s, ref)
        if case is None:
            raise LookupError(f"There is no case {ref}.")
        document = document_by_id(s, case, document_id)
        sha, filename, message_id = document.sha256, document.filename, document.case_message_id
    raw, _ = _raw_of(ws, ref, message_id)
    for part in message_to_parts(raw, ws.limits).attachments:
        if part.sha256 == sha:
            return part.data, filename
    raise LookupError(f"{filename} is no longer in the kept message.")


@page(Role.VIEWER)
async def download_document(request: Request, who: Identity) -> Response:
    """Download an attachment of a case."""
    return await _download(request, who, _document_of, "document")


@page(Role.VIEWER)
async def download_message(request: Request, who: Identity) -> Response:
    """Download the original message (.eml) as it was received."""
    return await _download(request, who, _raw_of, "message")


Reader = Callable[[Workspace, str, int], tuple[bytes, str]]


async def _download(request: Request, who: Identity, read: Reader, key: str) -> Response:
    """Read the bytes off the event loop and send them, or say why not."""
    ws = workspace_of(request)
    try:
        number = int(request.path_params[key])
        data, name = await run_in_threadpool(read, ws, request.path_params["ref"], number)
    except (LookupError, ValueError) as exc:
        return refused(request, who, 404, str(exc))
    except IntakeError as exc:
        return refused(request, who, 404, f"Not available: {exc}")
    return attachment(data, name)
