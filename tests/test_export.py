"""PyTorch code export: the exported file runs, has the app's parameters, and computes what the app's model does."""
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from cnnviz.data import DEFAULT_DIR, ENV_DIR, load_mnist
from cnnviz.export import pytorch_code
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model, summarize
from cnnviz.training.checkpoints import save_checkpoint
from cnnviz.training.config import TrainConfig, preset_recipe
from cnnviz.training.loop import evaluate, iter_training

CONFIGS = [*NETWORK_PRESETS.values(),
           ModelConfig(blocks=(ConvBlock(4, 5, 0, 1, "tanh", False, "avg", 2), ConvBlock(6, 3, 2, 2, "gelu", True, "none")),
                       hidden=(), dropout=0.25),
           ModelConfig(blocks=(ConvBlock(8, 3, 1, 1, "leaky_relu", True, "max", 3),), hidden=(32, 24, 16))]


def exported(cfg: ModelConfig, train_cfg: TrainConfig = TrainConfig()) -> dict:
    namespace = {"__name__": "exported"}  # not "__main__": main() would download MNIST
    exec(compile(pytorch_code(cfg, train_cfg, label="test"), "exported.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("cfg", CONFIGS)
def test_the_exported_network_is_the_apps_network(cfg):
    net = exported(cfg)["Net"]()
    app = build_model(cfg, seed=3)
    assert sum(p.numel() for p in net.parameters()) == summarize(cfg).total_params
    net.load_state_dict(app.state_dict())  # same names and shapes: an app checkpoint's weights load as they are
    net.eval(), app.eval()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(net(x), app(x))


@pytest.mark.parametrize(("optimizer", "schedule"), [("sgd", "constant"), ("adam", "cosine"), ("adamw", "onecycle"),
                                                    ("rmsprop", "constant")])
def test_the_exported_training_loop_runs(optimizer, schedule):
    code = exported(NETWORK_PRESETS["tiny"], TrainConfig(optimizer=optimizer, schedule=schedule, lr=0.05,
                                                         batch_size=16, epochs=1))
    model = code["Net"]()
    before = [p.detach().clone() for p in model.parameters()]
    code["train"](model, torch.randn(40, 1, 28, 28), torch.randint(0, 10, (40,)))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it learned something
    assert 0 <= code["correct"](model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) <= 8


def test_the_file_says_what_it_is():
    code = pytorch_code(NETWORK_PRESETS["classic"], TrainConfig(optimizer="sgd", lr=0.001, batch_size=64, epochs=5),
                        label="classic tutorial CNN")
    assert code.startswith('"""A CNN exported from cnnviz (classic tutorial CNN).')
    assert "220,234 trainable parameters" in code and "momentum=0.9" in code and "batch_size=64" in code
    assert 'model = load_checkpoint("cnnviz-mnist.pt")' in code  # how to load the Train page's checkpoint
    assert "if 0" not in code


def test_a_network_that_cannot_be_built_is_refused():
    with pytest.raises(ValueError, match="block 4 shrinks"):
        pytorch_code(replace(NETWORK_PRESETS["default"], blocks=(ConvBlock(kernel_size=3, padding=0, pool="max"),) * 4),
                     TrainConfig())


@pytest.mark.parametrize("name", sorted(NETWORK_PRESETS))
def test_each_preset_exports_with_its_own_recipe(name):
    recipe = preset_recipe(name)
    code = pytorch_code(NETWORK_PRESETS[name], recipe, label=name)
    params = summarize(NETWORK_PRESETS[name]).total_params
    assert f"{params:,} trainable parameters" in code
    assert f"epochs={recipe.epochs}, batch_size={recipe.batch_size}" in code
    optimizer = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[recipe.optimizer]
    assert f"torch.optim.{optimizer}(model.parameters(), lr={recipe.lr!r}" in code
    namespace = {"__name__": "exported"}
    exec(compile(code, f"{name}.py", "exec"), namespace)
    assert sum(p.numel() for p in namespace["Net"]().parameters()) == params



# A sitecustomize that makes torchvision unimportable in every Python started with its folder on PYTHONPATH, so the
# exported file is tested as it runs on a machine with PyTorch alone, whatever this environment holds.
_NO_TORCHVISION = """
import sys


class NoTorchvision:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torchvision":
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, NoTorchvision())
"""


def run_exported(folder, code: str, *args: str) -> subprocess.CompletedProcess:
    """``python cnnviz_net.py ARGS`` in ``folder``, with PyTorch but no torchvision, one thread."""
    (folder / "cnnviz_net.py").write_text(code)
    (folder / "no_torchvision").mkdir(exist_ok=True)
    (folder / "no_torchvision" / "sitecustomize.py").write_text(_NO_TORCHVISION)
    env = {**os.environ, "PYTHONPATH": str(folder / "no_torchvision"), "OMP_NUM_THREADS": "1"}
    env.pop(ENV_DIR, None)
    return subprocess.run([sys.executable, "cnnviz_net.py", *args], cwd=folder, env=env, capture_output=True,
                          text=True)


def correct_of(result: subprocess.CompletedProcess) -> tuple[int, int]:
    """(correct, images) from the exported file's last line, "... test accuracy 87.30% (873 of 1000)"."""
    assert result.returncode == 0, result.stderr
    found = re.fullmatch(r".*test accuracy [0-9.]+% \((\d+) of (\d+)\)", result.stdout.splitlines()[-1])
    assert found, result.stdout
    return int(found[1]), int(found[2])


@pytest.mark.slow
def test_the_exported_file_asks_for_torchvision_only_when_told_and_says_what_to_do_without_it(tmp_path):
    code = pytorch_code(NETWORK_PRESETS["tiny"], TrainConfig(epochs=1))
    told = run_exported(tmp_path, code, "--torchvision")
    assert told.returncode == 1  # the test's environment really has no torchvision
    assert told.stderr.strip() == ("torchvision is not installed: give the folder of MNIST's IDX files instead "
                                   "(python cnnviz_net.py path/to/mnist), or pip install torchvision")
    nowhere = run_exported(tmp_path, code)
    assert nowhere.returncode == 2 and "say where MNIST's IDX files are" in nowhere.stderr


@pytest.mark.slow
def test_the_exported_file_trains_offline_and_reads_the_apps_checkpoint_as_the_app_does(tmp_path):
    mnist = load_mnist()
    model = build_model(NETWORK_PRESETS["tiny"], seed=0)
    train_cfg = TrainConfig(subset=512, batch_size=64, epochs=1, eval_every=0, seed=0, device="cpu")
    for _ in iter_training(NETWORK_PRESETS["tiny"], train_cfg, mnist, model=model):
        pass
    (tmp_path / "cnnviz-mnist.pt").write_bytes(save_checkpoint(model, NETWORK_PRESETS["tiny"], train_cfg))
    app = evaluate(model, mnist.test_images[:1000], mnist.test_labels[:1000])
    code = pytorch_code(NETWORK_PRESETS["tiny"], replace(train_cfg, subset=0))

    trained = run_exported(tmp_path, code, str(DEFAULT_DIR), "--limit", "1000")
    assert trained.stdout.startswith("epoch 1: last batch loss ")
    assert correct_of(trained)[1] == 1000

    checked = run_exported(tmp_path, code, str(DEFAULT_DIR), "--limit", "1000", "--checkpoint", "cnnviz-mnist.pt")
    assert correct_of(checked) == (round(app.accuracy * 1000), 1000)
    assert checked.stdout.startswith("cnnviz-mnist.pt: test accuracy ")
