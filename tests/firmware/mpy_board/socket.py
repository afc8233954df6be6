# A stand-in for the `socket` module: only name resolution (connections go through the fakes).
AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    return [(AF_INET, SOCK_STREAM, 0, "", ("10.0.0.1", port))]
