# Logging to the console (the serial port on a board): "LEVEL name: message".
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Log:
    def __init__(self, name: str = "fw", level: str = "info", out=print) -> None:
        self.name = name
        self._out = out
        self.level = LEVELS.get(level, 20)

    def set_level(self, level: str) -> None:
        self.level = LEVELS.get(level, 20)

    def _emit(self, level: int, label: str, msg: str, args: tuple) -> None:
        if level < self.level:
            return
        if args:
            msg = msg % args
        self._out("%s %s: %s" % (label, self.name, msg))

    def debug(self, msg: str, *args) -> None:
        self._emit(10, "DEBUG", msg, args)

    def info(self, msg: str, *args) -> None:
        self._emit(20, "INFO", msg, args)

    def warning(self, msg: str, *args) -> None:
        self._emit(30, "WARNING", msg, args)

    def error(self, msg: str, *args) -> None:
        self._emit(40, "ERROR", msg, args)
