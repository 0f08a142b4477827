"""POST /items/{id}/notify: send an item's event to the configured webhook.

The outbound call goes through the lifespan's one client (``WebhookClientDep``): bounded
connections, a timeout on every phase, and a clear 502/503/504 when the receiver fails.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.encoders import jsonable_encoder

from app.deps import SessionDep, SettingsDep, WebhookClientDep
from app.errors import documented
from app.models import Item
from app.routes.items import ItemId
from app.schemas import ItemNotified, ItemRead
from app.webhooks import deliver

router = APIRouter(prefix="/items", tags=["items"])


@router.post("/{item_id}/notify", responses=documented(404, 502, 503, 504))
async def notify_item(
    item_id: ItemId, session: SessionDep, settings: SettingsDep, client: WebhookClientDep
) -> ItemNotified:
    url = settings.webhook_url
    assert url is not None  # the client exists only when a URL is configured
    found = await session.get(Item, item_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"item {item_id} not found")
    item = ItemRead.model_validate(found)
    # end the read's transaction now: its connection goes back to the pool while the receiver
    # answers, instead of being held for up to the webhook timeout
    await session.commit()
    event = {"event": "item.notify", "item": jsonable_encoder(item)}
    receiver_status = await deliver(client, url.get_secret_value(), event)
    return ItemNotified(item_id=item_id, receiver_status=receiver_status)
