"""A run's legend is worded in the reader's language, whoever started it."""
from dataclasses import replace

from cnnviz.data import load_mnist
from cnnviz.model import NETWORK_PRESETS
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import TrainingJob
from cnnviz.training.limiter import JobLimiter
from cnnviz.training.registry import Run
from cnnviz.pages.train_live import curves
from cnnviz.training.status import run_label

MODEL = NETWORK_PRESETS["default"]
TRAINING = TrainConfig(epochs=3, subset=2000)


def test_run_label_in_each_language():
    convs = "-".join(str(b.channels) + ("bn" if b.batch_norm else "") for b in MODEL.blocks)
    hidden = "-".join(map(str, MODEL.hidden))
    head = f"conv {convs} · fc {hidden} · {TRAINING.optimizer} lr {TRAINING.lr:g} · "
    assert run_label(MODEL, TRAINING, "en") == head + "3 ep, 2000 imgs"
    assert run_label(MODEL, TRAINING, "zh") == head + "3 轮，2000 张图"
    assert "fc 无 ·" in run_label(replace(MODEL, hidden=()), TRAINING, "zh")
    assert "fc none ·" in run_label(replace(MODEL, hidden=()), TRAINING, "en")


def test_a_run_started_in_english_reads_in_chinese_on_a_chinese_page():
    job = TrainingJob(MODEL, TRAINING, load_mnist, JobLimiter(1), label=run_label(MODEL, TRAINING, "en"))
    current, previous = curves(Run("run", job), job.snapshot(), "zh")
    assert current.label.endswith("· 3 轮，2000 张图") and "ep" not in current.label.split("·")[-1]
    assert previous == []
