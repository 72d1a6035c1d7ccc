"""Background training jobs: progress, pause/resume, stop, the process-wide limit, failures; worker processes."""
import os
import signal
import sys
import time
import types

import pytest
import torch

from cnnviz.data import load_mnist
from cnnviz.errors import UserError
from cnnviz.model import NETWORK_PRESETS, ConvBlock, ModelConfig, build_model
from cnnviz.training import spare as spare_module
from cnnviz.training import worker
from cnnviz.training.checkpoints import load_checkpoint, save_checkpoint
from cnnviz.training.config import TrainConfig
from cnnviz.training.job import TrainingJob
from cnnviz.training.limiter import JobLimiter, usable_cores, worker_threads
from cnnviz.training.loop import Metrics, evaluate
from cnnviz.training.registry import InProcessRegistry, RunRegistry
from cnnviz.training.spare import discard_spare, prepare_worker
from cnnviz.training.status import config_label

TINY = NETWORK_PRESETS["tiny"]


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(autouse=True)
def no_spare_worker():
    """Each test starts its workers itself unless it prepares a spare: one left by another test (a Train page draw
    prepares one) would otherwise take its first run."""
    discard_spare()
    yield
    discard_spare()


def make_job(limiter, **overrides) -> TrainingJob:
    values = dict(subset=2000, batch_size=32, epochs=1, eval_every=20, eval_slice=100)
    values.update(overrides)
    cfg = TrainConfig(**values)
    return TrainingJob(TINY, cfg, load_mnist, limiter, label=config_label(TINY, cfg))


# A run that outlasts any test on any machine (the tests stop it): 625 steps of the tiny net take only seconds on a
# fast box, long enough for a neighbour's run to end before a third has started.
LONG = dict(subset=20000, epochs=50)
ONE_EPOCH = LONG["subset"] // 32  # steps, at make_job's batch size


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_job_runs_to_done():
    job = make_job(JobLimiter(2), subset=256)
    job.start()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.state == "done"
    assert len(snap.steps) == 8 and snap.steps[-1].step == 8
    assert snap.evals[-1].kind == "done" and snap.evals[-1].test_accuracy is not None
    assert snap.label.startswith("conv 8-16")


@pytest.mark.slow
def test_pause_holds_progress_and_resume_continues():
    job = make_job(JobLimiter(2))
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 3)
    job.pause()
    assert job.snapshot().state == "paused"  # the page shows the pause at once
    # The worker's own word that it paused comes after every step it sent (one pipe, in order); until then a step
    # or two already under way may still arrive.
    wait_until(lambda: job.state == "paused")
    held = len(job.snapshot().steps)
    time.sleep(0.5)
    assert len(job.snapshot().steps) == held
    job.resume()
    wait_until(lambda: len(job.snapshot().steps) > held + 3)
    job.stop()
    assert job.snapshot().state == "stopped" and not job.alive


@pytest.mark.slow
def test_stop_ends_the_run_and_its_worker():
    job = make_job(JobLimiter(2), **LONG)
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 2)
    process = job._process
    job.stop()
    assert not job.alive and job.snapshot().state == "stopped"
    assert not process.is_alive()  # the worker process is gone too, not left training for nobody


@pytest.mark.slow
def test_a_worker_never_runs_the_apps_script(tmp_path, monkeypatch):
    # Under Streamlit, __main__ is the app script; a spawned child would run it again before training.
    script = tmp_path / "app.py"
    script.write_text("raise SystemExit(3)\n")
    app = types.ModuleType("__main__")
    app.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", app)
    job = make_job(JobLimiter(1), subset=64)
    job.start()
    assert job.wait(60)
    assert job.snapshot().state == "done", job.snapshot().message


@pytest.mark.slow
def test_limiter_queues_the_third_job():
    limiter = JobLimiter(2)
    jobs = [make_job(limiter, **LONG) for _ in range(3)]
    for job in jobs:
        job.start()
    wait_until(lambda: all(len(j.snapshot().steps) >= 1 for j in jobs[:2]))
    third = jobs[2].snapshot()
    assert third.state == "queued" and third.queue_position == 1 and not third.steps
    jobs[0].stop()
    wait_until(lambda: len(jobs[2].snapshot().steps) >= 1)
    assert limiter.running == 2
    for job in jobs[1:]:
        job.stop()
    assert limiter.running == 0


@pytest.mark.slow
def test_stopping_a_queued_job():
    limiter = JobLimiter(1)
    first, second = make_job(limiter, **LONG), make_job(limiter)
    first.start()
    second.start()
    wait_until(lambda: len(first.snapshot().steps) >= 1)
    second.stop()
    assert second.snapshot().state == "stopped" and not second.alive
    first.stop()


@pytest.mark.slow
def test_pause_resume_and_stop_answer_between_two_steps():
    # Each answer comes between two steps, not at the end of an epoch: waits are generous (the machine is shared),
    # and the run is still in its first epoch when Stop has answered.
    job = make_job(JobLimiter(1), **LONG)
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 2)
    job.pause()
    wait_until(lambda: job.snapshot().state == "paused")
    wait_until(lambda: job.state == "paused")  # the worker itself has stopped between two steps
    held = len(job.snapshot().steps)
    job.resume()
    wait_until(lambda: job.snapshot().state == "running" and len(job.snapshot().steps) > held)
    job.stop()
    wait_until(lambda: job.snapshot().state == "stopped")
    assert job.snapshot().steps[-1].step < ONE_EPOCH
    wait_until(lambda: not job.alive)


@pytest.mark.slow
def test_the_model_comes_back_from_the_worker(mnist):
    job = make_job(JobLimiter(1), subset=2000, batch_size=32, eval_every=0)
    job.start()
    initial = job.model  # looking asks the worker for its weights; the initial ones match its seed
    torch.testing.assert_close(initial.state_dict(), build_model(TINY, seed=job.train_cfg.seed).state_dict())
    wait_until(lambda: job.model is not initial or job.finished)  # a refreshed copy replaces it, never edits it
    torch.testing.assert_close(initial.state_dict(), build_model(TINY, seed=job.train_cfg.seed).state_dict())
    assert job.wait(60) and job.snapshot().state == "done"
    final = job.snapshot().evals[-1]
    # The worker evaluated its model on the full test set at the end; the copy here must score the same.
    assert evaluate(job.model, mnist.test_images, mnist.test_labels).accuracy == pytest.approx(final.test_accuracy,
                                                                                              abs=2e-4)


@pytest.mark.slow
def test_weights_come_back_as_a_state_dict_when_asked():
    job = make_job(JobLimiter(1), **LONG, eval_every=0)
    job.start()
    initial = build_model(TINY, seed=job.train_cfg.seed).state_dict()
    wait_until(lambda: len(job.snapshot().steps) >= 5)
    job.pause()
    wait_until(lambda: job.state == "paused")  # the worker itself holds between two steps
    trained = job.state_dict()
    assert trained.keys() == initial.keys()
    assert not torch.equal(trained["features.0.weight"], initial["features.0.weight"])  # fresh, not the seed's
    torch.testing.assert_close(job.state_dict(), trained)  # paused: asked again, the same weights
    trained["features.0.weight"].zero_()  # a copy: editing it leaves the run's model alone
    assert job.state_dict()["features.0.weight"].abs().sum() > 0
    job.stop()
    torch.testing.assert_close(job.state_dict(), job.model.state_dict())  # the last weights came back at the end


@pytest.mark.slow
def test_a_killed_worker_is_reported_and_the_server_lives_on():
    limiter = JobLimiter(1)
    job = make_job(limiter, **LONG)
    job.start()
    wait_until(lambda: job.worker_pid is not None and len(job.snapshot().steps) >= 1)
    os.kill(job.worker_pid, signal.SIGKILL)  # what the out-of-memory killer does
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.state == "failed" and snap.error.key == "error.worker.killed" and "SIGKILL" in snap.message
    assert limiter.running == 0  # its slot is free: the next run starts
    after = make_job(limiter, subset=64)
    after.start()
    assert after.wait(60) and after.snapshot().state == "done"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_error_inside_the_worker_is_reported():
    job = make_job(JobLimiter(1), subset=64, device="cuda")  # this torch has no CUDA: the worker raises
    job.start()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.state == "failed" and "CUDA" in snap.message


@pytest.mark.slow
def test_concurrent_runs_share_the_cores():
    limiter = JobLimiter(2)
    cores = usable_cores()
    first = make_job(limiter, **LONG)
    first.start()
    wait_until(lambda: first.threads >= 1)
    assert first.thread_budget == cores  # alone: every core, as the CLI
    second = make_job(limiter, **LONG)
    second.start()
    wait_until(lambda: len(second.snapshot().steps) >= 1)
    share = worker_threads(cores, 2)
    wait_until(lambda: first.thread_budget == second.thread_budget == share and first.threads <= share
               and second.threads <= share)
    assert limiter.running == 2
    second.stop()
    wait_until(lambda: first.thread_budget == cores)  # the freed cores come back
    first.stop()


def test_worker_threads_split_the_cores():
    assert [worker_threads(2, n) for n in (0, 1, 2, 3)] == [2, 2, 1, 1]
    assert [worker_threads(16, n) for n in (1, 2, 3)] == [16, 8, 5]


def test_weights_cross_as_bytes_and_leave_the_old_model_alone():
    source, target = build_model(TINY, seed=1), build_model(TINY, seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    fresh = worker.with_weights(target, worker.weights_bytes(source))
    torch.testing.assert_close(fresh.state_dict(), source.state_dict())
    torch.testing.assert_close(target.state_dict(), before)
    assert fresh is not target


def test_failure_messages_a_student_understands():
    assert worker.failure(MemoryError()).key == "error.worker.out_of_memory"
    oom = worker.failure(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1000000 bytes"))
    assert oom.key == "error.worker.out_of_memory" and "press Start" in str(oom) and "“开始”" in oom.message("zh")
    assert str(worker.failure(ValueError("bad"))) == "ValueError: bad"
    own = UserError("error.train.lr", lr=0.0)
    assert worker.failure(own) is own  # already a message for the page
    killed = worker.exit_failure(-signal.SIGKILL)
    assert killed.key == "error.worker.killed" and "SIGKILL" in str(killed) and "ran out of memory" in str(killed)
    assert "SIGKILL" in killed.message("zh") and "内存不足" in killed.message("zh")
    assert worker.exit_failure(-signal.SIGSEGV).key == "error.worker.signal"
    assert "SIGSEGV" in str(worker.exit_failure(-signal.SIGSEGV))
    assert str(worker.exit_failure(1)).startswith("The training process ended unexpectedly (exit code 1).")


@pytest.mark.slow
def test_failure_is_reported():
    def broken_loader():
        raise OSError("disk on fire")

    job = TrainingJob(TINY, TrainConfig(subset=64), broken_loader, JobLimiter(1))
    job.start()
    assert job.wait(10)
    snap = job.snapshot()
    assert snap.state == "failed" and "disk on fire" in snap.message
    # Worded for the page in either language, never a traceback.
    assert snap.error.key == "error.worker.crashed" and snap.error.message("zh") == "训练出错（OSError）：disk on fire"


@pytest.mark.slow
def test_divergence_state():
    job = make_job(JobLimiter(1), optimizer="sgd", schedule="constant", lr=1e6, subset=256)
    job.start()
    assert job.wait(30)
    assert job.snapshot().state == "diverged" and "Lower the learning rate" in job.snapshot().message
    assert job.snapshot().error.key == "error.train.diverged"


@pytest.mark.slow
def test_snapshot_is_a_copy():
    job = make_job(JobLimiter(1), subset=128)
    job.start()
    assert job.wait(30)
    snap = job.snapshot()
    assert isinstance(snap.steps, tuple)
    with pytest.raises(AttributeError):
        snap.state = "running"
    assert job.snapshot() == snap


@pytest.mark.slow
def test_limiter_validation_and_double_start():
    with pytest.raises(ValueError, match="limit=0"):
        JobLimiter(0)
    job = make_job(JobLimiter(1), subset=64)
    job.start()
    with pytest.raises(RuntimeError, match="already started"):
        job.start()
    assert job.wait(30) and job.snapshot().state == "done"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow
def test_registry_finds_runs_by_unguessable_id_and_stops_the_unwatched():
    clock = FakeClock()
    registry = InProcessRegistry(idle_seconds=60, clock=clock)
    watched, forgotten = make_job(JobLimiter(2), **LONG), make_job(JobLimiter(2), **LONG)
    watched.start()
    forgotten.start()
    first, second = registry.add(watched), registry.add(forgotten)
    assert len(first.id) >= 16 and first.id != second.id  # 12 random bytes: no one guesses another's run
    assert registry.get("not-an-id") is None
    clock.now += 45
    assert registry.get(first.id) is first  # a page looked at it: watched now
    clock.now += 30  # the second run has not been looked at for 75 s
    assert registry.reap() == [second.id]
    assert forgotten.snapshot().state == "stopped" and not forgotten.alive  # its slot is free again
    assert watched.snapshot().state in ("running", "queued") and registry.get(second.id) is second  # results stay
    watched.stop()


@pytest.mark.slow
def test_registry_keeps_only_the_newest_finished_runs():
    clock = FakeClock()
    registry = InProcessRegistry(idle_seconds=60, keep=2, clock=clock)
    runs = []
    for index in range(3):
        job = make_job(JobLimiter(1), subset=64)
        job.start()
        assert job.wait(30)
        clock.now += 1
        runs.append(registry.add(job))
    registry.reap()
    assert registry.get(runs[0].id) is None and registry.get(runs[2].id) is runs[2] and len(registry) == 2


def simulate(chooser, seconds, steps):
    """The thread count of each step, when a step with ``t`` threads at step ``s`` takes ``seconds(s, t)``."""
    used = []
    for step in range(steps):
        used.append(chooser.threads)
        chooser.observe(seconds(step, chooser.threads))
    return used


def test_a_quiet_machine_keeps_every_thread_after_one_try():
    used = simulate(worker.ThreadChooser(2), lambda step, threads: 0.010 if threads == 2 else 0.015, 469)
    # One try after the first full window: 2 settling steps, then 8 timed, on one thread; then all threads for good.
    assert used.count(1) == worker.ThreadChooser.SETTLE_STEPS + worker.ThreadChooser.TRY_STEPS
    assert used[-300:] == [2] * 300


def test_busy_cores_move_the_run_to_one_thread_and_back():
    def seconds(step, threads):
        busy = 150 <= step < 600  # another program keeps the cores busy for a while
        return (0.150 if busy else 0.010) if threads == 2 else 0.015

    used = simulate(worker.ThreadChooser(2), seconds, 1200)
    assert used[200:600].count(1) > 0.9 * 400  # soon on one thread, with a few tries of two
    assert used[-200:] == [2] * 200  # the cores came free: all threads again


def test_one_thread_allowed_means_one_thread():
    chooser = worker.ThreadChooser(1)
    assert set(simulate(chooser, lambda step, threads: 0.01, 100)) == {1}
    chooser.allow(4)  # the other run ended: this one may use every core again
    assert chooser.threads == 4


def test_the_legend_names_every_hidden_layer():
    from cnnviz.model import ConvBlock, ModelConfig

    two = config_label(ModelConfig(blocks=(ConvBlock(8),), hidden=(1024, 128)), TrainConfig(epochs=2))
    none = config_label(ModelConfig(blocks=(ConvBlock(8),), hidden=()), TrainConfig(epochs=2))
    assert " · fc 1024-128 · " in two and " · fc none · " in none


def test_step_records_reach_the_server_in_batches_and_others_at_once(monkeypatch):
    # One message a step woke the server ~100 times a second; a batch waits up to SEND_EVERY_SECONDS. Any other
    # record (an evaluation, the end) goes at once, after the steps before it, so the order never changes.
    sent, now = [], [0.0]
    monkeypatch.setattr(worker.time, "monotonic", lambda: now[0])
    records = worker._Records(types.SimpleNamespace(send=sent.append))
    step = lambda n: Metrics("step", n, 10, n / 10)  # noqa: E731
    evaluation = Metrics("eval", 4, 10, 0.4, test_accuracy=0.5)
    for n, at in ((1, 0.1), (2, 0.2)):  # within the batch
        now[0] = at
        records.add(step(n))
    assert sent == []
    now[0] = 0.3  # 0.3 s since the last send
    records.add(step(3))
    assert sent == [("records", [step(1), step(2), step(3)])]
    now[0] = 0.35
    records.add(step(4))
    records.add(evaluation)  # at once, with the step before it
    assert sent[1:] == [("records", [step(4), evaluation])]
    records.flush()  # nothing pending, nothing sent
    assert len(sent) == 2


def spare_pid() -> int:
    wait_until(lambda: spare_module._SPARES.spare and spare_module._SPARES.spare.process.is_alive())
    return spare_module._SPARES.spare.process.pid


@pytest.mark.slow
def test_a_spare_worker_trains_the_next_run():
    """A worker started ahead (torch imported) trains the next run: Start skips a new interpreter's ~2 s."""
    prepare_worker()
    pid = spare_pid()
    job = make_job(JobLimiter(1), subset=256)
    job.start()
    assert job.wait(60) and job.snapshot().state == "done", job.snapshot().message
    assert job.worker_pid == pid and spare_module._SPARES.spare is None
    assert job.model is not None and len(job.snapshot().steps) == 8  # its records and weights came back as usual


@pytest.mark.slow
def test_no_spare_starts_beside_a_training_run():
    job = make_job(JobLimiter(1), **LONG)
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 1)
    prepare_worker()  # importing torch beside the run would slow it down
    assert spare_module._SPARES.spare is None
    job.stop()
    wait_until(lambda: spare_module._SPARES.live_jobs == 0)
    prepare_worker()
    assert spare_pid() != job.worker_pid


@pytest.mark.slow
def test_a_run_stopped_before_it_trains_lets_its_spare_go():
    """Stop while the run still loads its data: the spare it took exits instead of waiting forever."""
    import threading

    prepare_worker()
    spare_pid()
    spare = spare_module._SPARES.spare.process
    loading = threading.Event()

    def slow_loader():
        loading.wait(30)
        return load_mnist()

    job = TrainingJob(TINY, TrainConfig(subset=64), slow_loader, JobLimiter(1))
    job.start()
    assert job._spare is not None and job._spare.process is spare
    job.stop(timeout=0.1)
    loading.set()
    assert job.wait(30) and job.snapshot().state == "stopped"
    spare.join(10)
    assert not spare.is_alive()  # it read the end of its inbox and exited
    assert spare_module._SPARES.live_jobs == 0


@pytest.mark.slow
def test_a_dead_spare_is_passed_over():
    prepare_worker()
    pid = spare_pid()
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not spare_module._SPARES.spare.process.is_alive())
    job = make_job(JobLimiter(1), subset=64)
    job.start()
    assert job.wait(60) and job.snapshot().state == "done", job.snapshot().message
    assert job.worker_pid != pid


# --- one result per run, computed by the run; memory caps; a bounded registry ----------------------------------------

# Evaluating all 10,000 test digits takes this net many seconds, while a step on 8 images takes a fraction of one: a
# run of two steps spends nearly all its life in its final evaluation (conv2 is 128 x 128 x 3 x 3 on 28 x 28).
SLOW_TO_EVALUATE = ModelConfig(blocks=(ConvBlock(128, pool="none"), ConvBlock(128, pool="none")), hidden=())


@pytest.mark.slow
def test_a_run_ends_with_one_result_that_its_checkpoint_repeats(mnist):
    job = make_job(JobLimiter(1), subset=256)
    job.start()
    assert job.wait(120)
    snap = job.snapshot()
    assert snap.state == "done" and snap.final is not None
    done = snap.evals[-1]
    assert done.kind == "done" and done.evaluation is None  # the result is kept once, not in the records
    # The figure that closes the run is the run's one result...
    assert (done.test_accuracy, done.test_loss) == (snap.final.accuracy, snap.final.loss)
    assert snap.final.predictions.shape == (10_000,) and snap.final.probabilities.shape == (10_000, 10)
    # ... and the downloaded checkpoint, loaded the ordinary way, classifies every digit as the run said.
    model, _, info = load_checkpoint(save_checkpoint(job.model, job.model_cfg, job.train_cfg))
    again = evaluate(model, mnist.test_images, mnist.test_labels)
    assert (again.predictions == snap.final.predictions).all() and again.accuracy == snap.final.accuracy


@pytest.mark.slow
def test_finish_ends_training_and_the_run_evaluates_its_last_weights(mnist):
    job = make_job(JobLimiter(1), **LONG)
    job.start()
    wait_until(lambda: len(job.snapshot().steps) >= 3)
    job.finish()
    assert job.wait(120)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.steps[-1].step < snap.steps[-1].total_steps
    model, _, _ = load_checkpoint(save_checkpoint(job.model, job.model_cfg, job.train_cfg))
    assert (evaluate(model, mnist.test_images, mnist.test_labels).predictions == snap.final.predictions).all()


@pytest.mark.slow
def test_stop_while_the_worker_evaluates_ends_it():
    cfg = TrainConfig(subset=16, batch_size=8, epochs=1, eval_every=0)
    job = TrainingJob(SLOW_TO_EVALUATE, cfg, load_mnist, JobLimiter(1))
    job.start()
    wait_until(lambda: job.snapshot().state == "evaluating", timeout=120)  # its two steps ran
    assert job.finishing
    job.stop()
    wait_until(lambda: not job.alive)
    snap = job.snapshot()
    assert snap.state == "stopped" and snap.final is None and not job.alive
    assert job._process.exitcode == -signal.SIGTERM  # ended, not left to finish its evaluation
    assert len(job.state_dict()) == len(job.model.state_dict())  # it keeps the weights it sent before evaluating


@pytest.mark.slow
def test_a_worker_over_its_memory_cap_fails_with_a_clear_message(monkeypatch):
    # A normal CPU worker peaks at 1.1-1.4 GB of address space; this first step needs about 1 GB more, yet stays
    # under the activation cap (model.LIMITS), so it is the worker's address-space cap that stops it.
    monkeypatch.setenv(worker.MEMORY_ENV, "1400")
    cfg = TrainConfig(subset=768, batch_size=768, epochs=1, eval_every=0, device="cpu")
    wide = ModelConfig(blocks=(ConvBlock(64, pool="none"), ConvBlock(64, pool="none")), hidden=())
    job = TrainingJob(wide, cfg, load_mnist, JobLimiter(1))
    job.start()
    assert job.wait(120)
    snap = job.snapshot()
    assert snap.state == "failed" and snap.error.key == "error.worker.memory_cap"
    assert "1,400 MB" in snap.error.message("en") and "1,400 MB" in snap.error.message("zh")


def test_memory_limit_setting():
    assert worker.memory_limit_mb(2) == worker.MEMORY_BASE_MB + 2 * worker.MEMORY_PER_CORE_MB
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(worker.MEMORY_ENV, "0")
        assert worker.memory_limit_mb(2) == 0  # no cap
        patch.setenv(worker.MEMORY_ENV, "lots")
        with pytest.raises(ValueError, match="'lots'"):
            worker.memory_limit_mb(2)


@pytest.mark.slow
def test_the_registry_drops_old_weights_beyond_its_byte_budget():
    finished = []
    for seed in range(3):
        job = make_job(JobLimiter(1), subset=64, seed=seed)
        job.start()
        assert job.wait(60)
        finished.append(job)
    size = finished[0].weights_nbytes
    now = [0.0]
    registry = InProcessRegistry(idle_seconds=3600, keep=32, clock=lambda: now[0], keep_bytes=int(1.5 * size))
    runs = []
    for job in finished:
        now[0] += 1
        runs.append(registry.add(job))
    assert [run.job.weights_expired for run in runs] == [True, True, False]  # the newest fits the budget
    oldest = runs[0].job
    assert oldest.model is None and oldest.state_dict() == {} and oldest.snapshot().weights_expired
    assert oldest.snapshot().final is not None  # its results stay
    assert runs[2].job.model is not None
    # One run bigger than the whole budget keeps its weights while it is the newest.
    tiny_budget = InProcessRegistry(idle_seconds=3600, clock=lambda: now[0], keep_bytes=1)
    assert tiny_budget.add(finished[2]).job.model is not None


@pytest.mark.slow
def test_one_queued_or_running_run_per_owner():
    registry = InProcessRegistry(idle_seconds=3600)
    running = make_job(JobLimiter(1), **LONG)
    running.start()
    try:
        run = registry.add(running, owner="browser-a")
        assert registry.active_for("browser-a") is run
        assert registry.active_for("browser-b") is None and registry.active_for("") is None
        running.stop()
        assert registry.active_for("browser-a") is None
    finally:
        running.stop()


@pytest.mark.slow  # starts worker processes
def test_the_registry_is_an_interface_whose_start_keeps_one_active_run_per_owner():
    # What pages ask of a registry; a registry shared across servers implements the same methods.
    assert RunRegistry.__abstractmethods__ == {"start", "active_for", "get", "watch", "reap"}
    registry, limiter = InProcessRegistry(idle_seconds=3600), JobLimiter(1)
    cfg = TrainConfig(batch_size=32, eval_every=0, **LONG)
    first = registry.start(TINY, cfg, limiter=limiter, data_loader=load_mnist, label="first", owner="browser-a")
    second = None
    try:
        with pytest.raises(UserError, match="already has a run queued or training"):
            registry.start(TINY, cfg, limiter=limiter, data_loader=load_mnist, label="again", owner="browser-a")
        wait_until(lambda: len(first.job.snapshot().steps) >= 1, timeout=120)
        second = registry.start(TINY, cfg, limiter=limiter, data_loader=load_mnist, label="second", owner="browser-a",
                                replacing=first)
        assert first.job.finished and registry.active_for("browser-a") is second
        (kept,) = second.previous  # the replaced run's curves, for comparison; its results stay on its own page
        assert kept.label == "first" and kept.steps and kept.final is None
    finally:
        first.job.stop()
        if second is not None:
            second.job.stop()
