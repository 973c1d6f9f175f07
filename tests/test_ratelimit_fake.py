"""The fake Bot API's flood limits, on its own clock: Telegram's 20 messages a minute in a
group beside one a second in any chat and 30 a second overall."""

from __future__ import annotations

from fake_telegram import FakeBotAPI

TOKEN = "123456:TEST-fake-token"
GROUP = -1001234567890
PRIVATE = 4242


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send(api: FakeBotAPI, chat_id: int) -> tuple[int, dict[str, object]]:
    return api.handle(TOKEN, "sendMessage", {"chat_id": chat_id, "text": "Сабак 3-кабинетте"})


def test_a_group_gets_20_messages_a_minute_and_a_private_chat_is_not_held_to_it() -> None:
    clock = Clock()
    api = FakeBotAPI(clock=clock)
    api.rate_limits(30, 1, 20)
    for _ in range(20):  # one every 1.5 s: within the per-chat limit
        assert send(api, GROUP)[0] == 200
        clock.now += 1.5
    status, body = send(api, GROUP)  # 30 s after the first: the minute holds 20 already
    assert status == 429
    assert body["parameters"] == {"retry_after": 30}
    for _ in range(25):  # a private chat at one a second is not held to the group's limit
        assert send(api, PRIVATE)[0] == 200
        clock.now += 1.0
    # 55 s after the first group message; 5 s more and it falls out of the minute.
    assert send(api, GROUP)[0] == 429
    clock.now += 5.0
    assert send(api, GROUP)[0] == 200
    assert api.too_many_requests == 2


def test_limits_turned_off_one_by_one() -> None:
    clock = Clock()
    api = FakeBotAPI(clock=clock)
    api.rate_limits(None, None, 20)  # only the groups' minute
    assert [send(api, PRIVATE)[0] for _ in range(50)] == [200] * 50
    assert [send(api, GROUP)[0] for _ in range(21)] == [200] * 20 + [429]
    api.rate_limits(None, None, None)
    assert [send(api, GROUP)[0] for _ in range(30)] == [200] * 30
