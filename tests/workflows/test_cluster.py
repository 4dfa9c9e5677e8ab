"""Where chunks run: an existing dask scheduler, and batch jobs rendered for HTCondor/Slurm."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.cluster_settings import ClusterSettings
from common.exceptions import ConfigError
from tests.helpers import tt_file_inputs
from workflows.cluster import ClusterSpec, batch_cluster, jobqueue_arguments
from workflows.pipeline import run_processor

SITE = {
    "cores": 4, "processes": 2, "memory": "8GB", "disk": "10GB", "queue": "short",
    "account": "cms-top", "walltime": "1-02:30:00", "gpus": 1,
    "job_directives": ['+JobFlavour = "longlunch"'],
    "setup": ["source /opt/analysis/env.sh"],
}


def test_yaml_cluster_section_renders_an_htcondor_job_without_submitting() -> None:
    settings = ClusterSettings.model_validate(SITE)
    with batch_cluster("condor", settings, workers=2, dashboard=False,
                       host="127.0.0.1") as cluster:
        script = cluster.job_script()
    assert "MY.DaskWorkerCores = 4" in script
    assert "MY.DaskWorkerMemory = 8000000000" in script
    assert "MY.DaskWorkerDisk = 10000000000" in script
    assert '+JobFlavour = "longlunch"' in script
    assert f"+MaxRuntime = {(26 * 60 + 30) * 60}" in script
    assert "request_gpus = 1" in script
    assert "source /opt/analysis/env.sh;" in script
    assert "--resources GPU=1" in script and "--nworkers 2" in script


def test_yaml_cluster_section_renders_a_slurm_job_without_submitting() -> None:
    settings = ClusterSettings.model_validate({**SITE, "job_directives": ["--constraint=avx2"]})
    with batch_cluster("slurm", settings, workers=2, dashboard=False,
                       host="127.0.0.1") as cluster:
        script = cluster.job_script()
    lines = script.splitlines()
    for expected in ("#SBATCH -p short", "#SBATCH -A cms-top", "#SBATCH --cpus-per-task=4",
                     "#SBATCH -t 1-02:30:00", "#SBATCH --constraint=avx2",
                     "#SBATCH --gres=gpu:1", "source /opt/analysis/env.sh"):
        assert expected in lines, (expected, script)
    assert "--resources GPU=1" in script


def test_cluster_section_errors_name_the_field() -> None:
    import yaml

    from analysis.config import default_config_path, load_config, parse_config

    data = yaml.safe_load(default_config_path().read_text())
    data["cluster"] = {"memory": "4 gigs"}
    with pytest.raises(ConfigError, match=r"cluster\.memory.*4 gigs"):
        parse_config(data)
    data["cluster"] = {"walltme": "01:00:00"}
    with pytest.raises(ConfigError, match="Did you mean 'walltime'"):
        parse_config(data)
    assert load_config().cluster is None  # the embedded default needs no batch system
    with pytest.raises(ConfigError, match="key = value"):
        jobqueue_arguments("condor", ClusterSettings(job_directives=["+JobFlavour"]))


@pytest.fixture
def external_scheduler(tmp_path):
    """A real ``dask scheduler`` and two ``dask worker`` processes on loopback."""
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.is_file(), "the dask scheduler did not start within 60 s"
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                 str(scheduler_file), "--nthreads", "1", "--no-dashboard"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        import json

        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


# coffea's notes on the real files' own schema quirks (see tests/processors/test_real_files.py)
@pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")
def test_existing_scheduler_gives_the_histograms_of_the_iterative_run(
        nanoaod_dir, external_scheduler) -> None:
    config, fileset, infos = tt_file_inputs(nanoaod_dir)
    local = run_processor(config, fileset, infos, ClusterSpec("iterative", status=False), 50)
    remote = run_processor(config, fileset, infos,
                           ClusterSpec("dask", scheduler=external_scheduler, status=False), 50)
    assert remote.events == local.events > 0
    for name, h in local.output["hists"].items():
        other = remote.output["hists"][name]
        np.testing.assert_allclose(h.values(flow=True), other.values(flow=True), rtol=1e-12,
                                   atol=0)
    assert local.output["cutflow"].keys() == remote.output["cutflow"].keys()
