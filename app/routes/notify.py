"""POST /items/{id}/notify: send an item's event to the configured webhook.

The outbound call goes through the lifespan's one client (``WebhookClientDep``): bounded
connections, a timeout on every phase, and a clear 502/503/504 when the receiver fails.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.encoders import jsonable_encoder

from app.db import EngineDep, fetch_row
from app.errors import documented
from app.lifespan import ResourcesDep
from app.routes.items import ITEM_BY_ID, ItemId
from app.schemas import ItemNotified, ItemRead
from app.webhooks import WebhookClientDep, deliver

router = APIRouter(prefix="/items", tags=["items"])


@router.post("/{item_id}/notify", responses=documented(404, 502, 503, 504))
async def notify_item(
    item_id: ItemId, engine: EngineDep, resources: ResourcesDep, client: WebhookClientDep
) -> ItemNotified:
    url = resources.settings.webhook_url
    assert url is not None  # the client exists only when a URL is configured
    row = await fetch_row(engine, ITEM_BY_ID, {"item_id": item_id})
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"item {item_id} not found")
    item = ItemRead.model_validate(dict(row))
    event = {"event": "item.notify", "item": jsonable_encoder(item)}
    receiver_status = await deliver(client, url.get_secret_value(), event)
    return ItemNotified(item_id=item_id, receiver_status=receiver_status)
