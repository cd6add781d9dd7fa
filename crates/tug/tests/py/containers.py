"""docker-py's containers API against tug: run attached and detached (environment, volumes,
published ports, restart policy, health check, labels), list filters, logs, exec, attach, stop,
kill, wait, stats, top, archives and the errors users see.
Usage: containers.py BASE_URL HOST_DIR HOST_PORT  (image busybox:latest with every applet)"""
import io
import sys
import tarfile
import time
import urllib.request

import docker
from docker.utils.socket import frames_iter

from tugpy import client, contains, done, eq, raises, until

c = client()
host_dir, port = sys.argv[2], int(sys.argv[3])

# Attached runs: output, environment, a failing command's exit status and stderr.
eq(c.containers.run("busybox", ["echo", "hello"], remove=True), b"hello\n", "attached run")
out = c.containers.run("busybox", ["sh", "-c", "echo $GREETING"],
                       environment={"GREETING": "hi there"}, remove=True)
eq(out, b"hi there\n", "environment")
# docker-py removes the container before it reads the log it follows: output written after the
# daemon's first look at the log must still arrive.
eq(c.containers.run("busybox", ["sh", "-c", "sleep 0.2; echo late"], remove=True), b"late\n",
   "output written after a pause")
e = raises(docker.errors.ContainerError,
           lambda: c.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True),
           "failing run")
eq(e.exit_status, 3, "exit status of a failing run")
contains(e.stderr, b"oops", "stderr of a failing run")
eq(c.containers.list(all=True), [], "containers after --rm runs")

# A detached web server with a named volume, a read-only bind, a published port, a restart
# policy, a health check and labels.
c.volumes.create("pywww")
web = c.containers.run(
    "busybox",
    ["sh", "-c", "echo page > /www/index.html; echo started; exec httpd -f -p 80 -h /www"],
    detach=True, name="pyweb", environment=["MODE=web"],
    volumes={host_dir: {"bind": "/host", "mode": "ro"}, "pywww": {"bind": "/www", "mode": "rw"}},
    ports={"80/tcp": ("127.0.0.1", port)},
    restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    healthcheck={"test": ["CMD-SHELL", "test -f /www/index.html"], "interval": 200_000_000,
                 "timeout": 2_000_000_000, "retries": 3},
    labels={"app": "py"})
web.reload()
eq(web.status, "running", "status of the detached container")
eq(web.name, "pyweb", "name")
contains(web.attrs["Config"]["Env"], "MODE=web", "Config.Env")
eq(web.attrs["HostConfig"]["RestartPolicy"], {"Name": "on-failure", "MaximumRetryCount": 2},
   "restart policy")
eq(web.labels, {"app": "py"}, "labels")
eq(web.ports["80/tcp"][0]["HostPort"], str(port), "published port")


def health():
    web.reload()
    return web.attrs["State"].get("Health", {}).get("Status") == "healthy"


until(health, "the health check to pass")


def fetch():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2).read()
    except OSError:
        return None


eq(until(fetch, "the published port"), b"page\n", "page through the published port")
eq(until(lambda: web.logs(), "first log line"), b"started\n", "logs")
r = web.exec_run(["cat", "/host/greeting"])
eq((r.exit_code, r.output), (0, b"from the host\n"), "bind mount read")
r = web.exec_run(["sh", "-c", "echo x > /host/new"])
if r.exit_code == 0:
    raise AssertionError("a read-only bind mount was written")
contains(r.output, b"Read-only file system", "write to a read-only bind")

# exec_run: plain (stdout and stderr together), demux, stream, tty, env/workdir/user.
r = web.exec_run(["sh", "-c", "echo out; sleep 0.2; echo err >&2; exit 4"])
eq((r.exit_code, r.output), (4, b"out\nerr\n"), "exec_run")
r = web.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
eq((r.exit_code, r.output), (0, (b"out\n", b"err\n")), "exec_run demux")
r = web.exec_run(["sh", "-c", "echo a; sleep 0.3; echo b"], stream=True)
eq(b"".join(r.output), b"a\nb\n", "exec_run stream")
r = web.exec_run(["sh", "-c", "test -t 1 && echo on a tty"], tty=True)
eq((r.exit_code, r.output), (0, b"on a tty\r\n"), "exec_run tty")
r = web.exec_run(["sh", "-c", "echo $X $(pwd) $(id -u)"], environment={"X": "y"},
                 workdir="/tmp", user="1000")
eq(r.output, b"y /tmp 1000\n", "exec_run environment, workdir, user")

# stats and top.
s = web.stats(stream=False)
eq(s["name"], "/pyweb", "stats name")
for k in ("cpu_stats", "precpu_stats", "memory_stats", "pids_stats"):
    contains(s, k, "stats keys")
if not s["memory_stats"].get("usage"):
    raise AssertionError(f"no memory usage in stats: {s['memory_stats']}")
t = web.top()
contains(t["Titles"], "PID", "top titles")
if not any("httpd" in " ".join(p) for p in t["Processes"]):
    raise AssertionError(f"httpd not in top: {t}")

# Archives.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    data = b"put by docker-py\n"
    info = tarfile.TarInfo("hello.txt")
    info.size = len(data)
    info.mode = 0o640
    tf.addfile(info, io.BytesIO(data))
eq(web.put_archive("/tmp", buf.getvalue()), True, "put_archive")
eq(web.exec_run(["cat", "/tmp/hello.txt"]).output, b"put by docker-py\n", "file put")
stream, stat = web.get_archive("/tmp/hello.txt")
eq((stat["name"], stat["size"]), ("hello.txt", 17), "get_archive stat")
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
    m = tf.getmember("hello.txt")
    eq((tf.extractfile(m).read(), m.mode & 0o777), (b"put by docker-py\n", 0o640), "archive content")
e = raises(docker.errors.NotFound, lambda: web.get_archive("/no/such/file"), "get_archive missing")
contains(e.explanation, "/no/such/file", "get_archive missing message")

# Logs streamed and followed until the container exits.
lines = c.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"],
                         detach=True, name="pylines")
eq(b"".join(lines.logs(stream=True, follow=True)), b"line1\nline2\nline3\n", "logs follow")
eq(lines.wait(), {"StatusCode": 0, "Error": None}, "wait")
last = lines.logs(tail=1, timestamps=True)
if not (last.endswith(b" line3\n") and last[:4].isdigit()):
    raise AssertionError(f"tail=1 with timestamps: {last!r}")

# Attach: a socket with stdin, and attach(stream=True, logs=True).
rd = c.containers.create("busybox", ["sh", "-c", "read l; echo got $l; echo bye >&2"],
                         stdin_open=True, name="pyread")
sock = rd.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
rd.start()
sock._sock.sendall(b"ping\n")
got = {1: b"", 2: b""}
for stream_no, data in frames_iter(sock, tty=False):
    got[stream_no] += data
sock.close()
eq(got, {1: b"got ping\n", 2: b"bye\n"}, "attach socket")
eq(rd.wait()["StatusCode"], 0, "exit after attach")
# logs=True: what was written before attaching (here: once it is in the log), then live.
at = c.containers.run("busybox", ["sh", "-c", "echo a; sleep 1; echo b"], detach=True)
until(lambda: at.logs() == b"a\n", "the first line in the log")
eq(b"".join(at.attach(stream=True, logs=True)), b"a\nb\n", "attach stream")
# docker-py reads an attach stream from the raw socket beneath its HTTP parser: a client slow
# to parse the response head (here: 0.3 s) must still get the first frame.
lazy = c.containers.run("busybox", ["sh", "-c", "echo early; sleep 1"], detach=True)
until(lambda: lazy.logs() == b"early\n", "the line in the log")
import http.client, socket as socketmod
s = socketmod.socket(socketmod.AF_UNIX)
s.connect(sys.argv[1][len("unix://"):])
s.sendall(("POST /containers/%s/attach?logs=1&stream=1&stdout=1 HTTP/1.1\r\nHost: docker\r\n"
           "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n" % lazy.id).encode())
time.sleep(0.3)
resp = http.client.HTTPResponse(s)
resp.begin()
eq(resp.status, 101, "attach upgrade")
raw = resp.fp.raw
raw._sock.settimeout(10)
head = b""
while len(head) < 8:
    chunk = raw.read(8 - len(head))
    if not chunk:
        break
    head += chunk
eq(len(head), 8, "a frame header straight after the response head")
eq(raw.read(int.from_bytes(head[4:], "big")), b"early\n", "first frame of a slow client")
s.close()
lazy.remove(force=True)

# Restart policy: on-failure:2 restarts twice and then stays exited.
fl = c.containers.run("busybox", ["sh", "-c", "echo try; exit 1"], detach=True, name="pyfail",
                      restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})


def gave_up():
    fl.reload()
    return fl.attrs["RestartCount"] == 2 and fl.status == "exited"


until(gave_up, "on-failure:2 to give up")
time.sleep(1)
fl.reload()
eq((fl.attrs["RestartCount"], fl.status, fl.attrs["State"]["ExitCode"]), (2, "exited", 1),
   "after the retries")
eq(fl.logs(), b"try\ntry\ntry\n", "logs of every attempt")

# List filters.
names = lambda **kw: sorted(x.name for x in c.containers.list(**kw))
eq(names(), ["pyweb"], "running containers")
eq(names(filters={"label": "app=py"}), ["pyweb"], "label filter")
eq(names(all=True, filters={"name": "pyfail"}), ["pyfail"], "name filter")
eq(names(all=True, filters={"status": "exited"}), sorted([at.name, "pyfail", "pylines", "pyread"]),
   "status filter")
eq(names(filters={"health": "healthy"}), ["pyweb"], "health filter")
eq([x.id for x in c.containers.list(all=True, filters={"id": web.id[:12]})], [web.id], "id filter")

# Stop (TERM handled by the process), kill, and the errors.
st = c.containers.run("busybox", ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"],
                      detach=True, name="pystop")
time.sleep(0.3)
st.stop(timeout=10)
eq(st.wait()["StatusCode"], 7, "exit status after stop")
kl = c.containers.run("busybox", ["sleep", "60"], detach=True)
kl.kill()
eq(kl.wait()["StatusCode"], 137, "exit status after kill")
e = raises(docker.errors.APIError, web.remove, "remove of a running container")
eq(e.status_code, 409, "status of removing a running container")
contains(e.explanation, "running", "message of removing a running container")
web.remove(force=True)
e = raises(docker.errors.NotFound, lambda: c.containers.get("pyweb"), "get after remove")
contains(e.explanation, "No such container: pyweb", "missing container message")
e = raises(docker.errors.ImageNotFound, lambda: c.containers.create("nosuch:1"), "missing image")
contains(e.explanation, "No such image: nosuch:1", "missing image message")
e = raises(docker.errors.APIError,
           lambda: c.containers.create("busybox", ["true"], name="pystop"), "duplicate name")
eq(e.status_code, 409, "status of a duplicate name")
contains(e.explanation, "is already in use", "duplicate name message")
for x in c.containers.list(all=True):
    x.remove(force=True)
c.volumes.get("pywww").remove()
eq(c.containers.list(all=True), [], "containers at the end")
done()
