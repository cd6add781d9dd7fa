"""docker-py's images API against tug: pull from a registry, list, tag, push, history, save and
load, remove, and the errors users see.
Usage: images.py BASE_URL IMAGE_REF REGISTRY_ADDR"""
import io
import json
import sys
import tarfile

import docker

from tugpy import client, contains, done, eq, raises

c = client()
ref, reg = sys.argv[2], sys.argv[3]
repo, tag = ref.rsplit(":", 1)
copy = f"{reg}/py/copy:v2"

img = c.images.pull(repo, tag=tag)
eq(img.tags, [ref], "tags after pull")
eq([i.id for i in c.images.list(name=repo)], [img.id], "list by name")
eq(c.images.get(ref).id, img.id, "get")
eq(c.images.get(img.short_id).id, img.id, "get by short id")
eq(img.attrs["Architecture"], "amd64", "architecture")
if not img.history():
    raise AssertionError("empty history")

# Tag, push, and pull back what was pushed.
eq(img.tag(f"{reg}/py/copy", "v2"), True, "tag")
img.reload()
eq(sorted(img.tags), sorted([ref, copy]), "tags after tag")
progress = list(c.images.push(f"{reg}/py/copy", tag="v2", stream=True, decode=True))
errors = [p for p in progress if "error" in p or "errorDetail" in p]
eq(errors, [], "push errors")
if not any("digest: sha256:" in p.get("status", "") for p in progress):
    raise AssertionError(f"push reported no digest: {progress}")
c.images.remove(copy)
img.reload()
eq(img.tags, [ref], "tags after removing one")
eq(c.images.pull(f"{reg}/py/copy", tag="v2").id, img.id, "pull of the pushed image")
c.images.remove(copy)

# save and load.
data = b"".join(img.save(named=True))
with tarfile.open(fileobj=io.BytesIO(data)) as tf:
    manifest = json.load(tf.extractfile("manifest.json"))
eq([m["RepoTags"] for m in manifest], [[ref]], "RepoTags of the saved archive")
c.images.remove(ref)
e = raises(docker.errors.ImageNotFound, lambda: c.images.get(ref), "get after remove")
contains(e.explanation, f"No such image: {ref}", "missing image message")
eq(c.images.list(), [], "images after remove")
loaded = c.images.load(data)
eq([i.id for i in loaded], [img.id], "loaded images")
eq(c.images.get(ref).tags, [ref], "tags after load")

# Errors.
e = raises(docker.errors.ImageNotFound, lambda: c.images.remove("nosuch:1"), "remove missing")
contains(e.explanation, "No such image: nosuch:1", "remove missing message")
e = raises(docker.errors.APIError, lambda: c.images.pull(f"{reg}/py/missing", tag="v1"),
           "pull of a missing image")
eq(e.status_code, 404, "status of a missing image's pull")
contains(e.explanation, "not found", "missing image pull message")
ctr = c.containers.create(ref, ["true"], name="pyuser")
e = raises(docker.errors.APIError, lambda: c.images.remove(ref), "remove of an image in use")
eq(e.status_code, 409, "status of removing an image in use")
contains(e.explanation, "conflict", "image in use message")
ctr.remove()
c.images.remove(ref)
eq(c.images.list(all=True), [], "images at the end")
done()
