"""A hostile visitor's uploads (issue 27, items 3, 6 and 8): an image that claims gigabytes of
pixels is refused from its header, uploads are held to quotas per visitor and overall with the
unused ones cleaned up, and a full disk is a message that leaves nothing behind."""
import errno
import io
import json
import os
import struct
import threading
import time
import tomllib
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from playground.data import uploads
from playground.engine import inference
from tests.helpers import open_page, texts

ROOT = Path(__file__).resolve().parents[2]
A, B = "a" * 32, "b" * 32                    # two visitors' owner ids


@pytest.fixture
def hosted(home, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOSTED", "1")
    monkeypatch.setattr(uploads, "_pruned_at", 0.0)
    return home


def _text(k: int, repeat: int = 100) -> bytes:
    return (f"text number {k}. " + "the cat sat on the mat. " * repeat).encode()


def _age(text_id: str, seconds: float) -> None:
    """Make an upload (and who uploaded it) look `seconds` old."""
    when = time.time() - seconds
    for p in [uploads.path(text_id), *uploads.folder().glob(f"owners/{text_id}.*")]:
        os.utime(p, (when, when))


def _refer(store, text_id: str) -> str:
    """A run trained on the upload, as the form would queue it."""
    return store.create("transformer", {"task": "chars", "text_file": text_id})


def _png_claiming(width: int, height: int) -> bytes:
    """A real, tiny PNG of width x height black pixels (1 bit each, compressed away)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0,
                                                              0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if any pixels are decoded: what a bomb costs is the decode."""
    calls = []
    real = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self.size)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


# ---- 3. decompression bombs ------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("width, height, message", [
    (5000, 5000, "the image is 5,000 x 5,000 pixels; at most 16 megapixels are accepted"),
    (8000, 8000, "more than 32 megapixels; at most 16 megapixels are accepted"),
    (16000, 16000, "more than 32 megapixels; at most 16 megapixels are accepted"),
])
def test_a_small_png_claiming_huge_dimensions_is_refused_before_it_is_decoded(
        no_decoding, width, height, message):
    data = _png_claiming(width, height)
    assert len(data) < inference.MAX_UPLOAD_BYTES          # passes every check on its size
    inference.check_upload("bomb.png", len(data), data[:16])
    with pytest.raises(inference.BadImage, match=message):
        inference.to_input(data, (1, 16, 16), 0.0, 1.0, invert=False)
    assert no_decoding == []
    assert Image.MAX_IMAGE_PIXELS <= inference.MAX_PIXELS      # PIL's own check, everywhere


def test_a_large_photo_is_still_accepted(no_decoding):
    buf = io.BytesIO()
    Image.fromarray(np.full((3000, 4000, 3), 200, np.uint8)).save(buf, format="JPEG")
    x, seen = inference.to_input(buf.getvalue(), (1, 16, 16), 0.0, 1.0, invert=False)
    assert tuple(x.shape) == (1, 1, 16, 16) and seen.shape == (16, 16)
    assert no_decoding and max(w * h for w, h in no_decoding) <= 1000 * 750   # JPEG draft


def test_a_bomb_on_the_try_your_image_panel_is_an_error_box(home, store, no_decoding):
    from playground.labs import cnn
    from playground.params import to_dict

    cfg = cnn.Config()
    run_id = store.create("cnn", to_dict(cfg))
    store.save_model(run_id, cnn.blueprint(cfg)[0].state_dict())
    store.set_status(run_id, status="completed")
    at = open_page("app_pages/20_cnn.py", query={"run": run_id})
    assert not at.exception
    at.file_uploader(key="cnn._upload").set_value(
        ("bomb.png", _png_claiming(8000, 8000), "image/png")).run()
    assert not at.exception
    assert "at most 16 megapixels are accepted" in texts(at, "error")
    assert (8000, 8000) not in no_decoding


def test_the_server_limits_uploads_and_websocket_messages():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["maxUploadSize"] * 2**20 == uploads.MAX_BYTES
    assert 5 <= server["maxMessageSize"] <= 50            # Streamlit's default is 200 MB


# ---- 6. upload quotas and clean-up -----------------------------------------------------------

def test_a_visitor_past_their_quota_loses_their_oldest_unused_upload(hosted, store):
    ids = []
    for k in range(10):                                   # the hosted default: 10 per visitor
        ids.append(uploads.save(_text(k), owner=A)[0])
        _age(ids[-1], 100 - k)
    newest, _ = uploads.save(_text(10), owner=A)
    assert not uploads.path(ids[0]).exists()
    assert all(uploads.path(i).exists() for i in ids[1:] + [newest])


def test_a_visitor_whose_uploads_all_feed_runs_is_refused(hosted, store):
    ids = [uploads.save(_text(k), owner=A)[0] for k in range(10)]
    for i in ids:
        _refer(store, i)
    with pytest.raises(uploads.BadUpload, match="at most 10 of your uploaded files"):
        uploads.save(_text(10), owner=A)
    assert all(uploads.path(i).exists() for i in ids)
    other, _ = uploads.save(_text(10), owner=B)          # another visitor is not held to it
    assert uploads.path(other).exists()


def test_one_visitors_quota_never_deletes_a_file_another_visitor_uploaded(hosted, store):
    shared, _ = uploads.save(_text(0), owner=B)
    assert uploads.save(_text(0), owner=A)[0] == shared
    _age(shared, 1000)
    for k in range(1, 11):
        uploads.save(_text(k), owner=A)
    assert uploads.path(shared).exists()                 # still B's
    assert uploads.load(shared) == _text(0).decode()


def test_the_overall_quota_deletes_the_heaviest_uploaders_unused_files_first(
        hosted, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOADS_MB", "1")
    big = 9000                                            # ~216 KB a text: four fill 1 MB
    mine, _ = uploads.save(_text(0, big), owner=A)
    _age(mine, 500)                                       # the oldest file of all
    theirs = [uploads.save(_text(k, big), owner=B)[0] for k in range(1, 4)]
    for k, i in enumerate(theirs):
        _age(i, 400 - k)
    newest, _ = uploads.save(_text(9, big), owner=A)
    assert uploads.path(mine).exists() and uploads.path(newest).exists()
    assert not uploads.path(theirs[0]).exists()
    assert all(uploads.path(i).exists() for i in theirs[1:])


def test_the_overall_quota_refuses_when_every_file_feeds_a_run(hosted, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOADS_MB", "1")
    kept = [uploads.save(_text(k, 9000), owner=B)[0] for k in range(4)]
    for i in kept:
        _refer(store, i)
    with pytest.raises(uploads.BadUpload, match="at most 1 MB of uploaded files"):
        uploads.save(_text(9, 9000), owner=A)
    assert all(uploads.path(i).exists() for i in kept)


def test_unused_uploads_are_pruned_after_the_grace_period_and_used_ones_kept(home, store):
    old, used, swept, fresh = (uploads.save(_text(k), owner=A)[0] for k in range(4))
    for i in (old, used, swept):
        _age(i, uploads.GRACE_S + 60)
    _refer(store, used)
    sweeps = home / "sweeps"
    sweeps.mkdir()
    (sweeps / "20260101-000000-rnn-abcdef.json").write_text(
        json.dumps({"plan": {"fixed": {"text_file": swept}}}))
    assert uploads.prune() == [old]
    assert not uploads.path(old).exists() and not list(uploads.folder().glob(f"owners/{old}.*"))
    assert all(uploads.path(i).exists() for i in (used, swept, fresh))


def test_a_hosted_save_prunes_what_has_expired(hosted, store):
    old, _ = uploads.save(_text(0), owner=A)
    _age(old, uploads.GRACE_S + 60)
    uploads._pruned_at = 0.0
    uploads.save(_text(1), owner=B)
    assert not uploads.path(old).exists()


def test_outside_hosted_mode_nothing_is_refused_or_deleted(home, store):
    ids = []
    for k in range(15):
        ids.append(uploads.save(_text(k), owner=A)[0])
        _age(ids[-1], uploads.GRACE_S + 60)
    assert all(uploads.path(i).exists() for i in ids)


def test_the_form_refuses_an_upload_past_the_quota_in_an_error_box(hosted, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOADS_PER_VISITOR", "1")
    at = open_page("app_pages/60_transformer.py", {"task": "chars"})
    uploader = "transformer.text_file.file"
    at.file_uploader(key=uploader).set_value(("first.txt", _text(0), "text/plain")).run()
    first = at.session_state["transformer.text_file"]
    assert uploads.ID.fullmatch(first)
    _refer(store, first)
    at.file_uploader(key=uploader).set_value(("second.txt", _text(1), "text/plain")).run()
    assert not at.exception
    assert "This server keeps at most 1 of your uploaded files" in texts(at, "error")
    assert uploads.path(first).exists() and len(list(uploads.folder().glob("*.txt"))) == 1


# ---- 8. a full disk, concurrent uploads ------------------------------------------------------

@pytest.fixture
def full_disk(monkeypatch):
    """Writes into the uploads folder fail as on a full disk; everything else still writes."""
    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        where = os.readlink(f"/proc/self/fd/{fd}")
        return Full(f) if Path(where).parent == uploads.folder().resolve() else f

    monkeypatch.setattr(os, "fdopen", fdopen)


def test_an_upload_on_a_full_disk_is_a_message_and_leaves_no_temp_file(home, full_disk):
    with pytest.raises(uploads.BadUpload, match=r"could not store your file \(no space left "
                                                r"on device\)"):
        uploads.save(_text(0), owner=A)
    assert [p.name for p in uploads.folder().iterdir() if p.is_file()] == []


def test_the_form_shows_a_full_disk_in_an_error_box(home, store, full_disk):
    at = open_page("app_pages/60_transformer.py", {"task": "chars"})
    at.file_uploader(key="transformer.text_file.file").set_value(
        ("mine.txt", _text(0), "text/plain")).run()
    assert not at.exception
    assert "could not store your file (no space left on device)" in texts(at, "error")
    assert not [p for p in uploads.folder().iterdir() if p.is_file()]


def test_concurrent_uploads_of_the_same_and_other_texts_do_not_collide(home, monkeypatch):
    real = os.replace

    def slow_disk(src, dst, *args, **kwargs):
        if Path(dst).parent == uploads.folder():
            time.sleep(0.05)                              # every save is mid-write at once
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", slow_disk)
    raws = [_text(k % 2) for k in range(8)]
    start = threading.Barrier(len(raws))
    results, errors = {}, []

    def upload(k):
        start.wait()
        try:
            results[k] = uploads.save(raws[k], owner=f"{k:032x}")[0]
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(e))

    threads = [threading.Thread(target=upload, args=(k,)) for k in range(len(raws))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k, text_id in results.items():
        assert uploads.load(text_id) == raws[k].decode()
    assert sorted(p.name for p in uploads.folder().iterdir() if p.is_file()) == sorted(
        f"{i}.txt" for i in set(results.values()))
