"""Shared helpers of the docker-py scripts: the client for the daemon named by argv[1], checks
that name what differed, and waits with a deadline."""
import sys
import time

import docker


def client():
    return docker.DockerClient(base_url=sys.argv[1], timeout=60)


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def contains(hay, needle, what):
    if needle not in hay:
        raise AssertionError(f"{what}: {needle!r} not in {hay!r}")


def until(cond, what, timeout=20.0):
    """Polls cond() until it returns something truthy; returns that."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def raises(exc, fn, what):
    """Runs fn, which must raise exc; returns the exception."""
    try:
        fn()
    except exc as e:
        return e
    raise AssertionError(f"{what}: no {exc.__name__} raised")


def done():
    print("ALL OK")
