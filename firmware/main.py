# The firmware entry point: config.json -> Device -> run forever. Hold the BOOT button (GPIO0) during a
# reset to skip it and get a free REPL (for mpremote).
import asyncio
import gc
import sys
import time

import machine

from iotfw import config
from iotfw.log import Log

SAFE_MODE_PIN = 0


def safe_mode() -> bool:
    try:
        return machine.Pin(SAFE_MODE_PIN, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    except Exception:  # noqa: BLE001 - a board without that pin
        return False


def main() -> None:
    log = Log("fw")
    if safe_mode():
        log.warning("safe mode (BOOT held): not starting")
        return
    try:
        cfg = config.load("config.json")
    except config.ConfigError as e:
        log.error("config.json: %s", e)
        return  # stay at the REPL; resetting cannot fix a config
    log.name = cfg["device_id"]
    log.set_level(cfg["log_level"])
    from iotfw import board

    device = board.build(cfg, log)
    board.forget()
    del board
    gc.collect()
    gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
    log.info("started, heap %d B used, %d B free", gc.mem_alloc(), gc.mem_free())
    try:
        asyncio.run(device.run())
    except KeyboardInterrupt:
        device.queue.save()
        log.info("stopped (Ctrl-C); readings in RAM were saved to flash")
        return
    except Exception as e:  # noqa: BLE001
        sys.print_exception(e)  # type: ignore[attr-defined]
    finally:
        asyncio.new_event_loop()
    log.error("device stopped (%s); resetting in 5 s", device.failure or "error")
    time.sleep(5)
    machine.reset()


main()
