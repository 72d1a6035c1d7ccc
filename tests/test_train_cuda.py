"""Training on CUDA: the graphed steps against the eager ones. Runs only where a GPU is present (never in CI).

    python -m pytest tests/test_train_cuda.py    # on a GPU machine
"""
import pytest
import torch

from cnnviz import train
from cnnviz.data import load_mnist
from cnnviz.model import NETWORK_PRESETS, build_model
from cnnviz.train import TrainConfig, evaluate, iter_training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEFAULT = NETWORK_PRESETS["default"]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def run(mnist, **overrides):
    cfg = TrainConfig(device="cuda", subset=3000, batch_size=128, eval_every=0, seed=0, **overrides)
    model = build_model(DEFAULT, seed=0)
    records = list(iter_training(DEFAULT, cfg, mnist, model=model))
    return model, records


def test_graphed_steps_follow_the_eager_curve(mnist):
    # 3000 images in batches of 128: 23 full batches and one of 56, which runs the ordinary forward.
    graphed_model, graphed = run(mnist)
    eager_model, eager = run(mnist, cuda_graphs=False)
    losses = [[r.loss for r in records if r.kind == "step"] for records in (graphed, eager)]
    assert len(losses[0]) == len(losses[1]) == 24
    assert len(set(losses[0])) > 1  # each step's own loss: a graph's outputs are overwritten by its next replay
    # The same model from the same seed on the same batch: the first loss agrees to float32's precision. The kernels
    # are the same, but cuDNN may pick another algorithm during capture; on an H200 the next four losses differed by at
    # most 0.53%.
    assert losses[0][0] == pytest.approx(losses[1][0], rel=1e-5)
    assert losses[0][1:5] == pytest.approx(losses[1][1:5], rel=0.02)
    assert graphed[-1].kind == "done" and graphed[-1].test_accuracy == pytest.approx(eager[-1].test_accuracy, abs=0.01)
    # The warm-up steps of the capture are not counted in BatchNorm's statistics.
    for (name, a), (_, b) in zip(graphed_model.named_buffers(), eager_model.named_buffers()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-2, atol=1e-3), name


def test_the_model_is_left_as_it_was(mnist):
    model, _ = run(mnist)
    assert "forward" not in vars(model)  # the graphs wrap a step around it, not the model
    model.train()
    assert model(torch.zeros(7, 1, 28, 28, device="cuda")).shape == (7, 10)  # any batch size again
    assert evaluate(model, mnist.test_images[:50], mnist.test_labels[:50]).probabilities.shape == (50, 10)


def test_the_optimizer_is_fused_on_cuda():
    model = build_model(DEFAULT, seed=0).cuda()
    for name in ("sgd", "adam", "adamw"):
        optimizer = train._optimizer(model, TrainConfig(optimizer=name), torch.device("cuda"))
        assert optimizer.param_groups[0]["fused"], name
