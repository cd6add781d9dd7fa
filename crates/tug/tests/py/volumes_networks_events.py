"""docker-py's volumes, networks and events APIs against tug.
Usage: volumes_networks_events.py BASE_URL  (image busybox:latest with every applet)"""
import time

import docker

from tugpy import client, contains, done, eq, raises

c = client()
since = int(time.time()) - 1

# Volumes: create with labels, use from two containers, in-use errors, prune, not found.
v = c.volumes.create("pyvol", labels={"team": "py"})
eq((v.name, v.attrs["Driver"]), ("pyvol", "local"), "created volume")
eq(v.attrs["Labels"], {"team": "py"}, "volume labels")
eq([x.name for x in c.volumes.list(filters={"label": "team=py"})], ["pyvol"], "volume list filter")
c.containers.run("busybox", ["sh", "-c", "echo kept > /data/f"], volumes={"pyvol": {"bind": "/data"}},
                 remove=True)
user = c.containers.create("busybox", ["cat", "/data/f"], volumes=["pyvol:/data:ro"], name="pyvoluser")
user.start()
eq(user.wait()["StatusCode"], 0, "reader exit")
eq(user.logs(), b"kept\n", "content of the volume")
e = raises(docker.errors.APIError, v.remove, "remove of a volume in use")
eq(e.status_code, 409, "status of removing a volume in use")
contains(e.explanation, "volume is in use", "volume in use message")
c.volumes.create("pydangling")
# As Docker since API 1.42: prune takes anonymous volumes only, named ones with all=true.
eq(c.volumes.prune()["VolumesDeleted"] or [], [], "prune without all")
pruned = c.volumes.prune(filters={"all": "true"})
contains(pruned["VolumesDeleted"] or [], "pydangling", "pruned volumes")
if "pyvol" in (pruned["VolumesDeleted"] or []):
    raise AssertionError("prune removed a volume in use")
user.remove()
v.remove()
e = raises(docker.errors.NotFound, lambda: c.volumes.get("pyvol"), "get of a removed volume")
contains(e.explanation, "no such volume", "missing volume message")

# Networks: a user bridge, name resolution between containers, connect and disconnect.
n = c.networks.create("pynet", driver="bridge", labels={"team": "py"})
eq([x.id for x in c.networks.list(names=["pynet"])], [n.id], "network list by name")
eq(n.attrs["Labels"], {"team": "py"}, "network labels")
contains([x.name for x in c.networks.list()], "bridge", "default networks")
srv = c.containers.run("busybox", ["sh", "-c", "echo hi > /tmp/i; exec httpd -f -p 8080 -h /tmp"],
                       detach=True, name="pysrv", network="pynet")
# An HTTP GET by name with nc (Debian's static busybox wget crashes).
get = ["sh", "-c", "printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 3 pysrv 8080"]
got = b""
for _ in range(50):
    got = c.containers.run("busybox", get, network="pynet", remove=True)
    if got.endswith(b"\r\n\r\nhi\n"):
        break
    time.sleep(0.2)
contains(got, b"200 OK", "a container reaching another by name")
if not got.endswith(b"\r\n\r\nhi\n"):
    raise AssertionError(f"body from pysrv: {got!r}")
other = c.containers.run("busybox", ["sleep", "60"], detach=True, name="pyother")
n.connect(other, aliases=["buddy"])
n.reload()
eq(sorted(x.name for x in n.containers), ["pyother", "pysrv"], "containers on the network")
other.reload()
contains(other.attrs["NetworkSettings"]["Networks"], "pynet", "networks of the connected container")
srv.reload()
srv_ip = srv.attrs["NetworkSettings"]["Networks"]["pynet"]["IPAddress"]
r = other.exec_run(["sh", "-c", get[2].replace("pysrv", srv_ip)])
if not (r.exit_code == 0 and r.output.endswith(b"\r\n\r\nhi\n")):
    raise AssertionError(f"the connected container reaching the server: {r}")
n.disconnect(other)
n.reload()
eq([x.name for x in n.containers], ["pysrv"], "containers after disconnect")
e = raises(docker.errors.APIError, n.remove, "remove of a network in use")
contains(e.explanation, "active endpoints", "network in use message")
srv.remove(force=True)
other.remove(force=True)
n.remove()
e = raises(docker.errors.NotFound, lambda: c.networks.get("pynet"), "get of a removed network")
contains(e.explanation, "pynet", "missing network message")

# Events since the start of this script, until now.
time.sleep(1)
until = int(time.time()) + 1
evs = list(c.events(since=since, until=until, decode=True))
acts = lambda typ, name: [ev["Action"] for ev in evs if ev["Type"] == typ and
                          ev["Actor"]["Attributes"].get("name") == name]
pysrv = acts("container", "pysrv")
for a in ("create", "start", "kill", "die", "destroy"):
    contains(pysrv, a, "events of pysrv")
if pysrv.index("create") > pysrv.index("start") or pysrv.index("die") > pysrv.index("destroy"):
    raise AssertionError(f"events out of order: {pysrv}")
# Filters: by type and by container name (tug publishes container events only for now).
only = list(c.events(since=since, until=until, decode=True,
                     filters={"type": "container", "container": "pysrv"}))
eq([ev["Action"] for ev in only], pysrv, "events filtered by type and container")
for ev in evs:
    if not (since <= ev["time"] <= until):
        raise AssertionError(f"event outside since/until: {ev}")
done()
