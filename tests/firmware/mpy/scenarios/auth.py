# Device tokens: fetched once, renewed before expiry (no 401 on the way), fetched again on a 401 with
# the batch retried and nothing lost; a refused secret is reported ("secret rejected: rotate config")
# and not retried until the long backoff has passed, while readings wait in flash.
import asyncio

from fakes import HttpGateway
from gateway_model import GatewayModel
from harness import Capture, check, config, figure, http_device, until


async def main():
    # Renewal: tokens live 3 s; the margin is capped at half the lifetime, so a new one comes every
    # 2 s (at 0 and 2 s in a 3.5 s run), always before the old one expires: never a 401.
    model = GatewayModel(token_ttl_s=3)
    cfg = config(token_renew_margin_s=2, batch_size=2, batch_max_age_s=0.1, sample_interval_s=0.05)
    dev, gw, auth = http_device(cfg, gw=HttpGateway(model), capture=Capture())
    task = asyncio.create_task(dev.run())
    await asyncio.sleep_ms(3500)
    dev.stop()
    await task
    figure("renewal_token_requests", model.token_requests)
    figure("renewal_statuses", sorted(set(model.statuses)))
    check(model.token_requests >= 2, "token renewed before expiry (%d fetches)" % model.token_requests)
    check(401 not in model.statuses, "no request went out with an expired token")
    check(model.accepted > 30, "readings flowed")

    # 401 (the gateway restarted with new keys): re-fetch the token and send the same batch again.
    cap = Capture()
    dev, gw, auth = http_device(config(batch_size=5), capture=cap)
    dev.queue.spool.open()
    for i in range(5):
        dev.queue.add(1767225600000 + i, {"t": 1})
    await dev.sender.send_one()
    check(gw.model.accepted == 5 and auth.fetches == 1, "first batch with the first token")
    gw.model.revoke_tokens()
    for i in range(5, 10):
        dev.queue.add(1767225600000 + i, {"t": 1})
    await dev.sender.send_one()
    figure("after_401_statuses", gw.model.statuses)
    check(gw.model.statuses[-2:] == [401, 202], "401 then the retry accepted")
    check(auth.fetches == 2 and gw.model.accepted == 10 and dev.stats.dropped == 0, "re-fetched, nothing lost")

    # A rotated secret: one clear error, a long pause, no hammering; readings kept.
    cap = Capture()
    cfg = config(batch_size=5, secret_rejected_backoff_s=900, backoff_base_ms=20, backoff_max_ms=40)
    model = GatewayModel(devices={"dev-1": "rotated"})
    dev, gw, auth = http_device(cfg, gw=HttpGateway(model), capture=cap)
    dev.queue.spool.open()
    for i in range(12):
        dev.queue.add(1767225600000 + i, {"t": 1})
    sender = asyncio.create_task(dev.sender.run())
    await asyncio.sleep_ms(600)
    sender.cancel()
    figure("rejected_token_requests", model.token_requests)
    check(cap.count("secret rejected: rotate config") == 1, "reported once")
    check(model.token_requests == 1, "no hammering: %d token requests" % model.token_requests)
    check(model.statuses == [], "no readings sent without a token")
    check(dev.stats.dropped == 0 and len(dev.queue.spool) >= 1, "readings kept in flash")
    # The maker fixes the secret; after the pause the device gets through.
    model.devices["dev-1"] = "s3cret"
    auth._rejected_until = 0  # the 15 minutes have passed
    dev.sender.backoff.reset()
    sender = asyncio.create_task(dev.sender.run())
    check(await until(lambda: model.accepted == 12, 3000), "delivered after the secret was fixed")
    sender.cancel()
