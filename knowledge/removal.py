"""Removing documents by id or uri, within the scopes the remover may change (store).

A person may remove documents of the scope their conversation adds to (a public channel's is the
workspace, a private channel's or a DM's is that conversation); admins and the command line may
remove from any scope. Deleting the document deletes its chunks in the same statement (the foreign
key cascades), so it stops being retrieved at once. Refusals are `RemovalRefused`, whose message is
shown to the person as it is; a document in a scope they may not read is never named in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from store.schema import WORKSPACE_SCOPE, Chunk, Document


class RemovalRefused(ValueError):
    """Raised when a document cannot be removed as asked; its message is shown to the person who asked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemovedDocument:
    """What was removed: enough to tell the person."""

    id: int
    title: str
    uri: str
    scope: str
    chunks: int


def remove_document(sessions: sessionmaker[Session], reference: str, *,
                    scopes: Sequence[str] | None) -> RemovedDocument:
    """Remove the document `reference` names (its id, or its uri) from `scopes` (None: any scope).

    Raises:
        RemovalRefused: nothing matches, the match is in a scope outside `scopes`, or a uri names
            documents in several scopes (for the command line, which may remove from any: pass one).
    """
    reference = reference.strip()
    if not reference:
        raise RemovalRefused("Name the document to remove: its id (from `/kb search`) or its URL.")
    query = select(Document).where(Document.id == int(reference)) if reference.isdigit() else \
        select(Document).where(Document.uri == reference)
    with sessions.begin() as session:
        found = list(session.scalars(query.order_by(Document.id).with_for_update()))
        allowed = [document for document in found if scopes is None or document.scope in scopes]
        if not allowed:
            readable = [document for document in found if document.scope == WORKSPACE_SCOPE]
            if readable:
                raise RemovalRefused(f"“{readable[0].title}” serves the whole workspace: it can be removed from a "
                                     "public channel, or by an admin.")
            if found:
                raise RemovalRefused(f"Document {reference} belongs to another conversation; only an admin can "
                                     "remove it from here.")
            raise RemovalRefused(f"No document matches {reference}.")
        if len(allowed) > 1:
            raise RemovalRefused(f"{reference} names {len(allowed)} documents in different scopes "
                                 f"({', '.join(d.scope for d in allowed)}); remove one by its id.")
        document = allowed[0]
        chunks = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == document.id)) or 0
        removed = RemovedDocument(id=document.id, title=document.title, uri=document.uri, scope=document.scope,
                                  chunks=chunks)
        session.execute(delete(Document).where(Document.id == document.id))
        return removed
