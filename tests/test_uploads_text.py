"""A visitor's own text for the character models: checked (empty, binary, not UTF-8, too short,
too large), stored once under its fingerprint, trained on by the worker's loop, refused in a
script export, and a run whose text is gone says to upload it again."""
import pytest

from playground import export, params, registry
from playground.data import uploads
from playground.engine import loop
from playground.labs import rnn, transformer
from tests.helpers import open_page

TEXT = ("the cat sat on the mat. the dog sat on the log. " * 80).encode()


@pytest.mark.parametrize("raw, message", [
    (b"", "The file is empty"),
    (b"  \n\n ", "The file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(3000), "not a text file"),
    ("caf\u00e9 ".encode("latin-1") * 600, "not UTF-8 text"),
    (b"too short", "at least 2,000"),
    ("".join(chr(0x4e00 + i) for i in range(400)).encode() * 6, "400 different characters"),
])
def test_bad_uploads_are_refused_with_a_message(home, raw, message):
    with pytest.raises(uploads.BadUpload, match=message):
        uploads.save(raw)
    assert not uploads.folder().exists() or not list(uploads.folder().iterdir())


def test_too_large_for_the_limit(home):
    with pytest.raises(uploads.BadUpload, match="at most 1 MB"):
        uploads.save(TEXT * 300, max_bytes=uploads.HOSTED_MAX_BYTES)


def test_a_text_is_stored_once_under_its_fingerprint(home):
    a, info = uploads.save(TEXT)
    b, _ = uploads.save(b"\xef\xbb\xbf" + TEXT.replace(b". ", b".\r\n"))    # BOM, CRLF
    assert info == {"chars": len(TEXT), "distinct": len(set(TEXT.decode()))}
    assert uploads.ID.fullmatch(a) and a != b
    assert "\r" not in uploads.load(b)
    a2, _ = uploads.save(TEXT)
    assert a2 == a and len(list(uploads.folder().iterdir())) == 2


@pytest.mark.parametrize("lab, overrides", [
    (transformer, {"task": "chars", "context": 16, "steps": 30, "d_model": 32}),
    (rnn, {"task": "chars", "seq_len": 16, "steps": 30, "hidden_size": 32})])
def test_a_char_model_trains_on_an_uploaded_text(home, store, lab, overrides):
    text_id, _ = uploads.save(TEXT)
    cfg, errors = registry.parse_config(lab, {**overrides, "text_file": text_id})
    assert not errors, errors
    data = lab.load_data(cfg)
    assert set(data.classes) == set(TEXT.decode()) and data.name == f"upload:{text_id}"
    name = lab.__name__.rsplit(".", 1)[-1]
    run_id = store.create(name, params.to_dict(cfg))
    result = loop.run(lab, cfg, run_id, store)
    assert result.status == "completed", result.message
    with pytest.raises(export.NotExportable, match="uploaded text"):
        export.script(name, params.to_dict(cfg))
    assert "def _own_text(cfg):\n    return None" in export.script(
        name, params.to_dict(lab.Config(**{**overrides, "steps": 30})))
    # the text removed (another server): the run fails with what to do, not a traceback
    uploads.path(text_id).unlink()
    again = store.create(name, params.to_dict(cfg))
    result = loop.run(lab, cfg, again, store)
    assert result.status == "failed" and "upload the file again" in result.message


def test_a_bad_id_in_a_link_is_refused():
    cfg, errors = registry.parse_config(transformer, {"text_file": "../../etc/passwd"})
    assert cfg is None and any("is not an uploaded file" in e for e in errors), errors


def test_the_page_stores_an_upload_and_trains_on_it(home, store):
    at = open_page("app_pages/60_transformer.py", {"task": "chars", "context": "16",
                                                   "steps": "5", "d_model": "32"})
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "Upload nothing private" in captions


def test_word2vec_learns_from_an_uploaded_text(home, store):
    from playground.labs import word2vec

    cfg, errors = registry.parse_config(word2vec, {"corpus": "upload"})
    assert cfg is None and any("upload a .txt file first" in e for e in errors), errors
    text = " ".join(f"the {a} chased the {b}. a {a} is an animal. the {b} ran away!\n"
                    for a, b in [("dog", "cat"), ("cat", "mouse"), ("fox", "hen")] * 80)
    text_id, _ = uploads.save(text.encode())
    cfg, errors = registry.parse_config(word2vec, {"corpus": "upload", "text_file": text_id,
                                                   "min_count": 2, "epochs": 2})
    assert not errors, errors
    data = word2vec.load_data(cfg)
    assert {"dog", "cat", "chased", "animal"} <= set(data.classes)
    assert len(data.test[0]) == 0                        # no analogy questions to score
    facts = word2vec.overview(cfg)["corpus"]["data"]
    assert "your uploaded text" in facts and "the dog chased the cat" in facts
    run_id = store.create("word2vec", params.to_dict(cfg))
    assert loop.run(word2vec, cfg, run_id, store).status == "completed"
    with pytest.raises(export.NotExportable, match="uploaded text"):
        export.script("word2vec", params.to_dict(cfg))


def test_the_server_takes_no_more_than_the_largest_upload_a_page_accepts():
    """One source per limit: Streamlit's own cap (and the "Limit N MB" it prints under every
    uploader) is the text uploads' limit, and the image uploader's is smaller still."""
    import tomllib
    from pathlib import Path

    from playground.data import uploads
    from playground.engine import inference

    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == uploads.MAX_BYTES
    assert inference.MAX_UPLOAD_BYTES <= uploads.MAX_BYTES
    assert uploads.limit_bytes(hosted=True) < uploads.limit_bytes(hosted=False)


def test_an_empty_points_file_asks_for_points_not_text():
    from playground.data import uploads

    with pytest.raises(uploads.BadUpload, match=r"\.csv file of x,y points"):
        uploads.decode(b"  \n", kind="csv")
