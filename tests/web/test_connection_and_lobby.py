"""A dropped connection resumes the same player; the host's lobby controls (lock, kick)."""

from __future__ import annotations

from playwright.sync_api import WebSocketRoute, expect


def test_play_resumes_with_score_when_connection_drops(web, host_creates_run, player_joins, answer):
    # GIVEN a player whose WebSocket goes through a switch the test controls
    host, code = host_creates_run("self-paced", questions=[0, 1])
    player = player_joins(code, "Robin")
    network = {"up": True}
    live: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        if network["up"]:
            ws.connect_to_server()
            live.append(ws)
        else:
            ws.close(code=1013, reason="try again later")

    player.route_web_socket("**/speedrun", route)
    player.reload()  # the lobby again, now through the switch
    expect(player.locator("#conn")).to_have_attribute("data-state", "open")
    host.get_by_role("button", name="Start").click()
    answer(player)
    expect(player.locator("#feedback")).to_contain_text("Correct")
    expect(player.locator("#q-number")).to_have_text("Question 2 of 2")
    score = player.get_by_test_id("score").inner_text()
    assert score != "0"

    # WHEN the connection drops and cannot come back at once
    network["up"] = False
    for ws in live:
        ws.close(code=1001, reason="gone")
    expect(player.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    web.shot(player, "player-reconnecting")

    # THEN once it is back, the same player carries on: same score, same open question
    network["up"] = True
    expect(player.locator("#conn")).to_have_attribute("data-state", "open", timeout=20_000)
    expect(player.get_by_text("Reconnecting…")).to_be_hidden()
    expect(player.get_by_test_id("score")).to_have_text(score)
    expect(player.locator("#q-number")).to_have_text("Question 2 of 2")
    answer(player)
    # the only player has finished, so the run is complete
    expect(player.get_by_role("heading", name="Final results")).to_be_visible()


def test_host_locks_joining_and_kicks_a_player(web, host_creates_run, player_joins):
    host, code = host_creates_run("host-paced")
    stays = player_joins(code, "Stays")
    leaves = player_joins(code, "Leaves")
    expect(host.locator("#lobby-count")).to_have_text("2")

    # The host removes a player: their page says so, the lobby no longer lists them
    host.get_by_role("button", name="Kick Leaves").click()
    expect(leaves.get_by_text("The host removed you from this game.")).to_be_visible()
    expect(host.locator("#lobby-people li")).to_have_count(1)
    expect(host.locator("#lobby-count")).to_have_text("1")
    expect(stays.locator("#lobby-count")).to_have_text("1")
    web.shot(leaves, "player-kicked")

    # Locked: a newcomer is refused with a message, the players already in stay
    host.get_by_role("button", name="Lock joining").click()
    expect(host.get_by_role("button", name="Unlock joining")).to_have_attribute(
        "aria-pressed", "true"
    )
    late = web.page(f"/join?code={code}")
    late.get_by_label("Nickname").fill("Late")
    late.get_by_role("button", name="Join").click()
    expect(late.get_by_role("alert")).to_contain_text("closed joining")
    web.shot(late, "player-locked-out")
    expect(stays.get_by_text("Waiting for the host to start")).to_be_visible()
