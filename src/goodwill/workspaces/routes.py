"""The calling key's own workspace: its name, event type prefix and settings."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, patch
from litestar.params import JSONBody

from goodwill.http.context import read_only, unit_of_work
from goodwill.workspaces import service
from goodwill.workspaces.schemas import WorkspaceOut, WorkspacePatch


@get("/workspace", tags=["workspace"], summary="The current workspace and its settings")
async def get_current_workspace(request: Request[Any, Any, Any]) -> Response[WorkspaceOut]:
    async with read_only(request) as ctx:
        workspace = await service.get_workspace(ctx.session, ctx.workspace_id)
        return ctx.respond(WorkspaceOut.of(workspace))


@patch(
    "/workspace",
    tags=["workspace"],
    summary="Update the current workspace's name, event type prefix or settings",
    description="settings are merged: the ones not given keep their value.",
)
async def patch_current_workspace(
    request: Request[Any, Any, Any], data: JSONBody[WorkspacePatch]
) -> Response[WorkspaceOut]:
    async with unit_of_work(request) as ctx:
        workspace = await service.update_workspace(ctx.session, ctx.workspace_id, data)
        return ctx.respond(WorkspaceOut.of(workspace))


routes = [get_current_workspace, patch_current_workspace]
