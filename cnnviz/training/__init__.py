"""Training end to end, with no Streamlit: configs and recipes, the loop, checkpoints, the job that runs a loop in a
worker process, the run registry, the limiter and the spare pool, the run status pages read, and the CLI.

    config       TrainConfig, validate_run, the presets' recipes, device choices
    loop         iter_training (yields Metrics), evaluate, final_evaluation, settled_eta
    cuda_graphs  a training step replayed as CUDA graphs
    checkpoints  save_checkpoint / load_checkpoint (capped, weights only)
    worker       the worker process's side: one run of the loop, reported over a pipe
    spare        the spare worker started ahead of a run, and the multiprocessing patch it needs
    limiter      JobLimiter and the core budget of concurrent runs
    job          TrainingJob (one run in a worker process) and JobSnapshot (what a page reads)
    registry     Run, the RunRegistry interface, InProcessRegistry (with its reaper), registry_from_env
    shared       shared mode: RedisRegistry and RemoteJob, every run in Redis so that any replica serves it
    queue        shared mode's worker side: the RQ job that trains a run, python -m cnnviz.training.worker
    wire         a run's records, errors and evaluation as JSON and weights-only bytes, for the shared store
    status       what a run looks like to a reader: its label, progress, live chart data and filters
    cli          python -m cnnviz.train
"""
