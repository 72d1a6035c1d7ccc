"""PyTorch code export: the exported file runs, has the app's parameters, and computes what the app's model does."""
from dataclasses import replace

import pytest
import torch

from cnnviz.export import pytorch_code
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model, summarize
from cnnviz.train import TrainConfig, preset_recipe

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
    assert sum(p.numel() for p in net.parameters()) == sum(r.params for r in summarize(cfg))
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
    assert 0.0 <= code["accuracy"](model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) <= 1.0


def test_the_file_says_what_it_is():
    code = pytorch_code(NETWORK_PRESETS["classic"], TrainConfig(optimizer="sgd", lr=0.001, batch_size=64, epochs=5),
                        label="classic tutorial CNN")
    assert code.startswith('"""A CNN exported from cnnviz (classic tutorial CNN).')
    assert "220,234 trainable parameters" in code and "momentum=0.9" in code and "batch_size=64" in code


def test_a_network_that_cannot_be_built_is_refused():
    with pytest.raises(ValueError, match="block 4 shrinks"):
        pytorch_code(replace(NETWORK_PRESETS["default"], blocks=(ConvBlock(kernel_size=3, padding=0, pool="max"),) * 4),
                     TrainConfig())


@pytest.mark.parametrize("name", sorted(NETWORK_PRESETS))
def test_each_preset_exports_with_its_own_recipe(name):
    recipe = preset_recipe(name)
    code = pytorch_code(NETWORK_PRESETS[name], recipe, label=name)
    params = sum(r.params for r in summarize(NETWORK_PRESETS[name]))
    assert f"{params:,} trainable parameters" in code
    assert f"epochs={recipe.epochs}, batch_size={recipe.batch_size}" in code
    optimizer = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}[recipe.optimizer]
    assert f"torch.optim.{optimizer}(model.parameters(), lr={recipe.lr!r}" in code
    namespace = {"__name__": "exported"}
    exec(compile(code, f"{name}.py", "exec"), namespace)
    assert sum(p.numel() for p in namespace["Net"]().parameters()) == params

