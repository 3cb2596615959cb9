"""Junk events through the real loop (``docs/reliability.md`` F24, F25): dead-lettered with their reason, none
applied."""

from __future__ import annotations

import json

from pipelines.listener import stream
from pipelines.listener.loop import listener_stats
from tests.pipelines.listener.conftest import codes_with_insights, make_listener, publish, query


def test_junk_codes_and_image_floods_are_dead_lettered_not_applied(world) -> None:
    settings, resources, client = world
    code = codes_with_insights(settings)[0]
    images_before = query(settings, "SELECT count(*) FROM image", [])
    listener = make_listener(settings, resources, client)
    listener.setup()
    base = {"product_type": "food", "user_id": "alice", "action": "updated", "comment": "", "diffs": "{}"}
    updates = settings.redis_streams[0]
    client.xadd(updates, base | {"code": b"\xff\xfe301428\x80"})  # was applied as product 00301428
    publish(client, settings, code=f"{code}'; DROP TABLE product_insight; --")  # was applied as {code}
    flood = {"uploaded_images": {"add": [str(i) for i in range(1, 21_001)]}}
    publish(client, settings, code=code, diffs=json.dumps(flood))  # was 21,000 image rows
    assert sum(listener.turn() for _ in range(3)) == 0

    dead = [
        {k.decode(): v for k, v in fields.items()}
        for _, fields in client.xrange(updates + stream.DEAD_LETTER_SUFFIX)
    ]
    assert [d["reason"] for d in dead] == [b"invalid_code", b"invalid_code", b"too_many_images"]
    assert dead[0]["field:code"].decode(errors="replace") == "\ufffd\ufffd301428\ufffd"  # kept to inspect
    assert listener_stats(client, settings.listener_group) == {"dead_lettered": 3}
    status = stream.group_status(client, updates, settings.listener_group)
    assert (status.pending, status.lag) == (0, 0)
    assert query(settings, "SELECT count(*) FROM image", []) == images_before
    assert query(settings, "SELECT count(*) FROM listener_log", []) == [(0,)]
