"""Hostile checkpoints: sizes are checked in the archive's directory before anything unpacks, only cnnviz's own keys
are accepted, and a config over a cap gets the checkpoint's own message before anything is built. Every file here
is made in memory, small on disk."""
import io
import tracemalloc
import zipfile

import pytest
import torch

from apptest_kit import run_page
from cnnviz.model import LIMITS, NETWORK_PRESETS, build_model
from cnnviz.training.checkpoints import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint

TINY = NETWORK_PRESETS["tiny"]


def checkpoint(**changes) -> bytes:
    """A valid checkpoint of the tiny net, with ``changes`` to its top-level dict (None removes a key)."""
    payload = {"format": CHECKPOINT_FORMAT, "state_dict": build_model(TINY, seed=0).state_dict(),
               "model_config": TINY.to_dict(), "train_config": None, "metrics": {}, **changes}
    buffer = io.BytesIO()
    torch.save({k: v for k, v in payload.items() if v is not None}, buffer)
    return buffer.getvalue()


def with_padding(data: bytes, megabytes: int) -> bytes:
    """``data``'s archive plus a deflated entry of ``megabytes`` MB of zeros, written 1 MB at a time: the issue's
    586 KB file that held 550 MB, at a size a test can make."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        info = zipfile.ZipInfo(archive.namelist()[0].split("/")[0] + "/data/pad")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            for _ in range(megabytes):
                entry.write(bytes(1 << 20))
    return buffer.getvalue()


def test_a_small_file_that_unpacks_to_gigabytes_is_refused_before_unpacking(monkeypatch):
    data = with_padding(checkpoint(), 200)
    assert zipfile.ZipFile(io.BytesIO(data)).getinfo("archive/data/pad").compress_type == zipfile.ZIP_DEFLATED
    assert len(data) < 2_000_000 and sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()) > 200 << 20
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: pytest.fail("torch.load ran"))
    tracemalloc.start()
    with pytest.raises(CheckpointError, match=r"unpacks to 200 MB, more than .* \(84 MB, the server's cap\)"):
        load_checkpoint(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * len(data)  # the archive's bytes are read, none of what they unpack to


def test_a_huge_pickle_is_refused_before_unpickling():
    data = checkpoint(metrics={"notes": "x" * (LIMITS.max_checkpoint_pickle_bytes + 1)})  # + the rest: 1,026 KB
    with pytest.raises(CheckpointError, match=r"settings unpack to 1,026 KB, more than cnnviz reads \(1,024 KB"):
        load_checkpoint(data)


def nested(depth: int) -> list:
    """[[[...]]] ``depth`` lists deep: deeper than any setting cnnviz saves."""
    inner: list = []
    for _ in range(depth):
        inner = [inner]
    return inner


@pytest.mark.parametrize(("changes", "names"), [({"pad": torch.zeros(16, dtype=torch.uint8)}, "pad"),
                                                ({"pad": 1, "extra": "x"}, "extra, pad"),
                                                ({"metrics": {"pad": torch.zeros(4)}}, "metrics"),
                                                ({"metrics": {"deep": nested(40)}}, "metrics")])
def test_only_cnnviz_keys_are_accepted(changes, names):
    with pytest.raises(CheckpointError, match=rf"holds data cnnviz does not save \({names}\)"):
        load_checkpoint(checkpoint(**changes))


@pytest.mark.parametrize(("field", "value", "match"), [
    ("channels", 10**9, "block 1: channels can be at most 256"), ("input_size", 10**9, "input_size can be at most 64"),
    ("channels", 1e9, "channels must be an int"), ("input_size", 1e9, "input_size must be an int")])
def test_a_config_over_a_cap_gets_the_checkpoints_own_error_and_builds_nothing(monkeypatch, field, value, match):
    config = TINY.to_dict()
    if field == "channels":
        config["blocks"][0]["channels"] = value
    else:
        config[field] = value
    data = checkpoint(model_config=config)
    monkeypatch.setattr(torch.nn.Conv2d, "__init__", lambda *args, **kwargs: pytest.fail("a layer was built"))
    with pytest.raises(CheckpointError, match=f"The checkpoint's model config is invalid: .*{match}"):
        load_checkpoint(data)


def test_malformed_configs_and_weights_get_the_checkpoints_own_error():
    with pytest.raises(CheckpointError, match="model config is invalid"):
        load_checkpoint(checkpoint(model_config={"blocks": [1, 2]}))
    state = {name: [0.0] for name in build_model(TINY).state_dict()}
    with pytest.raises(CheckpointError, match="wrong shape for"):
        load_checkpoint(checkpoint(state_dict=state))


def test_a_saved_checkpoint_still_loads():
    model = build_model(NETWORK_PRESETS["four_conv"], seed=1)
    loaded, cfg, info = load_checkpoint(save_checkpoint(model, NETWORK_PRESETS["four_conv"], metrics={"a": 1}))
    assert cfg == NETWORK_PRESETS["four_conv"] and info["metrics"] == {"a": 1}
    torch.testing.assert_close(loaded.state_dict()["classifier.1.weight"], model.state_dict()["classifier.1.weight"])


def test_the_upload_gets_the_checkpoints_error_on_the_page():
    app = run_page("train")
    config = TINY.to_dict()
    config["input_size"] = 10**9
    for name, data, expected in (("bomb.pt", with_padding(checkpoint(), 100), "unpacks to 100 MB"),
                                 ("huge.pt", checkpoint(model_config=config), "input_size can be at most 64")):
        app.file_uploader(key="train_ckpt").upload(name, data, "application/octet-stream").run()
        shown = app.error[0].value.replace("\\", "")  # the page escapes the quoted values' markdown (input\\_size)
        assert not app.exception and expected in shown, name
        assert "Something went wrong" not in app.error[0].value


def test_the_inspectors_upload_gets_the_checkpoints_error():
    app = run_page("inspector", query={"src": "mnist", "i": "0"})
    config = TINY.to_dict()
    config["blocks"][0]["channels"] = 10**9
    app.file_uploader(key="insp_ckpt").upload("huge.pt", checkpoint(model_config=config), "application/octet-stream").run()
    assert not app.exception
    assert any("model config is invalid" in e.value and "channels can be at most 256" in e.value for e in app.error)
    assert not any("Something went wrong" in e.value for e in app.error)
