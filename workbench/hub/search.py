"""Searching the Hub for GGUF repositories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import InvalidInputError
from workbench.hub.client import HubClient
from workbench.hub.files import count_or_none, date_or_none, gguf_facts, license_of, text_or_none

#: User-facing sort names and the Hub's (through HfApi.list_models).
SORTS = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trending_score",
    "recent": "last_modified",
}
_EXPAND = ["author", "downloads", "likes", "lastModified", "gated", "private", "gguf", "tags",
           "trendingScore"]


@dataclass
class RepoResult:
    repo_id: str
    author: str | None
    downloads: int | None
    likes: int | None
    license: str | None
    last_modified: str | None
    gated: Any
    private: bool
    architecture: str | None
    context_length: int | None
    parameters: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def search_models(
    client: HubClient, query: str, *, sort: str = "downloads", limit: int = 20
) -> list[RepoResult]:
    """GGUF repositories matching ``query``, most downloaded (or liked, trending, recent) first."""
    if sort not in SORTS:
        raise InvalidInputError(f"sort '{sort}': unknown (known: {', '.join(SORTS)})")
    if limit < 1:
        raise InvalidInputError(f"limit {limit}: must be at least 1")
    results = []
    with client.call(f"search '{query}'"):
        for info in client.api().list_models(
            search=query or None, filter="gguf", sort=SORTS[sort],  # type: ignore[arg-type]
            limit=limit, expand=_EXPAND,  # type: ignore[arg-type]
        ):
            repo_id = text_or_none(info.id)
            if repo_id is None:  # an entry without a name cannot be shown or pulled
                continue
            architecture, context_length, parameters = gguf_facts(info)
            modified = date_or_none(info.last_modified)
            results.append(RepoResult(
                repo_id=repo_id,
                author=text_or_none(info.author) or (
                    repo_id.split("/")[0] if "/" in repo_id else None),
                downloads=count_or_none(info.downloads),
                likes=count_or_none(info.likes),
                license=license_of(info),
                last_modified=modified.isoformat() if modified else None,
                gated=info.gated if info.gated in ("auto", "manual", True) else False,
                private=info.private is True,
                architecture=architecture,
                context_length=context_length,
                parameters=parameters,
            ))
    return results
