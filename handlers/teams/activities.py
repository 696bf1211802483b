"""Reading a Teams activity: pure functions over botbuilder's `Activity`, no I/O.

The endpoint, the turn handling, identity linking and replies all ask the same questions of an
activity (is the chat personal, which id is the thread, whose tenant, what was submitted); they
are answered once, here.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from botbuilder.schema import Activity, ActivityTypes

from storage.states import Platform

PLATFORM = Platform.TEAMS
CARD_ACTION = "adaptiveCard/action"


class Kind(StrEnum):
    """What the inbox keeps from Teams, by how it is handled."""

    MESSAGE = "message"  # typed text, or an older card's `Action.Submit`
    INVOKE = "invoke"  # an `Action.Execute` press, answered on its own HTTP response
    INSTALL = "install"  # the app added to or removed from a personal chat


def bearer(header: str) -> bool:
    """Whether an Authorization header carries a bearer token at all (checked before the body is
    read; the token itself is validated against the activity)."""
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and header.isascii()


_URL = 400  # conversation_ref.service_url, conversation_ref.conversation_id
_ID = 200  # person.teams_id, person.name
_TENANT = 100  # conversation_ref.tenant_id
_SHAPE: dict[str, tuple[type, int | None]] = {
    "type": (str, 40),
    "id": (str, 200),
    "name": (str, 200),
    "action": (str, 40),
    "text": (str, None),
    "serviceUrl": (str, _URL),
    "conversation": (dict, None),
    "from": (dict, None),
    "recipient": (dict, None),
    "channelData": (dict, None),
    "entities": (list, None),
    "membersAdded": (list, None),
    "membersRemoved": (list, None),
}
_ACCOUNT: dict[str, tuple[type, int | None]] = {
    "id": (str, _URL),
    "name": (str, _ID),
    "aadObjectId": (str, _ID),
    "conversationType": (str, 40),
    "tenantId": (str, _TENANT),
}


def _fits(data: dict[str, Any], shape: dict[str, tuple[type, int | None]]) -> bool:
    for name, (kind, limit) in shape.items():
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, kind):
            return False
        if limit is not None and isinstance(value, str) and len(value) > limit:
            return False
    return True


def well_formed(body: dict[str, Any]) -> bool:
    """Whether an activity has the Bot Framework's shape where ownit reads it, within the widths
    of the columns its parts are kept in: a type, an http(s) service URL, a conversation with an
    id, accounts of text, lists of objects. Anything else is refused at the door (400), so
    that nothing kept in the inbox trips its handler."""
    if not _fits(body, _SHAPE) or not body.get("type"):
        return False
    url, conversation = body.get("serviceUrl"), body.get("conversation")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return False
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
        return False
    accounts = [conversation, body.get("from") or {}, body.get("recipient") or {}]
    for key in ("entities", "membersAdded", "membersRemoved"):
        items = body.get(key) or []
        if not all(isinstance(item, dict) for item in items):
            return False
        if key != "entities":
            accounts += items
    return all(_fits(account, _ACCOUNT) for account in accounts)


def read_activity(raw: bytes) -> tuple[Activity | None, dict[str, Any]]:
    """A body as an activity ownit can route, and as the dict kept in the inbox; (None, {}) for
    anything else: not UTF-8, not JSON, not an object, or missing what every activity has."""
    try:
        body = json.loads(raw.decode())
    except (ValueError, RecursionError):
        return None, {}
    if not isinstance(body, dict) or not well_formed(body):
        return None, {}
    try:
        act = Activity().deserialize(body)
    except Exception:  # msrest raises its own errors for a field of the wrong shape
        return None, {}
    routable = isinstance(act.type, str) and isinstance(act.service_url, str)
    if not (routable and act.type and act.conversation is not None and act.service_url):
        return None, {}
    return act, body


def as_dict(obj: Any) -> dict[str, Any]:
    """A botbuilder model (or a plain dict) as a dict, with its unmodelled properties."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    data = obj.serialize() if hasattr(obj, "serialize") else {}
    return {**(getattr(obj, "additional_properties", None) or {}), **data}


def kind_of(act: Activity) -> Kind | None:
    """What to keep this activity as; None for what ownit ignores (answered but not kept)."""
    if act.type == ActivityTypes.message:
        return Kind.MESSAGE
    if act.type == ActivityTypes.invoke:
        return Kind.INVOKE if act.name == CARD_ACTION else None
    if act.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
        return Kind.INSTALL if is_personal(act) and act.from_property is not None else None
    return None


def delivery_key(act: Activity) -> str | None:
    """The key that makes a Bot Framework retry of this activity a duplicate."""
    return f"teams:{act.id}" if act.id else None


def is_personal(act: Activity) -> bool:
    """A one-to-one chat with the bot. Teams may leave out `conversationType` (its documented
    channel messages do): a channel shows in `channelData` or in a `;messageid=` thread id, and
    channels and group chats are `isGroup` with `19:` ids."""
    conv = act.conversation
    if conv.conversation_type:
        return conv.conversation_type == "personal"
    data = as_dict(act.channel_data)
    if data.get("channel") or data.get("teamsChannelId") or data.get("team") or conv.is_group:
        return False
    return not str(conv.id or "").startswith("19:") and thread_of(str(conv.id or "")) is None


def thread_root(conversation_id: str) -> str:
    """A channel conversation id without its `;messageid=` part (the channel itself)."""
    return conversation_id.split(";", 1)[0]


def thread_of(conversation_id: str) -> str | None:
    """The reply chain a channel conversation id names, if it names one."""
    return conversation_id if ";messageid=" in conversation_id else None


def tenant_of(act: Activity) -> str | None:
    tenant = as_dict(act.channel_data).get("tenant") or {}
    return tenant.get("id") or getattr(act.conversation, "tenant_id", None)


def timezone_of(act: Activity) -> str | None:
    for ent in act.entities or []:
        if ent.type == "clientInfo":
            tz = as_dict(ent).get("timezone")
            return str(tz) if tz else None
    return None


def sender_uid(act: Activity) -> str | None:
    """The sender's stable id: their AAD object id when Teams gives it."""
    frm = act.from_property
    return (frm.aad_object_id or frm.id) if frm is not None else None


def bot_id(act: Activity) -> str | None:
    return act.recipient.id if act.recipient else None


def mentions(act: Activity) -> list[dict[str, Any]]:
    """The mention entities of a message, as dicts (`text`, `mentioned`)."""
    return [as_dict(ent) for ent in act.entities or [] if ent.type == "mention"]


def install_change(act: Activity) -> tuple[bool, bool]:
    """(added, removed): whether this update added the bot to the chat, or removed it."""
    if act.type == ActivityTypes.conversation_update:
        bot = bot_id(act)
        return any(m.id == bot for m in act.members_added or []), False
    removed = (act.action or "").startswith("remove")
    return not removed, removed


def submitted(act: Activity) -> dict[str, Any] | None:
    """What an older card's `Action.Submit` sent back with a message, if it is ours."""
    value = act.value if isinstance(act.value, dict) else None
    return value if value and value.get("ownit") else None


def card_action(act: Activity) -> dict[str, Any]:
    """The data of an `Action.Execute` press, with the inputs Teams merged into it."""
    value = act.value if isinstance(act.value, dict) else {}
    return dict((value.get("action") or {}).get("data") or {})
