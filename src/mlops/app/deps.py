"""Dependencies of the App's routes, injected as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mlops.app.auth import require
from mlops.app.scope import store_for
from mlops.artifacts import ArtifactStore
from mlops.store.base import Store


async def get_store(request: Request) -> Store:
    """The store the App was created with, as the request's token may see it (a token
    limited to projects gets :class:`mlops.app.scope.ScopedStore`); async: no thread hop."""
    store: Store = store_for(request)
    return store


async def get_artifacts(request: Request) -> ArtifactStore:
    """The artifact store the App keeps files in (``--artifacts``)."""
    artifacts: ArtifactStore = request.app.state.artifacts
    return artifacts


StoreDep = Annotated[Store, Depends(get_store)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
CanRead = Depends(require("read"))
CanWrite = Depends(require("write"))
